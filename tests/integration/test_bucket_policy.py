"""Bucket policies against a real cluster: boto3's put/get/delete_bucket_policy and
get_bucket_policy_status, a second user allowed and denied by a policy, anonymous reads of a
bucket public by policy (plain urllib, no signature), an explicit Deny beating the owner, the
aws:SourceIp, aws:SecureTransport and s3:prefix conditions, DeleteObjects judged per key, and
malformed policies refused with S3's error (never a 5xx)."""

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

BAD_VERSION = "The policy must contain a valid version string"


@pytest.fixture(scope="module")
def other(cluster: Cluster) -> Iterator[tuple[BaseClient, str, str]]:
    """A second user: its client, access key and name."""
    user = new_user(cluster, "pat")
    yield user.client, user.access_key, user.name
    user.client.close()


def put_policy(s3: BaseClient, bucket: str, *statements: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    )
    return answer


def allow(principal: object, action: object, resource: object, **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": resource,
        **extra,
    }


def deny(principal: object, action: object, resource: object, **extra: Any) -> dict[str, Any]:
    return {**allow(principal, action, resource, **extra), "Effect": "Deny"}


def refused(call: Callable[[], Any], code: str = "AccessDenied", status: int = 403) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert (http_status(caught.value), error_code(caught.value)) in [
        (status, code),
        (status, str(status)),  # HEAD answers carry no body
    ], caught.value.response


