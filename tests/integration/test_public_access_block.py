"""Block Public Access at bucket level against a real cluster: Put/Get/DeletePublicAccessBlock
round trips, 404 without one, MalformedXML for a bad document, and each flag doing what S3's
does: BlockPublicAcls refuses public ACLs on Put*Acl and on writes (nothing stored),
IgnorePublicAcls makes existing public grants count for nothing, BlockPublicPolicy refuses a
public policy (the old one stays), RestrictPublicBuckets lets a public policy allow only the
bucket's owner. A second user is a real user of the cluster; anonymous requests are urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status
from support.data import new_user
from support.processes import Cluster
from support.signing import raw_request

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def other(cluster: Cluster) -> Iterator[tuple[BaseClient, str]]:
    """A second user: its client and access key."""
    user = new_user(cluster, "pab")
    yield user.client, user.access_key
    user.client.close()


def block(s3: BaseClient, bucket: str, *flags: str) -> None:
    configuration = {name: name in flags for name in FLAGS}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=configuration)


def refused(call: Callable[[], Any], code: str = "AccessDenied", status: int = 403) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert (http_status(caught.value), error_code(caught.value)) == (status, code), (
        caught.value.response
    )


def anonymous_get(cluster: Cluster, path: str) -> int:
    try:
        with urllib.request.urlopen(cluster.endpoint + path, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def post_form(url: str, fields: dict[str, str]) -> int:
    """POST a browser form (its fields, then a one-byte file); the answer's status."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        f"x\r\n--{boundary}--\r\n"
    ).encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def public_read_policy(bucket: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_round_trip_and_absent(s3: BaseClient, bucket: str) -> None:
    refused(
        lambda: s3.get_public_access_block(Bucket=bucket),
        "NoSuchPublicAccessBlockConfiguration",
        404,
    )
    assert s3.delete_public_access_block(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    block(s3, bucket, "BlockPublicAcls", "RestrictPublicBuckets")
    answer = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert answer == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True,
    }
    block(s3, bucket, "IgnorePublicAcls")  # a Put replaces the whole configuration
    answer = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert [name for name in FLAGS if answer[name]] == ["IgnorePublicAcls"]
    s3.delete_public_access_block(Bucket=bucket)
    refused(
        lambda: s3.get_public_access_block(Bucket=bucket),
        "NoSuchPublicAccessBlockConfiguration",
        404,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls>"
        b"</PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><Other>true</Other></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>"
        b"<BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
        b"<Nope/>",
        b"not xml",
    ],
)
def test_malformed_is_refused_and_changes_nothing(
    cluster: Cluster, s3: BaseClient, bucket: str, body: bytes
) -> None:
    block(s3, bucket, "BlockPublicPolicy")
    answer = raw_request(cluster, "PUT", f"/{bucket}?publicAccessBlock", body=body)
    assert (answer.status, answer.error_code()) == (400, "MalformedXML")
    flags = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert [name for name in FLAGS if flags[name]] == ["BlockPublicPolicy"]


def test_only_the_owner_may_configure(
    s3: BaseClient, bucket: str, other: tuple[BaseClient, str]
) -> None:
    client, _ = other
    refused(lambda: block(client, bucket, "BlockPublicAcls"))
    refused(lambda: client.get_public_access_block(Bucket=bucket))
    refused(lambda: client.delete_public_access_block(Bucket=bucket))


def test_block_public_acls(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    block(s3, bucket, "BlockPublicAcls")
    for canned in ("public-read", "public-read-write", "authenticated-read"):
        refused(lambda canned=canned: s3.put_bucket_acl(Bucket=bucket, ACL=canned))
        refused(lambda canned=canned: s3.put_object_acl(Bucket=bucket, Key="k", ACL=canned))
        refused(lambda canned=canned: s3.put_object(Bucket=bucket, Key="n", ACL=canned, Body=b""))
        refused(
            lambda canned=canned: s3.copy_object(
                Bucket=bucket, Key="n", CopySource={"Bucket": bucket, "Key": "k"}, ACL=canned
            )
        )
        refused(
            lambda canned=canned: s3.create_multipart_upload(Bucket=bucket, Key="n", ACL=canned)
        )
    refused(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"", GrantRead=f'uri="{ALL_USERS}"'))
    grants = s3.get_bucket_acl(Bucket=bucket)
    public = {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}
    policy = {"Owner": grants["Owner"], "Grants": [*grants["Grants"], public]}
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy))
    # A browser form asking for a public ACL is refused too.
    form = s3.generate_presigned_post(
        bucket, "n", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    assert post_form(form["url"], form["fields"]) == 403
    # Nothing was stored, nothing became public; private ACLs still go through.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 1
    assert anonymous_get(cluster, f"/{bucket}/k") == 403
    s3.put_object(Bucket=bucket, Key="private", Body=b"", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-read")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


def test_ignore_public_acls(
    cluster: Cluster, s3: BaseClient, bucket: str, other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="open", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="granted", Body=b"x", GrantRead=f'id="{user_id}"')
    assert anonymous_get(cluster, f"/{bucket}/open") == 200
    client.list_objects_v2(Bucket=bucket)
    block(s3, bucket, "IgnorePublicAcls")
    assert anonymous_get(cluster, f"/{bucket}/open") == 403
    assert anonymous_get(cluster, f"/{bucket}") == 403
    refused(lambda: client.list_objects_v2(Bucket=bucket))
    refused(lambda: client.get_object(Bucket=bucket, Key="open"))
    # A grant to a named user is not public: it still counts. Public ACLs may still be set.
    assert client.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"x"
    s3.put_object(Bucket=bucket, Key="open2", Body=b"x", ACL="public-read")
    assert anonymous_get(cluster, f"/{bucket}/open2") == 403
    s3.delete_public_access_block(Bucket=bucket)
    assert anonymous_get(cluster, f"/{bucket}/open2") == 200


def test_block_public_policy(s3: BaseClient, bucket: str, other: tuple[BaseClient, str]) -> None:
    _, user_id = other
    named = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": user_id},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=named)
    block(s3, bucket, "BlockPublicPolicy")
    refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket)))
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == named
    s3.put_bucket_policy(Bucket=bucket, Policy=named)  # not public: allowed


def test_restrict_public_buckets(
    cluster: Cluster, s3: BaseClient, bucket: str, other: tuple[BaseClient, str]
) -> None:
    client, user_id = other
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    policy = json.loads(public_read_policy(bucket))
    named = {**policy["Statement"][0], "Principal": {"AWS": user_id}, "Action": "s3:ListBucket"}
    named["Resource"] = f"arn:aws:s3:::{bucket}"
    policy["Statement"].append(named)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert anonymous_get(cluster, f"/{bucket}/k") == 200
    client.list_objects_v2(Bucket=bucket)
    block(s3, bucket, "RestrictPublicBuckets")
    # A public policy allows no one outside the owner's account, named users included.
    assert anonymous_get(cluster, f"/{bucket}/k") == 403
    refused(lambda: client.get_object(Bucket=bucket, Key="k"))
    refused(lambda: client.list_objects_v2(Bucket=bucket))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    # A policy that is not public is not restricted.
    policy["Statement"] = [named]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    client.list_objects_v2(Bucket=bucket)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
