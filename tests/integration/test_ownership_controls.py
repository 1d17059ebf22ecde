"""Object Ownership against a real cluster: CreateBucket's x-amz-object-ownership and
Put/Get/DeleteBucketOwnershipControls (404 without a setting, MalformedXML for a bad document),
and what each setting does when a second user writes into the bucket: BucketOwnerEnforced
disables ACLs (a write with any ACL but bucket-owner-full-control is refused 400
AccessControlListNotSupported and stores nothing; the bucket owner owns every object, and
existing ACLs stop counting), BucketOwnerPreferred gives the bucket owner what is written with
bucket-owner-full-control, ObjectWriter leaves every object its writer's (the bucket owner
may delete it, not read it). A bucket without a setting keeps this store's older rule: the
writer owns, the bucket owner controls everything."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

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

SETTINGS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def other(cluster: Cluster) -> Iterator[tuple[BaseClient, str]]:
    """A second user: its client and access key."""
    user = new_user(cluster, "own")
    yield user.client, user.access_key
    user.client.close()


@pytest.fixture
def make(s3: BaseClient) -> Iterator[Callable[..., str]]:
    """Create buckets with CreateBucket arguments; all are emptied and deleted afterwards."""
    made: list[str] = []

    def create(**arguments: Any) -> str:
        name = unique_bucket_name("own")
        s3.create_bucket(Bucket=name, **arguments)
        made.append(name)
        return name

    yield create
    for name in made:
        empty_and_delete_bucket(s3, name)


def refused(call: Callable[[], Any], code: str, status: int) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert (http_status(caught.value), error_code(caught.value)) == (status, code), (
        caught.value.response
    )


def setting(s3: BaseClient, bucket: str) -> str:
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert len(rules) == 1
    return str(rules[0]["ObjectOwnership"])


def set_ownership(s3: BaseClient, bucket: str, value: str) -> None:
    controls = {"Rules": [{"ObjectOwnership": value}]}
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls)


def let_write(s3: BaseClient, bucket: str, user_id: str) -> None:
    """A policy letting `user_id` write, list and read ACLs (ACLs may be disabled)."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": user_id},
        "Action": ["s3:PutObject", "s3:ListBucket", "s3:GetObjectAcl", "s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def owner_of(client: BaseClient, bucket: str, key: str) -> str:
    return str(client.get_object_acl(Bucket=bucket, Key=key)["Owner"]["ID"])


def anonymous_status(cluster: Cluster, path: str) -> int:
    try:
        with urllib.request.urlopen(cluster.endpoint + path, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("value", SETTINGS)
def test_create_with_each_setting(s3: BaseClient, make: Callable[..., str], value: str) -> None:
    bucket = make(ObjectOwnership=value)
    assert setting(s3, bucket) == value


def test_create_refusals(s3: BaseClient, cluster: Cluster) -> None:
    name = unique_bucket_name("own")
    answer = raw_request(cluster, "PUT", f"/{name}", {"x-amz-object-ownership": "Everyone"})
    assert (answer.status, answer.error_code()) == (400, "InvalidArgument")
    refused(
        lambda: s3.create_bucket(
            Bucket=name, ObjectOwnership="BucketOwnerEnforced", ACL="public-read"
        ),
        "InvalidBucketAclWithObjectOwnership",
        400,
    )
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_round_trip_absent_and_malformed(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    refused(
        lambda: s3.get_bucket_ownership_controls(Bucket=bucket),
        "OwnershipControlsNotFoundError",
        404,
    )
    for value in SETTINGS:
        set_ownership(s3, bucket, value)
        assert setting(s3, bucket) == value
    for body in (
        b"<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule>"
        b"</OwnershipControls>",
        b"<OwnershipControls></OwnershipControls>",
        b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
        b"<Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>",
        b"<Other/>",
    ):
        answer = raw_request(cluster, "PUT", f"/{bucket}?ownershipControls", body=body)
        assert (answer.status, answer.error_code()) == (400, "MalformedXML")
    assert setting(s3, bucket) == "ObjectWriter"
    response = s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    refused(
        lambda: s3.get_bucket_ownership_controls(Bucket=bucket),
        "OwnershipControlsNotFoundError",
        404,
    )
    s3.delete_bucket_ownership_controls(Bucket=bucket)


def test_only_the_owner_may_configure(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str]
) -> None:
    client, _ = other
    refused(lambda: set_ownership(client, bucket, "ObjectWriter"), "AccessDenied", 403)
    refused(lambda: client.get_bucket_ownership_controls(Bucket=bucket), "AccessDenied", 403)
    refused(lambda: client.delete_bucket_ownership_controls(Bucket=bucket), "AccessDenied", 403)


def test_enforced_needs_a_private_bucket_acl(s3: BaseClient, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    refused(
        lambda: set_ownership(s3, bucket, "BucketOwnerEnforced"),
        "InvalidBucketAclWithObjectOwnership",
        400,
    )
    refused(
        lambda: s3.get_bucket_ownership_controls(Bucket=bucket),
        "OwnershipControlsNotFoundError",
        404,
    )
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    set_ownership(s3, bucket, "BucketOwnerEnforced")


def test_bucket_owner_enforced(
    cluster: Cluster, s3: BaseClient, make: Callable[..., str], other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    bucket = make()
    s3.put_object(Bucket=bucket, Key="old-public", Body=b"x", ACL="public-read")
    client_grant = f'id="{user_id}"'
    s3.put_object(Bucket=bucket, Key="old-granted", Body=b"x", GrantRead=client_grant)
    assert client.get_object(Bucket=bucket, Key="old-granted")["Body"].read() == b"x"
    set_ownership(s3, bucket, "BucketOwnerEnforced")
    # Existing ACLs no longer count, and read back as the owner's full control.
    assert anonymous_status(cluster, f"/{bucket}/old-public") == 403
    refused(lambda: client.get_object(Bucket=bucket, Key="old-granted"), "AccessDenied", 403)
    grants = s3.get_object_acl(Bucket=bucket, Key="old-public")["Grants"]
    assert [(g["Grantee"].get("ID"), g["Permission"]) for g in grants] == [
        (cluster.access_key, "FULL_CONTROL")
    ]
    let_write(s3, bucket, user_id)
    client.put_object(Bucket=bucket, Key="plain", Body=b"x")
    client.put_object(Bucket=bucket, Key="bofc", Body=b"x", ACL="bucket-owner-full-control")
    assert owner_of(client, bucket, "plain") == cluster.access_key
    assert owner_of(s3, bucket, "bofc") == cluster.access_key
    upload = client.create_multipart_upload(Bucket=bucket, Key="parts")
    assert s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload["UploadId"])["Owner"][
        "ID"
    ] == (cluster.access_key)
    s3.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload["UploadId"])
    source = {"Bucket": bucket, "Key": "plain"}
    for write in (
        lambda: client.put_object(Bucket=bucket, Key="n", Body=b"x", ACL="private"),
        lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", ACL="public-read"),
        lambda: client.put_object(Bucket=bucket, Key="n", Body=b"x", GrantRead=client_grant),
        lambda: client.copy_object(Bucket=bucket, Key="n", CopySource=source, ACL="private"),
        lambda: client.create_multipart_upload(Bucket=bucket, Key="n", ACL="private"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="private"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="plain", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="plain", GrantRead=client_grant),
    ):
        refused(write, "AccessControlListNotSupported", 400)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == ["bofc", "old-granted", "old-public", "plain"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # The owner's full control is the one ACL that may still be "set".
    s3.put_object_acl(Bucket=bucket, Key="plain", ACL="bucket-owner-full-control")
    # Without the setting the old ACLs come back.
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert anonymous_status(cluster, f"/{bucket}/old-public") == 200
    assert client.get_object(Bucket=bucket, Key="old-granted")["Body"].read() == b"x"


def test_bucket_owner_preferred(
    cluster: Cluster, s3: BaseClient, make: Callable[..., str], other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    bucket = make(ObjectOwnership="BucketOwnerPreferred")
    let_write(s3, bucket, user_id)
    client.put_object(Bucket=bucket, Key="mine", Body=b"x")
    client.put_object(Bucket=bucket, Key="private", Body=b"x", ACL="private")
    client.put_object(Bucket=bucket, Key="theirs", Body=b"x", ACL="bucket-owner-full-control")
    assert owner_of(client, bucket, "mine") == user_id
    assert owner_of(client, bucket, "private") == user_id
    assert owner_of(s3, bucket, "theirs") == cluster.access_key
    upload = client.create_multipart_upload(
        Bucket=bucket, Key="parts", ACL="bucket-owner-full-control"
    )
    parts = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload["UploadId"])
    assert parts["Owner"]["ID"] == cluster.access_key
    s3.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload["UploadId"])
    # The writer's objects are not the bucket owner's to read (but to delete).
    refused(lambda: s3.get_object(Bucket=bucket, Key="mine"), "AccessDenied", 403)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    client.put_object_acl(Bucket=bucket, Key="mine", ACL="private")
    s3.delete_object(Bucket=bucket, Key="mine")


def test_object_writer(
    cluster: Cluster, s3: BaseClient, make: Callable[..., str], other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    bucket = make(ObjectOwnership="ObjectWriter")
    let_write(s3, bucket, user_id)
    client.put_object(Bucket=bucket, Key="plain", Body=b"x")
    client.put_object(Bucket=bucket, Key="bofc", Body=b"y", ACL="bucket-owner-full-control")
    assert owner_of(client, bucket, "plain") == user_id
    assert owner_of(client, bucket, "bofc") == user_id
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "plain"})
    assert owner_of(client, bucket, "copy") == user_id
    # The bucket owner reads only what the writer's ACL grants it, and deletes anything.
    refused(lambda: s3.get_object(Bucket=bucket, Key="plain"), "AccessDenied", 403)
    refused(lambda: s3.get_object_acl(Bucket=bucket, Key="plain"), "AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="bofc")["Body"].read() == b"y"
    s3.head_object(Bucket=bucket, Key="bofc")
    refused(lambda: s3.get_object(Bucket=bucket, Key="nothing"), "NoSuchKey", 404)
    s3.delete_object(Bucket=bucket, Key="plain")
    s3.put_object(Bucket=bucket, Key="own", Body=b"z")
    assert s3.get_object(Bucket=bucket, Key="own")["Body"].read() == b"z"


def test_without_a_setting_the_bucket_owner_controls_everything(
    cluster: Cluster, s3: BaseClient, bucket: str, other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    let_write(s3, bucket, user_id)
    client.put_object(Bucket=bucket, Key="theirs", Body=b"x")
    assert owner_of(client, bucket, "theirs") == user_id
    assert s3.get_object(Bucket=bucket, Key="theirs")["Body"].read() == b"x"
    assert owner_of(s3, bucket, "theirs") == user_id
