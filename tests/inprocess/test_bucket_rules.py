"""Bucket rules found by the ceph s3-tests suite: re-creating one's own bucket in us-east-1,
bucket names whose labels start or end with a hyphen, and CORS preflights (OPTIONS) on buckets
that have no CORS configuration."""

from __future__ import annotations

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

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def test_recreating_own_bucket_in_us_east_1_keeps_objects_and_resets_acl(
    s3: BaseClient,
) -> None:
    name = unique_bucket_name("again")
    s3.create_bucket(Bucket=name, ACL="public-read")
    try:
        s3.put_object(Bucket=name, Key="kept", Body=b"still here")
        # S3's legacy us-east-1 answer: 200, and the ACL is the one this request asks for.
        answer = s3.create_bucket(Bucket=name)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
        assert s3.get_object(Bucket=name, Key="kept")["Body"].read() == b"still here"
        s3.create_bucket(Bucket=name, ACL="public-read")
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        assert any(g["Grantee"].get("URI") == ALL_USERS for g in grants)
    finally:
        empty_and_delete_bucket(s3, name)


def test_recreating_own_bucket_with_a_location_constraint_is_a_conflict(s3: BaseClient) -> None:
    """S3 in us-east-1 answers the legacy 200 only to a request without a LocationConstraint."""
    name = unique_bucket_name("again")
    where = {"LocationConstraint": "us-west-1"}
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=where)
    try:
        for constraint in ("us-west-1", "us-east-2"):
            with pytest.raises(ClientError) as caught:
                s3.create_bucket(
                    Bucket=name, CreateBucketConfiguration={"LocationConstraint": constraint}
                )
            assert (http_status(caught.value), error_code(caught.value)) == (
                409,
                "BucketAlreadyOwnedByYou",
            )
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "us-west-1"
    finally:
        empty_and_delete_bucket(s3, name)


def test_another_users_bucket_name_is_still_taken(s3: BaseClient, cluster: Cluster) -> None:
    other = new_user(cluster, "taker").client
    name = unique_bucket_name("taken")
    s3.create_bucket(Bucket=name)
    try:
        with pytest.raises(ClientError) as caught:
            other.create_bucket(Bucket=name)
        assert (http_status(caught.value), error_code(caught.value)) == (
            409,
            "BucketAlreadyExists",
        )
    finally:
        other.close()
        empty_and_delete_bucket(s3, name)


@pytest.mark.parametrize("name", ["foo-.bar", "foo.-bar", "a-.b.c", "ab.-c"])
def test_labels_may_not_start_or_end_with_a_hyphen(s3: BaseClient, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name)
    assert (http_status(caught.value), error_code(caught.value)) == (400, "InvalidBucketName")


@pytest.mark.parametrize("name", ["foo-bar.baz", "foo.bar-baz", "a-b.c-d"])
def test_hyphens_inside_labels_are_fine(s3: BaseClient, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def test_preflight_without_cors_configuration(
    s3: BaseClient, cluster: Cluster, bucket: str
) -> None:
    """OPTIONS needs no signature; without Origin it is a bad request, with one it is refused
    because the bucket has no CORS configuration (or does not exist), as S3 answers."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    bare = raw_request(cluster, "OPTIONS", f"/{bucket}/k", signer=None)
    assert (bare.status, bare.error_code()) == (400, "BadRequest")
    # A presigned GET's query does not make OPTIONS authenticated: it is still a preflight.
    presigned = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=100_000
    )
    target = presigned.removeprefix(cluster.endpoint)
    assert raw_request(cluster, "OPTIONS", target, signer=None).status == 400
    preflight = raw_request(
        cluster,
        "OPTIONS",
        f"/{bucket}/k",
        {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        signer=None,
    )
    assert (preflight.status, preflight.error_code()) == (403, "AccessForbidden")
    assert preflight.header("Access-Control-Allow-Origin") is None
    missing = raw_request(
        cluster,
        "OPTIONS",
        f"/{unique_bucket_name('gone')}/k",
        {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        signer=None,
    )
    assert (missing.status, missing.error_code()) == (403, "AccessForbidden")
    assert missing.xml().findtext("Message") == "CORSResponse: Bucket not found"
    # The presigned GET itself works (100000 s is within the 7-day limit).
    get = raw_request(cluster, "GET", target, signer=None)
    assert (get.status, get.body) == (200, b"x")


def test_list_buckets_in_pages(cluster: Cluster) -> None:
    """max-buckets pages, continued with the opaque ContinuationToken; prefix filters."""
    pager = new_user(cluster, "pager")
    client = pager.client
    names = sorted(unique_bucket_name("page") for _ in range(3))
    try:
        assert client.list_buckets(MaxBuckets=1)["Buckets"] == []
        for name in names:
            client.create_bucket(Bucket=name)
        seen, token = [], None
        while True:
            page = client.list_buckets(
                MaxBuckets=2, **({"ContinuationToken": token} if token else {})
            )
            seen += [bucket["Name"] for bucket in page["Buckets"]]
            token = page.get("ContinuationToken")
            assert len(page["Buckets"]) == (2 if token else 1)
            if not token:
                break
        assert seen == names
        everything = client.list_buckets()
        assert [b["Name"] for b in everything["Buckets"]] == names
        assert "ContinuationToken" not in everything
        assert [b["Name"] for b in client.list_buckets(Prefix=names[1])["Buckets"]] == [names[1]]
        for bad in ("0", "10001", "x"):
            answer = raw_request(
                cluster,
                "GET",
                f"/?max-buckets={bad}",
                access_key=pager.access_key,
                secret_key=pager.secret_key,
            )
            assert (answer.status, answer.error_code()) == (400, "InvalidArgument"), bad
    finally:
        for name in names:
            empty_and_delete_bucket(client, name)
        client.close()


def test_expected_bucket_owner(s3: BaseClient, cluster: Cluster, bucket: str) -> None:
    """x-amz-expected-bucket-owner (and the copy source's): refused unless it names the owner."""
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=owner)
    assert s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner)["KeyCount"] == 1
    for call in (
        lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner + "x"),
        lambda: s3.put_object(Bucket=bucket, Key="j", Body=b"y", ExpectedBucketOwner="123"),
        lambda: s3.copy_object(
            Bucket=bucket,
            Key="c",
            CopySource={"Bucket": bucket, "Key": "k"},
            ExpectedSourceBucketOwner="someone-else",
        ),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert (http_status(caught.value), error_code(caught.value)) == (403, "AccessDenied")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
