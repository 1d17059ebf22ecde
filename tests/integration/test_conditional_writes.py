"""Conditional writes and deletes: If-Match / If-None-Match on PutObject and
CompleteMultipartUpload, If-Match (ETag, last-modified time, size) on DeleteObject and on each
key of DeleteObjects. A condition that fails changes nothing."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import client_for, error_code, http_status
from support.processes import Cluster
from support.signing import raw_request


def failure(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return http_status(caught.value), error_code(caught.value)


def body_of(s3: BaseClient, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_put_if_none_match(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")["ETag"]
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")) == (
        412,
        "PreconditionFailed",
    )
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch=etag)) == (
        412,
        "PreconditionFailed",
    )
    assert body_of(s3, bucket, "k") == b"first"
    # Another ETag than the current one: the write goes through.
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch='"0123"')
    assert body_of(s3, bucket, "k") == b"second"


def test_copy_object_conditions_are_on_the_destination(s3: BaseClient, bucket: str) -> None:
    source = {"Bucket": bucket, "Key": "source"}
    s3.put_object(Bucket=bucket, Key="source", Body=b"copied")
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"first")["ETag"]

    def copy(**condition: str) -> object:
        return s3.copy_object(Bucket=bucket, Key="k", CopySource=source, **condition)

    assert failure(lambda: copy(IfNoneMatch="*")) == (412, "PreconditionFailed")
    assert failure(lambda: copy(IfMatch='"0123"')) == (412, "PreconditionFailed")
    assert body_of(s3, bucket, "k") == b"first"
    copy(IfMatch=etag)
    assert body_of(s3, bucket, "k") == b"copied"
    s3.copy_object(Bucket=bucket, Key="new", CopySource=source, IfNoneMatch="*")
    assert body_of(s3, bucket, "new") == b"copied"


def test_put_if_match(s3: BaseClient, bucket: str) -> None:
    # No current version: If-Match of any kind is NoSuchKey, as S3 answers.
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch="*")) == (
        404,
        "NoSuchKey",
    )
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch='"abc"')) == (
        404,
        "NoSuchKey",
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch="*")["ETag"]
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch='"0000"')) == (
        412,
        "PreconditionFailed",
    )
    assert body_of(s3, bucket, "k") == b"two"
    s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=etag)
    # The ETag without quotes matches too.
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"four", IfMatch=etag.strip('"'))
    assert body_of(s3, bucket, "k") == b"four"


def test_concurrent_if_none_match_writes_have_one_winner(cluster: Cluster, bucket: str) -> None:
    """The condition holds through the commit: of racing creators, exactly one succeeds."""

    def create(index: int) -> int:
        client = client_for(cluster)
        try:
            client.put_object(
                Bucket=bucket, Key="race", Body=f"writer {index}".encode(), IfNoneMatch="*"
            )
            return 200
        except ClientError as error:
            return http_status(error)
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert sorted(outcomes) == [200] + [412] * 7, outcomes


def _complete(s3: BaseClient, bucket: str, key: str, data: bytes, **conditions: str) -> Any:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=data)[
        "ETag"
    ]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    return (
        upload_id,
        parts,
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=parts, **conditions
        ),
    )


def test_complete_multipart_upload_conditions(s3: BaseClient, bucket: str) -> None:
    _, _, complete = _complete(s3, bucket, "mp", b"first", IfNoneMatch="*")
    etag = complete()["ETag"]
    upload_id, parts, refused = _complete(s3, bucket, "mp", b"second", IfNoneMatch="*")
    assert failure(refused) == (412, "PreconditionFailed")
    assert body_of(s3, bucket, "mp") == b"first"
    # A refused Complete leaves the upload open: it can still be completed.
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload=parts, IfMatch=etag
    )
    assert body_of(s3, bucket, "mp") == b"second"
    s3.delete_object(Bucket=bucket, Key="mp")
    upload_id, _, refused = _complete(s3, bucket, "mp", b"third", IfMatch="*")
    assert failure(refused) == (404, "NoSuchKey")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)


def test_delete_if_match(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"data")["ETag"]
    assert failure(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch='"bad"')) == (
        412,
        "PreconditionFailed",
    )
    assert body_of(s3, bucket, "k") == b"data"
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # Deleting what is not there succeeds, whatever the condition says.
    assert (
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"bad"')["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"again")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_if_match_size_and_time(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    assert failure(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=4)) == (
        412,
        "PreconditionFailed",
    )
    old = datetime(2015, 1, 1, tzinfo=UTC)
    assert failure(
        lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatchLastModifiedTime=old)
    ) == (412, "PreconditionFailed")
    assert body_of(s3, bucket, "k") == b"12345"
    s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5, IfMatchLastModifiedTime=modified)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_objects_conditions_per_key(s3: BaseClient, bucket: str) -> None:
    etags = {
        key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode())["ETag"]
        for key in ("a", "b", "c", "d")
    }
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "a", "ETag": '"wrong"'},
                {"Key": "b", "ETag": etags["b"]},
                {"Key": "c", "LastModifiedTime": modified, "Size": 1},
                {"Key": "d", "Size": 99},
                {"Key": "missing", "ETag": '"wrong"'},
            ]
        },
    )
    failed = {entry["Key"]: entry["Code"] for entry in answer.get("Errors", [])}
    assert failed == {"a": "PreconditionFailed", "d": "PreconditionFailed"}
    assert {entry["Key"] for entry in answer["Deleted"]} == {"b", "c", "missing"}
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a", "d"]


def test_malformed_delete_conditions(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = raw_request(cluster, "DELETE", f"/{bucket}/k", {"x-amz-if-match-size": "many"})
    assert (answer.status, answer.error_code()) == (400, "InvalidArgument")
    answer = raw_request(
        cluster, "DELETE", f"/{bucket}/k", {"x-amz-if-match-last-modified-time": "yesterday"}
    )
    assert (answer.status, answer.error_code()) == (400, "InvalidArgument")
    assert body_of(s3, bucket, "k") == b"x"


def test_retried_conditional_complete_answers_again(s3: BaseClient, bucket: str) -> None:
    """A client that retries a Complete that succeeded (the aws CLI does, on timeouts) gets the
    same answer, not a PreconditionFailed from the object its first attempt made."""
    _, _, complete = _complete(s3, bucket, "retry", b"data", IfNoneMatch="*")
    first = complete()
    again = complete()
    assert again["ETag"] == first["ETag"]
    assert body_of(s3, bucket, "retry") == b"data"
