"""Server-side encryption keys: which key opens a version, and what a version stores about it.

Two kinds, as S3 has them:
- SSE-C: the client sends its 256-bit key with every request; the key is the object key (each
  segment derives its own from it, `encryption.py`). Stored: the algorithm and the key's MD5,
  the headers S3 answers on GET and HEAD, which is also how a request's key is checked (an
  MD5 of a random 256-bit key tells nothing of the key). The key itself is never stored.
- SSE-S3: a random object key per version (per upload for multipart), wrapped with AES-GCM
  under the master key, which lives in a file outside the catalog (`MasterKey`); stored: the
  `x-amz-server-side-encryption: AES256` header and the wrapped key under an internal header
  that is never answered.
- SSE-KMS: the same envelope, the object key wrapped under a named key of the keyring
  (`kms.py`); stored: `aws:kms`, the key's ARN, bucket keys if asked (all answered), the
  wrapped key and the encryption context (internal headers).

Everything here computes; only `MasterKey.load` touches a file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chunkd.dirsync import fsync_dir
from s3compat.store import errors
from s3compat.store.encryption import KEY_BYTES
from s3compat.store.kms import Keyring, KmsChoice

SSE_HEADER = "x-amz-server-side-encryption"
CUSTOMER_ALGORITHM_HEADER = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_KEY_MD5_HEADER = "x-amz-server-side-encryption-customer-key-MD5"
KMS_KEY_ID_HEADER = "x-amz-server-side-encryption-aws-kms-key-id"
KMS_CONTEXT_HEADER = "x-amz-server-side-encryption-context"
BUCKET_KEY_HEADER = "x-amz-server-side-encryption-bucket-key-enabled"
# Internal: the object key wrapped under the master key (SSE-S3) or a KMS key; the SSE-KMS
# encryption context (S3 answers it on writes only, never on GET or HEAD). Never answered.
WRAPPED_KEY_HEADER = "x-s3compat-sse-wrapped-key"
STORED_CONTEXT_HEADER = "x-s3compat-kms-context"
INTERNAL_HEADERS = (WRAPPED_KEY_HEADER, STORED_CONTEXT_HEADER)
ENCRYPTION_HEADERS = (
    SSE_HEADER,
    CUSTOMER_ALGORITHM_HEADER,
    CUSTOMER_KEY_MD5_HEADER.lower(),
    KMS_KEY_ID_HEADER,
    BUCKET_KEY_HEADER,
    WRAPPED_KEY_HEADER,
    STORED_CONTEXT_HEADER,
)
AES256 = "AES256"
AWS_KMS = "aws:kms"
_NONCE_BYTES = 12
_WRAP_LABEL = b"s3compat sse-s3 object key v1"
_ETAG_LABEL = b"s3compat sse-c etag v1"


@dataclass(frozen=True)
class CustomerKey:
    """An SSE-C key as a request carried it (already checked against its MD5)."""

    key: bytes
    md5: str


@dataclass(frozen=True)
class Sealing:
    """What a write or read of an encrypted version needs: its object key, and (SSE-C) the
    key that makes its ETag, which S3 does not make the MD5 of the plaintext."""

    key: bytes
    etag_key: bytes | None = None

    def etag_hex(self, md5_digest: bytes) -> str:
        """The ETag of a segment whose plaintext has this MD5."""
        if self.etag_key is None:
            return md5_digest.hex()
        return hmac.new(self.etag_key, _ETAG_LABEL + md5_digest, hashlib.md5).hexdigest()


def _create_key_file(path: Path) -> None:
    """Make `path` hold a new random key, unless another gateway made it first. The key is
    written whole under another name, then linked into place (which never replaces a file), so
    that a gateway starting beside this one never reads it half written, and both end up with
    the key that won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(KEY_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        fsync_dir(path.parent)
    finally:
        draft.unlink(missing_ok=True)


class MasterKey:
    """The key that wraps SSE-S3 object keys; every gateway of a cluster must hold the same."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a master key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """The key in `path` (64 hex digits), created with mode 0600 if there is none."""
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            _create_key_file(path)
            text = path.read_text().strip()
        try:
            return cls(bytes.fromhex(text))
        except ValueError as error:
            raise ValueError(f"{path} does not hold a master key (64 hex digits)") from error

    def wrap(self, object_key: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, object_key, _WRAP_LABEL)).decode()

    def unwrap(self, wrapped: str) -> bytes:
        try:
            raw = base64.b64decode(wrapped, validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _WRAP_LABEL)
        except (ValueError, InvalidTag) as error:
            raise errors.MasterKeyMismatch(
                "an SSE-S3 object key does not open with this gateway's master key"
            ) from error


def customer_key_check(key: CustomerKey) -> dict[str, str]:
    return {CUSTOMER_ALGORITHM_HEADER: AES256, CUSTOMER_KEY_MD5_HEADER: key.md5}


def seal_new(
    customer: CustomerKey | None,
    sse_s3: bool,
    master: MasterKey | None,
    kms: KmsChoice | None = None,
    keyring: Keyring | None = None,
) -> tuple[dict[str, str], Sealing | None]:
    """A new version's (or upload's) encryption: the headers it stores, and its sealing."""
    if customer is not None:
        return customer_key_check(customer), Sealing(customer.key, etag_key=customer.key)
    if kms is not None:
        return _seal_kms(kms, keyring)
    if not sse_s3:
        return {}, None
    if master is None:
        raise errors.NoMasterKey("this gateway has no master key for SSE-S3")
    object_key = secrets.token_bytes(KEY_BYTES)
    return {SSE_HEADER: AES256, WRAPPED_KEY_HEADER: master.wrap(object_key)}, Sealing(object_key)


def _seal_kms(kms: KmsChoice, keyring: Keyring | None) -> tuple[dict[str, str], Sealing]:
    if keyring is None:
        raise errors.NoKeyring("this gateway has no KMS keyring for SSE-KMS")
    object_key = secrets.token_bytes(KEY_BYTES)
    headers = {
        SSE_HEADER: AWS_KMS,
        KMS_KEY_ID_HEADER: keyring.arn(kms.key_name),
        WRAPPED_KEY_HEADER: keyring.wrap(kms.key_name, object_key, kms.context),
    }
    if kms.context is not None:
        headers[STORED_CONTEXT_HEADER] = kms.context
    if kms.bucket_key:
        headers[BUCKET_KEY_HEADER] = "true"
    return headers, Sealing(object_key)


def _stored(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)


def is_customer_encrypted(headers: Mapping[str, str]) -> bool:
    return _stored(headers, CUSTOMER_KEY_MD5_HEADER) is not None


def sealing_for_read(
    headers: Mapping[str, str],
    customer: CustomerKey | None,
    master: MasterKey | None,
    keyring: Keyring | None = None,
) -> Sealing | None:
    """The sealing that opens a version with these stored headers, given the request's
    SSE-C key; the store error S3 answers when the request cannot open it."""
    stored_md5 = _stored(headers, CUSTOMER_KEY_MD5_HEADER)
    if stored_md5 is not None:
        if customer is None:
            raise errors.EncryptedObjectNeedsKey(
                "The object was stored using a form of Server Side Encryption. The correct "
                "parameters must be provided to retrieve the object."
            )
        if not hmac.compare_digest(stored_md5.encode(), customer.md5.encode()):
            raise errors.CustomerKeyMismatch(
                "Requests specifying Server Side Encryption with Customer provided keys must "
                "provide the correct secret key."
            )
        return Sealing(customer.key, etag_key=customer.key)
    if customer is not None:
        raise errors.EncryptionNotApplicable(
            "The encryption parameters are not applicable to this object."
        )
    wrapped = _stored(headers, WRAPPED_KEY_HEADER)
    if wrapped is None:
        return None
    if _stored(headers, SSE_HEADER) == AWS_KMS:
        if keyring is None:
            raise errors.NoKeyring("this gateway has no KMS keyring for SSE-KMS")
        name = (_stored(headers, KMS_KEY_ID_HEADER) or "").rpartition("key/")[2]
        context = _stored(headers, STORED_CONTEXT_HEADER)
        return Sealing(keyring.unwrap(name, wrapped, context))
    if master is None:
        raise errors.NoMasterKey("this gateway has no master key for SSE-S3")
    return Sealing(master.unwrap(wrapped))


def sealing_for_part(
    headers: Mapping[str, str],
    customer: CustomerKey | None,
    master: MasterKey | None,
    keyring: Keyring | None = None,
) -> Sealing | None:
    """UploadPart: the upload's sealing; the part must carry the key the upload began with."""
    stored_md5 = _stored(headers, CUSTOMER_KEY_MD5_HEADER)
    if (stored_md5 is None) != (customer is None):
        raise errors.UploadEncryptionMismatch(
            "The multipart upload initiate requested encryption. Subsequent part requests "
            "must include the appropriate encryption parameters."
        )
    if stored_md5 is not None and customer is not None:
        if not hmac.compare_digest(stored_md5.encode(), customer.md5.encode()):
            raise errors.UploadEncryptionMismatch(
                "The provided encryption parameters did not match the ones used originally."
            )
    return sealing_for_read(headers, customer, master, keyring)


def without_encryption(headers: Mapping[str, str]) -> dict[str, str]:
    """Stored headers less the encryption ones (a copy is encrypted as its request says)."""
    names = {name.lower() for name in ENCRYPTION_HEADERS}
    return {k: v for k, v in headers.items() if k.lower() not in names}


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Stored headers as they may be answered (without the internal ones)."""
    return {k: v for k, v in headers.items() if k not in INTERNAL_HEADERS}
