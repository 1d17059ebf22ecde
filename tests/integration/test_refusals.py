"""What the store refuses rather than pretends: customer-key encryption; and small S3 details."""

from __future__ import annotations

import base64
import hashlib

from botocore.client import BaseClient
from conftest import Cluster, raw_request


def test_sse_c_is_refused_not_silently_ignored(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    key = b"k" * 32
    headers = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
            hashlib.md5(key).digest()
        ).decode(),
    }
    answer = raw_request(cluster, "PUT", f"/{bucket}/secret", headers, b"plain text")
    assert answer.status == 501 and b"<Code>NotImplemented</Code>" in answer.body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_empty_delimiter_is_not_echoed(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    for answer in (
        s3.list_objects(Bucket=bucket, Delimiter=""),
        s3.list_objects_v2(Bucket=bucket, Delimiter=""),
    ):
        assert "Delimiter" not in answer
        assert [item["Key"] for item in answer["Contents"]] == ["a/b"]
