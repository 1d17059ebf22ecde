"""SSE-KMS without AWS KMS: a keyring of named 256-bit keys, as MinIO's static KMS key.

The keyring is a file of `NAME:HEX` lines (64 hex digits, `#` comments), mode 0600, kept next
to the SSE-S3 master key and like it outside the catalog. Keys are random, not derived from
the master key: a key can be retired (its objects are then refused, as with a disabled KMS
key) or imported (a MinIO static key) on its own, and the master key alone does not open
SSE-KMS objects. `--kms-key NAME` makes sure NAME is in the file (a new random key is appended
under a lock when it is not).

A version encrypted with SSE-KMS has a random data key (its "object key") wrapped with
AES-256-GCM under the named key; the associated data binds the wrap to the key's name and to
the request's encryption context, so a stored context or key id that was altered does not
open. Key ids are accepted as AWS spells them: `NAME`, `alias/NAME`, and the ARNs
`arn:aws:kms:REGION:ACCOUNT:key/NAME` and `...:alias/NAME` of this store's region and
account; they are answered as the key ARN, as S3 answers them.

Everything here computes; only `Keyring.load` touches a file.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s3compat.store import errors
from s3compat.store.encryption import KEY_BYTES

# The account of the ARNs answered (as LocalStack's default account: there are no accounts).
KMS_ACCOUNT_ID = "000000000000"
KEY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NONCE_BYTES = 12
_WRAP_LABEL = b"s3compat sse-kms data key v1\0"


@dataclass(frozen=True)
class KmsChoice:
    """An SSE-KMS write: the keyring key's name, the encryption context (base64 of JSON, as
    sent; None: none), and whether bucket keys were asked for (kept and answered only)."""

    key_name: str
    context: str | None = None
    bucket_key: bool = False


def parse_keyring(text: str, origin: str = "keyring") -> dict[str, bytes]:
    """Keys by name from a keyring file's text; ValueError (never showing a key) for a bad
    line or a name given twice."""
    keys: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, hex_key = line.partition(":")
        name = name.strip()
        if not colon or not KEY_NAME.fullmatch(name):
            raise ValueError(f"{origin} line {number}: not NAME:HEX (NAME of A-Z a-z 0-9 _ -)")
        try:
            key = bytes.fromhex(hex_key.strip())
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise ValueError(f"{origin} line {number}: the key of {name} is not 64 hex digits")
        if name in keys:
            raise ValueError(f"{origin} line {number}: {name} is given twice")
        keys[name] = key
    return keys


class Keyring:
    """Named KMS keys; `default` is the key of `aws:kms` without a key id."""

    def __init__(self, keys: dict[str, bytes], region: str, default: str | None = None) -> None:
        self._aeads = {name: AESGCM(key) for name, key in keys.items()}
        self.region = region
        self.default = default if default is not None else next(iter(keys), None)
        if self.default is not None and self.default not in keys:
            raise ValueError(f"the default KMS key {self.default} is not in the keyring")

    @classmethod
    def load(cls, path: Path, region: str, wanted: tuple[str, ...] = ()) -> Keyring:
        """The keyring in `path` (made with mode 0600 if missing), with a new random key
        appended for each `wanted` name it lacks; the first wanted name is the default.
        A keyring that others than its owner may read is refused."""
        for name in wanted:
            if not KEY_NAME.fullmatch(name):
                raise ValueError(f"KMS key name {name!r}: use A-Z a-z 0-9 _ - (at most 64)")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "r+") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ValueError(f"{path} may be read by others (mode {mode & 0o777:o}): chmod 600")
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)  # gateways starting together
            file.seek(0)
            keys = parse_keyring(file.read(), str(path))
            missing = [name for name in dict.fromkeys(wanted) if name not in keys]
            for name in missing:
                keys[name] = secrets.token_bytes(KEY_BYTES)
                file.write(f"{name}:{keys[name].hex()}\n")
            if missing:
                file.flush()
                os.fsync(file.fileno())
        return cls(keys, region, wanted[0] if wanted else None)

    def names(self) -> list[str]:
        return list(self._aeads)

    def arn(self, name: str) -> str:
        return f"arn:aws:kms:{self.region}:{KMS_ACCOUNT_ID}:key/{name}"

    def resolve(self, key_id: str) -> str:
        """The name of the key a request's key id means; KMS.NotFoundException's store error
        when it names no key of this keyring (a key of another region or account included)."""
        name = key_id
        if key_id.startswith("arn:"):
            parts = key_id.split(":", 5)
            if len(parts) != 6 or parts[1] != "aws" or parts[2] != "kms":
                raise errors.KmsKeyNotFound(f"Invalid keyId {key_id[:256]}")
            if parts[3] != self.region:
                raise errors.KmsKeyNotFound(f"Invalid arn {parts[3][:64]}")
            kind, _, name = parts[5].partition("/")
            if parts[4] != KMS_ACCOUNT_ID or kind not in ("key", "alias"):
                raise errors.KmsKeyNotFound(f"Key '{key_id[:256]}' does not exist")
        elif key_id.startswith("alias/"):
            name = key_id.removeprefix("alias/")
        if name not in self._aeads:
            raise errors.KmsKeyNotFound(f"Key '{self.arn(name[:256])}' does not exist")
        return name

    def wrap(self, name: str, data_key: bytes, context: str | None) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead(name).encrypt(nonce, data_key, _associated(name, context))
        return base64.b64encode(nonce + sealed).decode()

    def unwrap(self, name: str, wrapped: str, context: str | None) -> bytes:
        aead = self._aead(name)
        try:
            raw = base64.b64decode(wrapped, validate=True)
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(name, context))
        except (ValueError, InvalidTag) as error:
            raise errors.MasterKeyMismatch(
                f"an SSE-KMS data key does not open with the KMS key {name}"
            ) from error

    def _aead(self, name: str) -> AESGCM:
        aead = self._aeads.get(name)
        if aead is None:
            raise errors.KmsKeyNotFound(f"Key '{self.arn(name)}' does not exist")
        return aead


def _associated(name: str, context: str | None) -> bytes:
    return _WRAP_LABEL + name.encode() + b"\0" + (context or "").encode()
