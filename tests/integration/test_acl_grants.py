"""ACL grants decide what another user may do: bucket READ lists, bucket WRITE writes and
deletes, READ_ACP/WRITE_ACP read and write the ACL, FULL_CONTROL all of it, object READ reads
one object; the AuthenticatedUsers group is every signed request. Grants also come from
x-amz-grant-* headers on PutObject and CreateBucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from support.clients import (
    empty_and_delete_bucket,
    error_code,
    http_status,
    unique_bucket_name,
)
from support.data import new_user
from support.processes import Cluster

from s3compat.api import errors
from s3compat.api.auth.access import check_access, needs_object
from s3compat.records import BucketRecord, ObjectRecord

AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def other(cluster: Cluster) -> Iterator[tuple[BaseClient, str, str]]:
    """A second user's client, canonical ID (its access key) and display name."""
    user = new_user(cluster, "grantee")
    yield user.client, user.access_key, user.name
    user.client.close()


def denied(call: Callable[[], Any]) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert http_status(caught.value) == 403, caught.value.response
    assert error_code(caught.value) in ("AccessDenied", "403"), caught.value.response


def grant_bucket(s3: BaseClient, bucket: str, grantee: dict[str, str], permission: str) -> None:
    current = s3.get_bucket_acl(Bucket=bucket)
    policy = {
        "Owner": current["Owner"],
        "Grants": [*current["Grants"], {"Grantee": grantee, "Permission": permission}],
    }
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)


def user(user_id: str) -> dict[str, str]:
    return {"Type": "CanonicalUser", "ID": user_id}


def test_bucket_read_grant_lists_but_does_not_read_objects(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]
) -> None:
    client, user_id, _ = other
    s3.put_object(Bucket=bucket, Key="k", Body=b"private bytes")
    denied(lambda: client.list_objects_v2(Bucket=bucket))
    grant_bucket(s3, bucket, user(user_id), "READ")
    assert [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    client.head_bucket(Bucket=bucket)
    denied(lambda: client.get_object(Bucket=bucket, Key="k"))
    denied(lambda: client.put_object(Bucket=bucket, Key="new", Body=b"x"))
    denied(lambda: client.get_bucket_acl(Bucket=bucket))
    denied(lambda: client.put_bucket_acl(Bucket=bucket, ACL="public-read"))
    denied(lambda: client.delete_bucket(Bucket=bucket))
    # A missing key is 404 to someone who may list the bucket.
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key="nothing")
    assert error_code(caught.value) == "NoSuchKey"


def test_bucket_write_grant_writes_and_deletes(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]
) -> None:
    client, user_id, name = other
    s3.put_object(Bucket=bucket, Key="owners", Body=b"owner's")
    grant_bucket(s3, bucket, user(user_id), "WRITE")
    client.put_object(Bucket=bucket, Key="theirs", Body=b"grantee's")
    denied(lambda: client.list_objects_v2(Bucket=bucket))
    # The writer owns what it wrote: it reads it and its ACL; the bucket owner does too.
    assert client.get_object(Bucket=bucket, Key="theirs")["Body"].read() == b"grantee's"
    acl = client.get_object_acl(Bucket=bucket, Key="theirs")
    assert acl["Owner"] == {"ID": user_id, "DisplayName": name}
    assert s3.get_object(Bucket=bucket, Key="theirs")["Body"].read() == b"grantee's"
    listed = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert {item["Key"]: item["Owner"]["DisplayName"] for item in listed}["theirs"] == name
    # WRITE on the bucket deletes any key, and overwrites any key, but reads none.
    denied(lambda: client.get_object(Bucket=bucket, Key="owners"))
    client.put_object(Bucket=bucket, Key="owners", Body=b"replaced")
    client.delete_object(Bucket=bucket, Key="theirs")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["owners"]


def test_acp_grants(s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]) -> None:
    client, user_id, _ = other
    grant_bucket(s3, bucket, user(user_id), "READ_ACP")
    assert (
        client.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
        == s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    )
    denied(lambda: client.put_bucket_acl(Bucket=bucket, ACL="public-read"))
    denied(lambda: client.list_objects_v2(Bucket=bucket))
    grant_bucket(s3, bucket, user(user_id), "WRITE_ACP")
    client.put_bucket_acl(Bucket=bucket, ACL="private")
    # It gave its own grants away with that.
    denied(lambda: client.get_bucket_acl(Bucket=bucket))