def anonymous_get(cluster: Cluster, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(cluster.endpoint + path, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def objects(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}/*"


def test_put_get_delete_and_status(s3: BaseClient, bucket: str, other: Any) -> None:
    refused(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)
    refused(lambda: s3.get_bucket_policy_status(Bucket=bucket), "NoSuchBucketPolicy", 404)
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [allow({"AWS": other[1]}, "s3:GetObject", objects(bucket))],
        }
    )
    answer = s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    put_policy(s3, bucket, allow("*", "s3:GetObject", objects(bucket)))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    deleted = s3.delete_bucket_policy(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    refused(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)
    s3.delete_bucket_policy(Bucket=bucket)  # deleting none is no error


def test_a_second_user_is_allowed_only_what_the_policy_grants(
    s3: BaseClient, bucket: str, other: Any
) -> None:
    client, access_key, name = other
    s3.put_object(Bucket=bucket, Key="shared/a", Body=b"shared")
    s3.put_object(Bucket=bucket, Key="private/b", Body=b"private")
    refused(lambda: client.get_object(Bucket=bucket, Key="shared/a"))
    user_arn = f"arn:aws:iam::{access_key}:user/{name}"
    put_policy(s3, bucket, allow({"AWS": user_arn}, "s3:Get*", f"arn:aws:s3:::{bucket}/shared/*"))
    assert client.get_object(Bucket=bucket, Key="shared/a")["Body"].read() == b"shared"
    assert client.head_object(Bucket=bucket, Key="shared/a")["ContentLength"] == 6
    refused(lambda: client.get_object(Bucket=bucket, Key="private/b"))
    refused(lambda: client.list_objects_v2(Bucket=bucket))
    refused(lambda: client.put_object(Bucket=bucket, Key="shared/c", Body=b"x"))
    # Without s3:ListBucket a missing key is 403, not 404.
    refused(lambda: client.get_object(Bucket=bucket, Key="shared/missing"))
    # The policy itself is the owner's: 403 without a grant, 405 with one.
    refused(lambda: client.get_bucket_policy(Bucket=bucket))
    put_policy(
        s3,
        bucket,
        allow(
            {"AWS": access_key},
            ["s3:PutObject", "s3:GetBucketPolicy"],
            [objects(bucket), f"arn:aws:s3:::{bucket}"],
        ),
    )
    client.put_object(Bucket=bucket, Key="shared/c", Body=b"from pat")
    assert s3.get_object(Bucket=bucket, Key="shared/c")["Body"].read() == b"from pat"
    refused(lambda: client.get_bucket_policy(Bucket=bucket), "MethodNotAllowed", 405)


def test_anonymous_reads_a_bucket_public_by_policy(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="site/index.html", Body=b"<h1>hi</h1>")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"no")
    assert anonymous_get(cluster, f"/{bucket}/site/index.html")[0] == 403
    put_policy(s3, bucket, allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/site/*"))
    assert anonymous_get(cluster, f"/{bucket}/site/index.html") == (200, b"<h1>hi</h1>")
    status, body = anonymous_get(cluster, f"/{bucket}/secret")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert anonymous_get(cluster, f"/{bucket}/site/missing")[0] == 403
    assert anonymous_get(cluster, f"/{bucket}?list-type=2")[0] == 403


def test_an_explicit_deny_beats_the_owner_but_not_on_the_policy(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="locked/a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="open/a", Body=b"y")
    put_policy(
        s3,
        bucket,
        deny({"AWS": cluster.access_key}, "s3:GetObject", f"arn:aws:s3:::{bucket}/locked/*"),
        deny("*", "s3:*Policy", f"arn:aws:s3:::{bucket}"),
    )
    refused(lambda: s3.get_object(Bucket=bucket, Key="locked/a"))
    assert s3.get_object(Bucket=bucket, Key="open/a")["Body"].read() == b"y"
    assert "locked" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="locked/a")["Body"].read() == b"x"


@pytest.mark.parametrize(("cidr", "status"), [("127.0.0.1/32", 200), ("10.0.0.0/8", 403)])
def test_source_ip(cluster: Cluster, s3: BaseClient, bucket: str, cidr: str, status: int) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"near")
    condition = {"IpAddress": {"aws:SourceIp": cidr}}
    put_policy(s3, bucket, allow("*", "s3:GetObject", objects(bucket), Condition=condition))
    assert anonymous_get(cluster, f"/{bucket}/a")[0] == status
    public = s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]
    assert public is False  # both ranges are narrow enough for S3


def test_secure_transport_false_over_http(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    assert cluster.endpoint.startswith("http://")
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    put_policy(
        s3,
        bucket,
        deny("*", "s3:*", [objects(bucket), f"arn:aws:s3:::{bucket}"], Condition=insecure),
    )
    refused(lambda: s3.get_object(Bucket=bucket, Key="a"))
    refused(lambda: s3.list_objects_v2(Bucket=bucket))
    s3.delete_bucket_policy(Bucket=bucket)
    put_policy(
        s3,
        bucket,
        deny("*", "s3:*", objects(bucket), Condition={"Bool": {"aws:SecureTransport": "true"}}),
    )
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


def test_prefix_condition_on_list_objects_v2(s3: BaseClient, bucket: str, other: Any) -> None:
    client, access_key, _ = other
    for key in ("home/a", "home/b", "work/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    listing = {"StringLike": {"s3:prefix": ["home/", "home/*"]}}
    put_policy(
        s3,
        bucket,
        allow({"AWS": access_key}, "s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition=listing),
    )
    listed = client.list_objects_v2(Bucket=bucket, Prefix="home/")
    assert [item["Key"] for item in listed["Contents"]] == ["home/a", "home/b"]
    refused(lambda: client.list_objects_v2(Bucket=bucket, Prefix="work/"))
    refused(lambda: client.list_objects_v2(Bucket=bucket))


def test_delete_objects_is_judged_per_key(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    for key in ("keep/a", "drop/b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    put_policy(s3, bucket, deny("*", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/keep/*"))
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "drop/b"}]}
    )
    assert [entry["Key"] for entry in answer["Deleted"]] == ["drop/b"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("keep/a", "AccessDenied")]
    s3.delete_bucket_policy(Bucket=bucket)


def test_existing_object_tag_condition(s3: BaseClient, bucket: str, other: Any) -> None:
    client, access_key, _ = other
    s3.put_object(Bucket=bucket, Key="open", Body=b"o", Tagging="security=public")
    s3.put_object(Bucket=bucket, Key="shut", Body=b"s", Tagging="security=secret")
    s3.put_object(Bucket=bucket, Key="bare", Body=b"b")
    condition = {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}
    put_policy(
        s3,
        bucket,
        allow(
            {"AWS": access_key},
            ["s3:GetObject", "s3:GetObjectTagging"],
            objects(bucket),
            Condition=condition,
        ),
    )
    try:
        assert client.get_object(Bucket=bucket, Key="open")["Body"].read() == b"o"
        assert client.get_object_tagging(Bucket=bucket, Key="open")["TagSet"]
        refused(lambda: client.get_object(Bucket=bucket, Key="shut"))
        refused(lambda: client.get_object(Bucket=bucket, Key="bare"))
        # Retagging changes what the policy allows at once.
        s3.put_object_tagging(
            Bucket=bucket, Key="shut", Tagging={"TagSet": [{"Key": "security", "Value": "public"}]}
        )
        assert client.get_object(Bucket=bucket, Key="shut")["Body"].read() == b"s"
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def test_delete_objects_by_version_is_judged_as_delete_object_version(
    s3: BaseClient, bucket: str
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="v", Body=b"1")["VersionId"]
    put_policy(s3, bucket, deny("*", "s3:DeleteObjectVersion", objects(bucket)))
    try:
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "v", "VersionId": version}]}
        )
        assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("v", "AccessDenied")]
        assert s3.head_object(Bucket=bucket, Key="v", VersionId=version)["ContentLength"] == 1
        # Without a version id it is s3:DeleteObject, which the policy leaves alone.
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v"}]})
        assert answer["Deleted"][0]["DeleteMarker"] is True
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
        for entry in s3.list_object_versions(Bucket=bucket).get(
            "Versions", []
        ) + s3.list_object_versions(Bucket=bucket).get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])


def test_copy_from_a_bucket_readable_by_policy(s3: BaseClient, bucket: str, other: Any) -> None:
    client, access_key, _ = other
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me")
    own = f"pat-own-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=own)
    try:
        refused(lambda: client.copy_object(Bucket=own, Key="dst", CopySource=f"{bucket}/src"))
        put_policy(s3, bucket, allow({"AWS": access_key}, "s3:GetObject", objects(bucket)))
        client.copy_object(Bucket=own, Key="dst", CopySource=f"{bucket}/src")
        assert client.get_object(Bucket=own, Key="dst")["Body"].read() == b"copy me"
    finally:
        client.delete_object(Bucket=own, Key="dst")
        client.delete_bucket(Bucket=own)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("not json", "Policies must be valid JSON and the first byte must be '{'"),
        ('{"Statement": [', "This policy contains invalid Json"),
        ("{}", "Missing required field Statement"),
        ('{"Version": "2011-01-01", "Statement": []}', BAD_VERSION),
        ({"Effect": "Maybe"}, "Invalid effect: Maybe"),
        ({"Principal": None}, "Missing required field Principal"),
        ({"Action": None}, "Missing required field Action"),
        ({"Resource": None}, "Missing required field Resource"),
        ({"Resource": "arn:aws:s3:::someone-elses-bucket/*"}, "Policy has invalid resource"),
        ({"Action": "s3:Teleport"}, "Policy has invalid action"),
        ({"Principal": {"AWS": "NOSUCHACCESSKEY"}}, "Invalid principal in policy"),
        (
            {"Condition": {"StringMaybe": {"aws:username": "x"}}},
            "Invalid Condition type : StringMaybe",
        ),
    ],
)
def test_malformed_policies(s3: BaseClient, bucket: str, policy: object, message: str) -> None:
    if isinstance(policy, dict):
        statement = allow("*", "s3:GetObject", objects(bucket))
        statement.update(policy)
        statement = {key: value for key, value in statement.items() if value is not None}
        text = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    else:
        text = str(policy)
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket=bucket, Policy=text)
    error = caught.value.response["Error"]
    assert (http_status(caught.value), error["Code"], error["Message"]) == (
        400,
        "MalformedPolicy",
        message,
    )
    refused(lambda: s3.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404)


def test_a_principal_arn_must_name_the_users_own_name(
    s3: BaseClient, bucket: str, other: Any
) -> None:
    _, access_key, _ = other
    wrong = allow(
        {"AWS": f"arn:aws:iam::{access_key}:user/not-pat"}, "s3:GetObject", objects(bucket)
    )
    refused(lambda: put_policy(s3, bucket, wrong), "MalformedPolicy", 400)
