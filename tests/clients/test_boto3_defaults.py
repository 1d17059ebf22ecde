"""boto3 and aiobotocore exactly as people create them: `boto3.client("s3", endpoint_url=...)`
with credentials from the environment and no Config, no region, no config file. Whatever the
SDK's defaults are this year (flexible checksums, presigning version, transfer sizes, listing
encodings), the gateway must handle them."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024
TRANSFER_FILE_BYTES = 20 * MIB
TRANSFER_PART_BYTES = 8 * MIB  # boto3's default TransferConfig.multipart_chunksize
MANY_KEYS = 1_100
DELETE_BATCH = 1_000  # DeleteObjects' limit


@pytest.fixture
def default_env(cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the two credential variables: no region, profile, config file or CA bundle."""
    for name in list(os.environ):
        if name.upper().startswith(("AWS_", "BOTO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", cluster.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", cluster.secret_key)
    # Point the config files at nothing, so a developer's ~/.aws cannot change the defaults.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    # boto3.client() uses a module-level default session: start a fresh one for this test.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def plain(cluster: Any, default_env: None) -> Iterator[Any]:
    client = boto3.client("s3", endpoint_url=cluster.endpoint)
    yield client
    client.close()


def send(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One plain request as a browser or curl sends it: no Content-Type (a SigV2 query
    signature covers the Content-Type, and urllib would add a form type on its own)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, f"{parts.path}?{parts.query}", body=body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "region, signature_version, signature_marker",
    [
        # With the default configuration botocore presigns S3 URLs with SigV2 query parameters
        # (AWSAccessKeyId, Signature, Expires), with or without a region.
        pytest.param(None, None, "&Signature=", id="default"),
        pytest.param("us-east-1", None, "&Signature=", id="us-east-1"),
        pytest.param("us-east-1", "s3v4", "&X-Amz-Signature=", id="us-east-1-s3v4"),
    ],
)
def test_presigned_get_and_put(
    cluster: Any,
    default_env: None,
    bucket: str,
    region: str | None,
    signature_version: str | None,
    signature_marker: str,
) -> None:
    config = Config(signature_version=signature_version) if signature_version else None
    plain = boto3.client("s3", endpoint_url=cluster.endpoint, region_name=region, config=config)
    data = os.urandom(3000)
    plain.put_object(Bucket=bucket, Key="dir/pre signed+.bin", Body=data)
    get_url = plain.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/pre signed+.bin"}, ExpiresIn=300
    )
    assert signature_marker in get_url, get_url
    assert send("GET", get_url) == (200, data)

    upload = os.urandom(4000)
    put_url = plain.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded.bin"}, ExpiresIn=300
    )
    status, body = send("PUT", put_url, upload)
    assert status == 200, body
    assert plain.get_object(Bucket=bucket, Key="uploaded.bin")["Body"].read() == upload

    # The signature covers the key: the same query string on another key is refused.
    other = urllib.parse.urlsplit(get_url)._replace(path=f"/{bucket}/uploaded.bin").geturl()
    assert send("GET", other)[0] == 403
    plain.close()