def test_full_control_grant(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]
) -> None:
    client, user_id, _ = other
    grant_bucket(s3, bucket, user(user_id), "FULL_CONTROL")
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    client.list_objects(Bucket=bucket)
    client.get_bucket_acl(Bucket=bucket)
    # FULL_CONTROL is about the ACL's permissions, not the bucket's configuration.
    denied(lambda: client.get_bucket_location(Bucket=bucket))
    denied(lambda: client.delete_bucket(Bucket=bucket))


def test_object_grants(s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]) -> None:
    client, user_id, _ = other
    s3.put_object(Bucket=bucket, Key="shared", Body=b"shared bytes")
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept bytes")
    s3.put_object_acl(Bucket=bucket, Key="shared", GrantRead=f'id="{user_id}"')
    assert client.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"shared bytes"
    denied(lambda: client.get_object(Bucket=bucket, Key="kept"))
    denied(lambda: client.get_object_acl(Bucket=bucket, Key="shared"))
    denied(lambda: client.put_object(Bucket=bucket, Key="shared", Body=b"x"))
    denied(lambda: client.get_object_tagging(Bucket=bucket, Key="shared"))
    # A copy reads its source like a GET: allowed from "shared", not from "kept".
    own = unique_bucket_name("grantee")
    client.create_bucket(Bucket=own)
    try:
        client.copy_object(Bucket=own, Key="c", CopySource={"Bucket": bucket, "Key": "shared"})
        assert client.get_object(Bucket=own, Key="c")["Body"].read() == b"shared bytes"
        denied(
            lambda: client.copy_object(
                Bucket=own, Key="d", CopySource={"Bucket": bucket, "Key": "kept"}
            )
        )
    finally:
        empty_and_delete_bucket(client, own)


def test_authenticated_users_group(
    cluster: Cluster, s3: BaseClient, other: tuple[BaseClient, str, str]
) -> None:
    client, _, _ = other
    name = unique_bucket_name("authread")
    s3.create_bucket(Bucket=name, ACL="authenticated-read")
    try:
        s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="authenticated-read")
        client.list_objects_v2(Bucket=name)
        assert client.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
        anonymous = boto3.session.Session(region_name="us-east-1").client(
            "s3", endpoint_url=cluster.endpoint, config=Config(signature_version=UNSIGNED)
        )
        try:
            denied(lambda: anonymous.list_objects_v2(Bucket=name))
            denied(lambda: anonymous.get_object(Bucket=name, Key="k"))
        finally:
            anonymous.close()
    finally:
        empty_and_delete_bucket(s3, name)


def test_grant_headers_on_put_and_create(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str, str]
) -> None:
    client, user_id, name = other
    s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"x",
        GrantRead=f'id="{user_id}"',
        GrantReadACP=f'id="{user_id}", uri="{AUTHENTICATED_USERS}"',
    )
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    listed = [(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in grants]
    # Group grants first, then users' in the order the headers gave them.
    assert listed == [
        (AUTHENTICATED_USERS, "READ_ACP"),
        (user_id, "READ"),
        (user_id, "READ_ACP"),
    ]
    assert grants[1]["Grantee"]["DisplayName"] == name
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    created = unique_bucket_name("granted")
    s3.create_bucket(Bucket=created, GrantWrite=f'id="{user_id}"')
    try:
        client.put_object(Bucket=created, Key="dropped", Body=b"y")
        denied(lambda: client.list_objects_v2(Bucket=created))
    finally:
        empty_and_delete_bucket(s3, created)
    with pytest.raises(ClientError) as caught:
        s3.put_object(
            Bucket=bucket, Key="k2", Body=b"x", ACL="private", GrantRead=f'id="{user_id}"'
        )
    assert error_code(caught.value) == "InvalidRequest"
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", GrantRead='id="NOBODY"')
    assert error_code(caught.value) == "InvalidArgument"


def test_upload_listings_name_each_initiator(
    s3: BaseClient, other: tuple[BaseClient, str, str]
) -> None:
    client, user_id, name = other
    bucket = unique_bucket_name("uploads")
    s3.create_bucket(Bucket=bucket, ACL="public-read-write")
    try:
        mine = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
        theirs = client.create_multipart_upload(Bucket=bucket, Key="b")["UploadId"]
        uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        by_key = {u["Key"]: (u["Initiator"]["ID"], u["Initiator"]["DisplayName"]) for u in uploads}
        assert by_key["b"] == (user_id, name)
        assert by_key["a"][1] != by_key["a"][0]  # a name, not the ID again
        parts = client.list_parts(Bucket=bucket, Key="b", UploadId=theirs)
        assert parts["Owner"] == {"ID": user_id, "DisplayName": name}
        client.abort_multipart_upload(Bucket=bucket, Key="b", UploadId=theirs)
        s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId=mine)
    finally:
        empty_and_delete_bucket(s3, bucket)


