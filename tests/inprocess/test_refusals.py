"""What the store refuses rather than pretends: KMS encryption, object lock; and small S3
details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status
from support.processes import Cluster
from support.signing import raw_request


def test_unknown_kms_keys_and_dsse_are_refused_not_silently_ignored(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    """SSE-C, SSE-S3 and SSE-KMS with the keyring's keys are done
    (tests/integration/test_encryption*.py); a KMS key the keyring does not hold, and DSSE-KMS,
    are refused: storing the bytes without them would mislead."""
    for headers in (
        {"x-amz-server-side-encryption": "aws:kms:dsse"},
        {"x-amz-server-side-encryption": "aws:kms",
         "x-amz-server-side-encryption-aws-kms-key-id": "no-such-key"},
    ):  # fmt: skip
        answer = raw_request(cluster, "PUT", f"/{bucket}/secret", headers, b"plain text")
        assert 400 <= answer.status <= 501 and answer.status not in (200, 500), answer.body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_empty_delimiter_is_not_echoed(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    for answer in (
        s3.list_objects(Bucket=bucket, Delimiter=""),
        s3.list_objects_v2(Bucket=bucket, Delimiter=""),
    ):
        assert "Delimiter" not in answer
        assert [item["Key"] for item in answer["Contents"]] == ["a/b"]


def assert_writes_refused(
    s3: BaseClient, bucket: str, asked: dict[str, Any], code: str, says: str = ""
) -> None:
    """PutObject, CopyObject (of "source") and CreateMultipartUpload of "k" with the `asked`
    arguments are each refused 400 `code` (whose message holds `says`); nothing is stored."""
    s3.put_object(Bucket=bucket, Key="source", Body=b"x")
    source = {"Bucket": bucket, "Key": "source"}
    attempts = {
        "put": lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"data", **asked),
        "copy": lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource=source, **asked),
        "multipart": lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", **asked),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        assert (http_status(refused.value), error_code(refused.value)) == (400, code), name
        assert says in str(refused.value), name
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["source"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize(
    "lock",
    [
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": "tomorrow"},
        {"ObjectLockLegalHoldStatus": "ON"},
    ],
)
def test_object_lock_headers_on_writes_are_refused_not_ignored(
    s3: BaseClient, bucket: str, lock: dict[str, Any]
) -> None:
    """A bucket without an Object Lock configuration: AWS's answer to such writes (the bucket
    of tests/integration/test_object_lock.py takes them)."""
    if "ObjectLockRetainUntilDate" in lock:
        lock = {**lock, "ObjectLockRetainUntilDate": datetime.now(UTC) + timedelta(days=1)}
    assert_writes_refused(s3, bucket, lock, "InvalidRequest", says="Object Lock")


@pytest.mark.parametrize("storage_class", ["GLACIER", "STANDARD_IA", "NO-SUCH-CLASS"])
def test_only_the_standard_storage_class_is_accepted(
    s3: BaseClient, bucket: str, storage_class: str
) -> None:
    """One storage class is kept here: a write asking for another is refused, not stored as
    STANDARD behind the client's back; a made-up one too (AWS: InvalidStorageClass)."""
    s3.put_object(Bucket=bucket, Key="standard", Body=b"x", StorageClass="STANDARD")
    s3.delete_object(Bucket=bucket, Key="standard")
    assert_writes_refused(s3, bucket, {"StorageClass": storage_class}, "InvalidStorageClass")