def test_upload_file_and_download_file_use_multipart(
    plain: Any, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "twenty.bin"
    source.write_bytes(os.urandom(TRANSFER_FILE_BYTES))
    plain.upload_file(str(source), bucket, "twenty.bin")
    head = plain.head_object(Bucket=bucket, Key="twenty.bin")
    assert head["ContentLength"] == TRANSFER_FILE_BYTES
    parts = -(-TRANSFER_FILE_BYTES // TRANSFER_PART_BYTES)
    assert head["ETag"].endswith(f'-{parts}"'), head["ETag"]

    target = tmp_path / "back.bin"
    plain.download_file(bucket, "twenty.bin", str(target))
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )


def test_ranged_get_object(plain: Any, bucket: str) -> None:
    """boto3 asks for checksums by default and checks any it gets against the body it reads,
    so a 206 answer must not carry the whole object's checksum (S3 sends none)."""
    data = os.urandom(10_000)
    plain.put_object(Bucket=bucket, Key="ranged", Body=data)
    answer = plain.get_object(Bucket=bucket, Key="ranged", Range="bytes=100-199")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert answer["Body"].read() == data[100:200]


def many_keys() -> list[str]:
    """1,100 keys over two folders, some needing URL encoding, in S3 (UTF-8 byte) order."""
    keys = [f"a/{number:04d}" for number in range(1000)]
    keys += [f"b/{number:03d} é+&<x>" for number in range(MANY_KEYS - 1000)]
    return sorted(keys, key=lambda key: key.encode())


@pytest.fixture
def filled_bucket(plain: Any, bucket: str) -> str:
    keys = many_keys()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: plain.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    return bucket


def test_paginators_over_1100_keys_and_delete_objects(plain: Any, filled_bucket: str) -> None:
    bucket, expected = filled_bucket, many_keys()

    v2_pages = list(plain.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert [page["KeyCount"] for page in v2_pages] == [1000, 100]
    assert [item["Key"] for page in v2_pages for item in page["Contents"]] == expected

    v1_pages = list(plain.get_paginator("list_objects").paginate(Bucket=bucket))
    assert [len(page["Contents"]) for page in v1_pages] == [1000, 100]
    assert [item["Key"] for page in v1_pages for item in page["Contents"]] == expected

    small_pages = plain.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 300}
    )
    assert [item["Key"] for page in small_pages for item in page["Contents"]] == expected

    folders = plain.get_paginator("list_objects").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    prefixes = [p["Prefix"] for page in folders for p in page.get("CommonPrefixes", [])]
    assert prefixes == ["a/", "b/"]

    for start in range(0, len(expected), DELETE_BATCH):
        batch = expected[start : start + DELETE_BATCH]
        answer = plain.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch]}
        )
        assert "Errors" not in answer, answer.get("Errors")
        assert sorted(item["Key"] for item in answer["Deleted"]) == sorted(batch)
    assert plain.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


async def test_aiobotocore_put_get_list(cluster: Any, default_env: None, bucket: str) -> None:
    session = get_session()
    async with session.create_client("s3", endpoint_url=cluster.endpoint) as client:
        data = os.urandom(100_000)
        put = await client.put_object(Bucket=bucket, Key="async/one.bin", Body=data)
        assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        await client.put_object(Bucket=bucket, Key="async/two.txt", Body=b"two")

        answer = await client.get_object(Bucket=bucket, Key="async/one.bin")
        async with answer["Body"] as stream:
            assert await stream.read() == data

        listing = await client.list_objects_v2(Bucket=bucket, Prefix="async/")
        assert [(item["Key"], item["Size"]) for item in listing["Contents"]] == [
            ("async/one.bin", len(data)),
            ("async/two.txt", 3),
        ]
        paginator = client.get_paginator("list_objects")
        keys = [
            item["Key"]
            async for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
            for item in page.get("Contents", [])
        ]
        assert keys == ["async/one.bin", "async/two.txt"]

        await client.delete_object(Bucket=bucket, Key="async/one.bin")
        with pytest.raises(ClientError) as missing:
            await client.get_object(Bucket=bucket, Key="async/one.bin")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_delete_bucket_with_only_an_in_progress_multipart_upload(plain: Any, s3: Any) -> None:
    name = f"cl-mpu-{os.urandom(8).hex()}"
    plain.create_bucket(Bucket=name)
    upload = plain.create_multipart_upload(Bucket=name, Key="never-completed")
    try:
        plain.delete_bucket(Bucket=name)
        with pytest.raises(ClientError) as missing:
            plain.head_bucket(Bucket=name)
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        with contextlib.suppress(ClientError):
            s3.abort_multipart_upload(
                Bucket=name, Key="never-completed", UploadId=upload["UploadId"]
            )
        with contextlib.suppress(ClientError):
            s3.delete_bucket(Bucket=name)
