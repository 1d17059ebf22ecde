"""Bucket operations against a real cluster: lifecycle of a bucket, names, ownership, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import (
    empty_and_delete_bucket,
    error_code,
    http_status,
    unique_bucket_name,
)
from support.data import new_user
from support.processes import Cluster
from support.signing import raw_request


def test_create_head_list_delete(s3: BaseClient) -> None:
    name = unique_bucket_name()
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        listed = s3.list_buckets()
        entries = {entry["Name"]: entry for entry in listed["Buckets"]}
        assert name in entries
        assert entries[name]["CreationDate"] is not None
        assert listed["Owner"]["ID"]
        s3.delete_bucket(Bucket=name)
    finally:
        empty_and_delete_bucket(s3, name)
    assert name not in {entry["Name"] for entry in s3.list_buckets()["Buckets"]}
    with pytest.raises(ClientError) as raised:
        s3.head_bucket(Bucket=name)
    assert http_status(raised.value) == 404


def test_missing_bucket_errors(s3: BaseClient) -> None:
    name = unique_bucket_name()
    with pytest.raises(ClientError) as raised:
        s3.list_objects_v2(Bucket=name)
    assert (error_code(raised.value), http_status(raised.value)) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as raised:
        s3.delete_bucket(Bucket=name)
    assert (error_code(raised.value), http_status(raised.value)) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert (error_code(raised.value), http_status(raised.value)) == ("NoSuchBucket", 404)


def test_create_existing_own_bucket(s3: BaseClient, bucket: str) -> None:
    """In us-east-1, S3 answers 200 to re-creating your own bucket; its objects stay."""
    s3.put_object(Bucket=bucket, Key="kept", Body=b"still here")
    answer = s3.create_bucket(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "UpperCase",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        ".leading-dot",
        "double..dots",
        "192.168.5.4",  # formatted as an IP address
        "xn--reserved-prefix",
        "reserved-suffix-s3alias",
    ],
)
def test_invalid_bucket_names(s3: BaseClient, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.create_bucket(Bucket=name)
    assert (error_code(raised.value), http_status(raised.value)) == ("InvalidBucketName", 400)


def test_delete_non_empty_bucket(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="keep", Body=b"data")
    with pytest.raises(ClientError) as raised:
        s3.delete_bucket(Bucket=bucket)
    assert (error_code(raised.value), http_status(raised.value)) == ("BucketNotEmpty", 409)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"data"


def test_get_bucket_location(s3: BaseClient, bucket: str) -> None:
    # us-east-1 answers an empty LocationConstraint, which botocore turns into None.
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_get_bucket_versioning_of_new_bucket(s3: BaseClient, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in answer
    assert "MFADelete" not in answer


def test_create_bucket_with_us_east_1_location_constraint(s3: BaseClient) -> None:
    # S3's us-east-1 refuses its own name as a LocationConstraint (a bucket is made there
    # without one), and so does this store in that region; nothing is created.
    name = unique_bucket_name()
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert (http_status(caught.value), error_code(caught.value)) == (
        400,
        "InvalidLocationConstraint",
    )
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


@pytest.fixture(scope="module")
def other_user(cluster: Cluster) -> BaseClient:
    return new_user(cluster, "other").client


@pytest.fixture
def roots_bucket(s3: BaseClient) -> Iterator[str]:
    name = unique_bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret", Body=b"root's data")
    try:
        yield name
    finally:
        empty_and_delete_bucket(s3, name)


def test_other_user_is_denied(other_user: BaseClient, s3: BaseClient, roots_bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        other_user.head_bucket(Bucket=roots_bucket)
    assert http_status(raised.value) == 403
    calls = {
        "ListObjectsV2": lambda: other_user.list_objects_v2(Bucket=roots_bucket),
        "ListObjects": lambda: other_user.list_objects(Bucket=roots_bucket),
        "PutObject": lambda: other_user.put_object(Bucket=roots_bucket, Key="intruder", Body=b"x"),
        "GetObject": lambda: other_user.get_object(Bucket=roots_bucket, Key="secret"),
        "DeleteObject": lambda: other_user.delete_object(Bucket=roots_bucket, Key="secret"),
        "DeleteBucket": lambda: other_user.delete_bucket(Bucket=roots_bucket),
    }
    outcomes = {}
    for operation, call in calls.items():
        try:
            call()
            outcomes[operation] = "succeeded"
        except ClientError as error:
            outcomes[operation] = f"{http_status(error)} {error_code(error)}"
    assert outcomes == {operation: "403 AccessDenied" for operation in calls}
    # Nothing changed for the owner.
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=roots_bucket)["Contents"]]
    assert keys == ["secret"]
    assert s3.get_object(Bucket=roots_bucket, Key="secret")["Body"].read() == b"root's data"


def test_other_user_cannot_take_an_existing_name(other_user: BaseClient, roots_bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        other_user.create_bucket(Bucket=roots_bucket)
    assert (error_code(raised.value), http_status(raised.value)) == ("BucketAlreadyExists", 409)


def test_other_user_does_not_see_roots_buckets(other_user: BaseClient, roots_bucket: str) -> None:
    assert roots_bucket not in {b["Name"] for b in other_user.list_buckets()["Buckets"]}


# Subresources not implemented yet must answer 501 NotImplemented (SDKs do not retry it), never
# 200, 500 or a silent success; once implemented, the S3 answer for a bucket without that
# configuration is the other accepted outcome.
@pytest.mark.parametrize(
    ("method", "subresource", "not_configured"),
    [
        ("GET", "policy", "NoSuchBucketPolicy"),
        ("GET", "website", "NoSuchWebsiteConfiguration"),
        ("GET", "replication", "ReplicationConfigurationNotFoundError"),
        ("GET", "lifecycle", "NoSuchLifecycleConfiguration"),
    ],
)
def test_unsupported_subresources_are_not_implemented(
    cluster: Cluster, bucket: str, method: str, subresource: str, not_configured: str
) -> None:
    answer = raw_request(cluster, method, f"/{bucket}?{subresource}")
    assert (answer.status, answer.error_code()) in [
        (501, "NotImplemented"),
        (404, not_configured),
    ], answer.body[:500]
    request_id = answer.header("x-amz-request-id")
    assert request_id and answer.xml().findtext("RequestId") == request_id


def test_location_constraint_is_kept(s3: BaseClient) -> None:
    """s3cmd asks for its `bucket_location` (EU): the bucket is created and answers it back."""
    name = unique_bucket_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "EU"})
    try:
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "EU"
    finally:
        s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as raised:
        s3.create_bucket(
            Bucket=unique_bucket_name(),
            CreateBucketConfiguration={"LocationConstraint": "not a region!"},  # type: ignore[typeddict-item]
        )
    assert (error_code(raised.value), http_status(raised.value)) == (
        "InvalidLocationConstraint",
        400,
    )


def test_nul_in_query_parameters_is_refused(s3: BaseClient, bucket: str) -> None:
    """A NUL can be in no key, prefix or id: 400 InvalidArgument on every catalog backend
    (PostgreSQL text cannot even hold it), never a 500."""
    with pytest.raises(ClientError) as raised:
        s3.list_objects_v2(Bucket=bucket, Prefix="a\x00b")
    assert (error_code(raised.value), http_status(raised.value)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as raised:
        s3.list_parts(Bucket=bucket, Key="k", UploadId="\x00")
    assert (error_code(raised.value), http_status(raised.value)) == ("InvalidArgument", 400)
