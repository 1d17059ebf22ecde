"""The SSE-KMS keyring: its file (made private, keys appended once, bad lines refused without
showing a key), the key id forms it accepts and the ARN it answers, and the key wrap bound to
the key's name and the encryption context."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3compat.store import errors
from s3compat.store.kms import Keyring, KmsChoice, parse_keyring
from s3compat.store.sse import (
    KMS_KEY_ID_HEADER,
    STORED_CONTEXT_HEADER,
    public_headers,
    seal_new,
    sealing_for_read,
)

HEX_A = "11" * 32
HEX_B = "22" * 32


def test_the_file_is_made_private_and_keys_are_appended_once(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kms-keyring"
    first = Keyring.load(path, "us-east-1", ("main", "other"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.names() == ["main", "other"] and first.default == "main"
    again = Keyring.load(path, "us-east-1", ("other", "third"))
    assert again.names() == ["main", "other", "third"] and again.default == "other"
    assert len(path.read_text().splitlines()) == 3
    wrapped = first.wrap("main", b"k" * 32, None)
    assert again.unwrap("main", wrapped, None) == b"k" * 32
    # Without names asked for, the default is the file's first key.
    assert Keyring.load(path, "us-east-1").default == "main"


def test_a_keyring_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kms-keyring"
    path.write_text(f"main:{HEX_A}\n")
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        Keyring.load(path, "us-east-1")
    os.chmod(path, 0o600)
    assert Keyring.load(path, "us-east-1").names() == ["main"]


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("main", "line 1: not NAME:HEX"),
        (f"# comment\n\nbad name:{HEX_A}", "line 3: not NAME:HEX"),
        (f"a/b:{HEX_A}", "not NAME:HEX"),
        ("main:abcd", "not 64 hex digits"),
        ("main:" + "zz" * 32, "not 64 hex digits"),
        (f"main:{HEX_A}\nmain:{HEX_B}", "line 2: main is given twice"),
    ],
)
def test_bad_lines_are_refused_without_showing_a_key(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        parse_keyring(text)
    assert HEX_A not in str(raised.value) and HEX_B not in str(raised.value)


def test_comments_and_blank_lines_are_skipped() -> None:
    keys = parse_keyring(f"# keys\n\n  main : {HEX_A}  \nsecond:{HEX_B}\n")
    assert keys == {"main": bytes.fromhex(HEX_A), "second": bytes.fromhex(HEX_B)}


def test_bad_names_asked_for_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KMS key name"):
        Keyring.load(tmp_path / "k", "us-east-1", ("alias/x",))


def test_key_id_forms_and_the_arn_answered() -> None:
    keyring = Keyring({"main": bytes.fromhex(HEX_A)}, "eu-west-1")
    account = "000000000000"
    for key_id in (
        "main",
        "alias/main",
        f"arn:aws:kms:eu-west-1:{account}:key/main",
        f"arn:aws:kms:eu-west-1:{account}:alias/main",
    ):
        assert keyring.resolve(key_id) == "main", key_id
    assert keyring.arn("main") == f"arn:aws:kms:eu-west-1:{account}:key/main"
    for key_id, message in (
        ("missing", "does not exist"),
        ("alias/missing", "does not exist"),
        ("arn:aws:kms:us-east-1:000000000000:key/main", "Invalid arn us-east-1"),
        ("arn:aws:kms:eu-west-1:123456789012:key/main", "does not exist"),
        ("arn:aws:s3:::bucket", "Invalid keyId"),
        ("arn:aws:kms:eu-west-1:000000000000:other/main", "does not exist"),
    ):
        with pytest.raises(errors.KmsKeyNotFound, match=message):
            keyring.resolve(key_id)


def test_the_wrap_is_bound_to_the_key_and_the_context() -> None:
    keyring = Keyring({"a": bytes.fromhex(HEX_A), "b": bytes.fromhex(HEX_B)}, "us-east-1")
    wrapped = keyring.wrap("a", b"d" * 32, "e30=")
    assert keyring.unwrap("a", wrapped, "e30=") == b"d" * 32
    for name, context in (("a", None), ("a", "e31="), ("b", "e30=")):
        with pytest.raises(errors.MasterKeyMismatch):
            keyring.unwrap(name, wrapped, context)
    with pytest.raises(errors.KmsKeyNotFound):
        keyring.unwrap("retired", wrapped, None)


def test_a_kms_version_stores_the_arn_and_opens_with_the_keyring() -> None:
    keyring = Keyring({"main": bytes.fromhex(HEX_A)}, "us-east-1")
    headers, sealing = seal_new(None, False, None, KmsChoice("main", "e30=", True), keyring)
    assert sealing is not None
    assert public_headers(headers) == {
        "x-amz-server-side-encryption": "aws:kms",
        KMS_KEY_ID_HEADER: "arn:aws:kms:us-east-1:000000000000:key/main",
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
    }
    assert HEX_A not in repr(headers) and sealing.key.hex() not in repr(headers)
    opened = sealing_for_read(headers, None, None, keyring)
    assert opened is not None and opened.key == sealing.key
    with pytest.raises(errors.MasterKeyMismatch):
        sealing_for_read({**headers, STORED_CONTEXT_HEADER: "e31="}, None, None, keyring)
    with pytest.raises(errors.NoKeyring):
        sealing_for_read(headers, None, None, None)
    with pytest.raises(errors.NoKeyring):
        seal_new(None, False, None, KmsChoice("main"), None)