def test_grants_appear_in_acl_documents_groups_first(s3: BaseClient, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert [g["Grantee"]["Type"] for g in grants] == ["Group", "CanonicalUser"]
    assert grants[0]["Grantee"]["URI"] == ALL_USERS


# --- pure: the access rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket_acl", "principal", "operation", "allowed"),
    [
        (None, "OWNER", "DeleteBucket", True),
        (None, "OTHER", "ListObjects", False),
        (None, None, "ListObjects", False),
        ("public-read", None, "ListObjectsV2", True),
        ("public-read", None, "PutObject", False),
        ("public-read", "OTHER", "GetBucketAcl", False),
        ("public-read-write", None, "PutObject", True),
        ("public-read-write", None, "DeleteObjects", True),
        ("public-read-write", None, "PutBucketAcl", False),
        ("public-read-write", "OTHER", "DeleteBucket", False),
        ("public-read-write", "OTHER", "GetBucketLocation", False),
        ("authenticated-read", None, "ListObjects", False),
        ("authenticated-read", "OTHER", "ListObjects", True),
    ],
)
def test_bucket_rule(
    bucket_acl: str | None, principal: str | None, operation: str, allowed: bool
) -> None:
    bucket = BucketRecord("b", "OWNER", 0.0, "us-east-1", bucket_acl)
    if allowed:
        check_access(operation, principal, bucket)
    else:
        with pytest.raises(errors.S3Error) as caught:
            check_access(operation, principal, bucket)
        assert caught.value.code == "AccessDenied"


@pytest.mark.parametrize(
    ("object_acl", "object_owner", "principal", "operation", "outcome"),
    [
        ("public-read", "OWNER", None, "GetObject", "allowed"),
        ("public-read", "OWNER", None, "GetObjectAcl", "AccessDenied"),
        (None, "OWNER", None, "HeadObject", "AccessDenied"),
        (None, "WRITER", "WRITER", "GetObjectAcl", "allowed"),
        (None, "WRITER", "WRITER", "PutObjectTagging", "allowed"),
        (None, "WRITER", "OTHER", "GetObject", "AccessDenied"),
        ("authenticated-read", "OWNER", "OTHER", "GetObject", "allowed"),
        ("authenticated-read", "OWNER", None, "GetObject", "AccessDenied"),
        ("public-read-write", "OWNER", None, "PutObjectAcl", "AccessDenied"),
        ("public-read", "OWNER", None, "PutObjectTagging", "AccessDenied"),
    ],
)
def test_object_rule(
    object_acl: str | None, object_owner: str, principal: str | None, operation: str, outcome: str
) -> None:
    bucket = BucketRecord("b", "OWNER", 0.0, "us-east-1", None)
    record = ObjectRecord("b", "k", 1, '"e"', 0.0, object_owner, {}, acl=object_acl)
    if outcome == "allowed":
        check_access(operation, principal, bucket, record, "k")
    else:
        with pytest.raises(errors.S3Error) as caught:
            check_access(operation, principal, bucket, record, "k")
        assert caught.value.code == outcome


def test_missing_object_is_404_only_to_who_may_list() -> None:
    private = BucketRecord("b", "OWNER", 0.0, "us-east-1", None)
    public = BucketRecord("b", "OWNER", 0.0, "us-east-1", "public-read")
    for bucket, code in ((private, "AccessDenied"), (public, "NoSuchKey")):
        with pytest.raises(errors.S3Error) as caught:
            check_access("GetObject", None, bucket, None, "k")
        assert caught.value.code == code
    assert not needs_object("GetObject", "OWNER", private)
    assert needs_object("GetObject", None, private)
