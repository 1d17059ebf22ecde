"""Bodies sent with HTTP/1.1 `Transfer-Encoding: chunked` and no Content-Length (`curl -T -`,
SDKs streaming from a pipe): spooled until their size is known, then stored like any other
body, with every digest the client sent checked and nothing left in the spool folder."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code
from support.processes import Cluster
from support.signing import connection_for, sign

BLOCK = 256 * 1024


def _blocks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), BLOCK):
        yield data[start : start + BLOCK]


def put_chunked(
    cluster: Cluster,
    target: str,
    data: bytes | Iterable[bytes],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """PUT `data` (bytes, or blocks of them) chunk-encoded by http.client, no Content-Length;
    (status, headers, body)."""
    all_headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", **(headers or {})}
    signed = sign(cluster, "PUT", target, all_headers, b"")
    signed.pop("Content-Length", None)
    signed["Transfer-Encoding"] = "chunked"
    connection = connection_for(cluster)
    try:
        blocks = _blocks(data) if isinstance(data, bytes) else data
        connection.request("PUT", target, body=blocks, headers=signed, encode_chunked=True)
        answer = connection.getresponse()
        return answer.status, dict(answer.headers), answer.read()
    finally:
        connection.close()


def spool_entries(cluster: Cluster) -> list[str]:
    folder = cluster.data_dir / "spool"
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_boto3_put_with_transfer_encoding_chunked(s3: BaseClient, bucket: str) -> None:
    """What ceph/s3-tests' test_object_write_with_chunked_transfer_encoding sends."""

    def chunked(request: Any, **kwargs: Any) -> None:
        request.headers.add_header("Transfer-Encoding", "chunked")

    s3.meta.events.register_first("before-sign.s3.PutObject", chunked)
    try:
        answer = s3.put_object(Bucket=bucket, Key="foo", Body=b"bar")
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", chunked)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ETag"] == f'"{hashlib.md5(b"bar").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="foo")["Body"].read() == b"bar"


def test_large_chunked_body_is_stored_whole(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    data = os.urandom(24 * 1024 * 1024 + 5)
    md5 = hashlib.md5(data)
    status, headers, body = put_chunked(
        cluster,
        f"/{bucket}/big",
        data,
        {"Content-MD5": base64.b64encode(md5.digest()).decode()},
    )
    assert status == 200, body
    assert headers["ETag"] == f'"{md5.hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    assert spool_entries(cluster) == []


def test_chunked_body_with_wrong_md5_stores_nothing(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="kept", Body=b"old")
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    status, _, body = put_chunked(cluster, f"/{bucket}/kept", b"new" * 1000, {"Content-MD5": wrong})
    assert status == 400 and b"<Code>BadDigest</Code>" in body, body
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"old"
    assert spool_entries(cluster) == []


def test_chunked_body_with_wrong_signed_payload_hash(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    claimed = hashlib.sha256(b"not the body").hexdigest()
    status, _, body = put_chunked(
        cluster, f"/{bucket}/hashed", b"the body", {"X-Amz-Content-SHA256": claimed}
    )
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body, body
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=bucket, Key="hashed")
    assert error_code(raised.value) == "404"


def test_chunked_upload_part(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    first = os.urandom(5 * 1024 * 1024)
    last = os.urandom(1000)
    etags = []
    for number, data in ((1, first), (2, last)):
        status, headers, body = put_chunked(
            cluster, f"/{bucket}/mp?partNumber={number}&uploadId={upload}", data
        )
        assert status == 200, body
        assert headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        etags.append(headers["ETag"])
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == first + last
