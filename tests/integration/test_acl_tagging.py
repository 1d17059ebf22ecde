"""ACLs and tags against a real cluster (boto3, and raw requests shaped like s3cmd's), plus the
pure ACL parsing and rendering they rest on; and the bucket policy read that answers 404
when none is set."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import empty_and_delete_bucket, error_code, http_status, unique_bucket_name
from support.processes import Cluster
from support.signing import raw_request

from s3compat.api import errors
from s3compat.api.ops.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    LOG_DELIVERY,
    Grant,
    canned_grants,
    decode_acl,
    encode_grants,
    parse_grant_headers,
    parse_policy,
    render_policy,
)

XSI = "http://www.w3.org/2001/XMLSchema-instance"
S3 = "http://s3.amazonaws.com/doc/2006-03-01/"


def fails(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value), http_status(raised.value)


def policy_xml(owner: str, grants: str, *, namespace: bool = True) -> bytes:
    """An AccessControlPolicy as s3cmd writes it back (Owner without DisplayName)."""
    xmlns = f' xmlns="{S3}"' if namespace else ""
    return (
        f"<AccessControlPolicy{xmlns}><Owner><ID>{owner}</ID></Owner>"
        f"<AccessControlList>{grants}</AccessControlList></AccessControlPolicy>"
    ).encode()


def grant_xml(kind: str, tag: str, value: str, permission: str) -> str:
    return (
        f'<Grant><Grantee xmlns:xsi="{XSI}" xsi:type="{kind}"><{tag}>{value}</{tag}></Grantee>'
        f"<Permission>{permission}</Permission></Grant>"
    )


def grants_of(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, ID or URI, permission) of a GetBucketAcl/GetObjectAcl answer, sorted (the
    answer lists group grants first)."""
    return sorted(
        (g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"])
        for g in answer["Grants"]
    )


# --- pure: canned ACLs, parsing, rendering ------------------------------------------------


def test_canned_acls_expand_to_s3_grants() -> None:
    owner, other = "OWNER", "OTHER"
    assert canned_grants("private", owner, owner) == [Grant("CanonicalUser", owner, "FULL_CONTROL")]
    assert canned_grants("public-read-write", owner, owner)[1:] == [
        Grant("Group", ALL_USERS, "READ"),
        Grant("Group", ALL_USERS, "WRITE"),
    ]
    assert canned_grants("authenticated-read", owner, owner)[1:] == [
        Grant("Group", AUTHENTICATED_USERS, "READ")
    ]
    assert canned_grants("log-delivery-write", owner, owner)[1:] == [
        Grant("Group", LOG_DELIVERY, "WRITE"),
        Grant("Group", LOG_DELIVERY, "READ_ACP"),
    ]
    assert canned_grants("bucket-owner-full-control", owner, other)[1:] == [
        Grant("CanonicalUser", other, "FULL_CONTROL")
    ]
    assert len(canned_grants("bucket-owner-read", owner, owner)) == 1


def test_stored_forms() -> None:
    owner = "OWNER"
    assert decode_acl(None, owner, owner) == canned_grants("private", owner, owner)
    assert decode_acl("not-a-canned-acl", owner, owner) == canned_grants("private", owner, owner)
    assert decode_acl("public-read", owner, owner) == canned_grants("public-read", owner, owner)
    grants = [Grant("Group", ALL_USERS, "READ_ACP"), Grant("CanonicalUser", "X", "WRITE")]
    assert decode_acl(encode_grants(grants), owner, owner) == grants


def test_render_then_parse_round_trips() -> None:
    grants = [Grant("CanonicalUser", "OWNER", "FULL_CONTROL"), Grant("Group", ALL_USERS, "READ")]
    body = render_policy("OWNER", {"OWNER": "root"}, grants)
    root = ElementTree.fromstring(body)
    assert root.tag == f"{{{S3}}}AccessControlPolicy"
    assert root.findtext(f"{{{S3}}}Owner/{{{S3}}}DisplayName") == "root"
    grantees = root.findall(f".//{{{S3}}}Grantee")
    assert [g.get(f"{{{XSI}}}type") for g in grantees] == ["CanonicalUser", "Group"]
    assert grantees[0].findtext(f"{{{S3}}}DisplayName") == "root"
    parsed = parse_policy(body)
    assert parsed.owner_id == "OWNER"
    assert parsed.grants == grants


def test_parse_accepts_documents_without_namespace_or_owner() -> None:
    body = (
        b"<AccessControlPolicy><AccessControlList>"
        + grant_xml("Group", "URI", ALL_USERS, "READ").encode()
        + b"</AccessControlList></AccessControlPolicy>"
    )
    parsed = parse_policy(body)
    assert parsed.owner_id is None
    assert parsed.grants == [Grant("Group", ALL_USERS, "READ")]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not xml", errors.MalformedACLError),
        (b"<Policy/>", errors.MalformedACLError),
        (
            policy_xml("O", "").replace(b"<AccessControlList></AccessControlList>", b""),
            errors.MalformedACLError,
        ),
        (
            policy_xml("O", grant_xml("Group", "URI", ALL_USERS, "EVERYTHING")),
            errors.MalformedACLError,
        ),
        (policy_xml("O", grant_xml("Robot", "ID", "x", "READ")), errors.MalformedACLError),
        (policy_xml("O", grant_xml("CanonicalUser", "URI", "x", "READ")), errors.MalformedACLError),
        (
            policy_xml(
                "O", "<Grant><Grantee><ID>x</ID></Grantee><Permission>READ</Permission></Grant>"
            ),
            errors.MalformedACLError,
        ),
        # xsi:type without the xsi namespace declared is not well-formed XML
        (
            policy_xml(
                "O",
                '<Grant><Grantee xsi:type="Group"><URI>u</URI></Grantee>'
                "<Permission>READ</Permission></Grant>",
            ),
            errors.MalformedACLError,
        ),
    ],
)
def test_parse_refuses(body: bytes, error: type[errors.S3Error]) -> None:
    with pytest.raises(error):
        parse_policy(body)


def test_grant_headers() -> None:
    grants = parse_grant_headers(
        {
            "x-amz-grant-read": f'uri="{ALL_USERS}", id="ABC"',
            "x-amz-grant-write-acp": "emailAddress=a@b.c",
        }
    )
    assert grants == [
        Grant("Group", ALL_USERS, "READ"),
        Grant("CanonicalUser", "ABC", "READ"),
        Grant("AmazonCustomerByEmail", "a@b.c", "WRITE_ACP"),
    ]
    with pytest.raises(errors.InvalidArgument):
        parse_grant_headers({"x-amz-grant-read": "nobody"})


# --- ACLs on a cluster --------------------------------------------------------------------


def test_bucket_acl_defaults_to_private(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    answer = s3.get_bucket_acl(Bucket=bucket)
    assert answer["Owner"]["ID"] == cluster.access_key
    assert answer["Owner"]["DisplayName"]
    assert grants_of(answer) == [("CanonicalUser", cluster.access_key, "FULL_CONTROL")]
    assert answer["Grants"][0]["Grantee"]["DisplayName"] == answer["Owner"]["DisplayName"]


def test_put_bucket_acl_canned(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert grants_of(s3.get_bucket_acl(Bucket=bucket)) == [
        ("CanonicalUser", cluster.access_key, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
    ]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 1


def test_create_bucket_with_canned_acl(s3: BaseClient, cluster: Cluster) -> None:
    name = unique_bucket_name()
    s3.create_bucket(Bucket=name, ACL="authenticated-read")
    try:
        assert ("Group", AUTHENTICATED_USERS, "READ") in grants_of(s3.get_bucket_acl(Bucket=name))
    finally:
        empty_and_delete_bucket(s3, name)


def test_object_acl_canned_on_put_and_on_acl(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    answer = s3.get_object_acl(Bucket=bucket, Key="k")
    assert answer["Owner"]["ID"] == cluster.access_key
    assert ("Group", ALL_USERS, "READ") in grants_of(answer)
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="k")) == [
        ("CanonicalUser", cluster.access_key, "FULL_CONTROL")
    ]
    # The object's bytes and metadata are untouched by ACL changes.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_object_acl_policy_round_trip(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    current = s3.get_object_acl(Bucket=bucket, Key="k")
    policy = {
        "Owner": current["Owner"],
        "Grants": [
            *current["Grants"],
            {"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ_ACP"},
        ],
    }
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="k")) == [
        ("CanonicalUser", cluster.access_key, "FULL_CONTROL"),
        ("Group", AUTHENTICATED_USERS, "READ_ACP"),
    ]


def test_object_acl_grant_headers(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_acl(
        Bucket=bucket,
        Key="k",
        GrantFullControl=f'id="{cluster.access_key}"',
        GrantRead=f'uri="{ALL_USERS}"',
    )
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="k")) == [
        ("CanonicalUser", cluster.access_key, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
    ]


def test_s3cmd_style_read_modify_write(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    """s3cmd reads the ACL, adds a grant and PUTs the document back: lower-cased canonical
    IDs, no DisplayName, namespace on the root only."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = raw_request(cluster, "GET", f"/{bucket}/k?acl")
    assert answer.status == 200
    root = answer.xml()
    owner = root.findtext(f"{{{S3}}}Owner/{{{S3}}}ID")
    assert owner == cluster.access_key
    body = policy_xml(
        owner,
        grant_xml("CanonicalUser", "ID", owner.lower(), "FULL_CONTROL")
        + grant_xml("Group", "URI", ALL_USERS, "READ"),
    )
    put = raw_request(cluster, "PUT", f"/{bucket}/k?acl", {"Content-Type": "application/xml"}, body)
    assert put.status == 200, put.body
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="k")) == [
        ("CanonicalUser", cluster.access_key, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<AccessControlPolicy>", "MalformedACLError"),
        (b"<Nope/>", "MalformedACLError"),
        (policy_xml("{owner}", grant_xml("Group", "URI", ALL_USERS, "ALL")), "MalformedACLError"),
        (
            policy_xml(
                "{owner}", grant_xml("AmazonCustomerByEmail", "EmailAddress", "a@b.c", "READ")
            ),
            "UnresolvableGrantByEmailAddress",
        ),
        (
            policy_xml("{owner}", grant_xml("CanonicalUser", "ID", "NOBODY", "READ")),
            "InvalidArgument",
        ),
        (
            policy_xml("{owner}", grant_xml("Group", "URI", "http://example.com/g", "READ")),
            "InvalidArgument",
        ),
        (policy_xml("SOMEONEELSE", grant_xml("Group", "URI", ALL_USERS, "READ")), "AccessDenied"),
    ],
)
def test_put_acl_errors(
    s3: BaseClient, bucket: str, cluster: Cluster, body: bytes, code: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = body.replace(b"{owner}", cluster.access_key.encode())
    for target in (f"/{bucket}/k?acl", f"/{bucket}?acl"):
        answer = raw_request(cluster, "PUT", target, {"Content-Type": "application/xml"}, body)
        assert (answer.error_code(), answer.status) == (
            code,
            403 if code == "AccessDenied" else 400,
        )
    # Nothing was changed by the refused requests.
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 1
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 1


def test_put_acl_request_shape_errors(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    unknown = raw_request(cluster, "PUT", f"/{bucket}/k?acl", {"x-amz-acl": "everyone"})
    assert (unknown.error_code(), unknown.status) == ("InvalidArgument", 400)
    both = raw_request(
        cluster,
        "PUT",
        f"/{bucket}?acl",
        {"x-amz-acl": "private", "x-amz-grant-read": f'uri="{ALL_USERS}"'},
    )
    assert (both.error_code(), both.status) == ("InvalidRequest", 400)
    empty = raw_request(cluster, "PUT", f"/{bucket}?acl")
    assert (empty.error_code(), empty.status) == ("MalformedACLError", 400)


def test_acl_of_missing_things(s3: BaseClient, bucket: str) -> None:
    assert fails(lambda: s3.get_object_acl(Bucket=bucket, Key="nope")) == ("NoSuchKey", 404)
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="nope", ACL="private")) == (
        "NoSuchKey",
        404,
    )
    missing = unique_bucket_name()
    assert fails(lambda: s3.get_bucket_acl(Bucket=missing)) == ("NoSuchBucket", 404)
    assert fails(lambda: s3.put_bucket_acl(Bucket=missing, ACL="private")) == ("NoSuchBucket", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="k", VersionId="null")["Grants"]
    assert fails(lambda: s3.get_object_acl(Bucket=bucket, Key="k", VersionId="v1")) == (
        "InvalidArgument",
        400,
    )
    absent = "00000000ffffffff"  # well-formed, never handed out
    assert fails(lambda: s3.get_object_acl(Bucket=bucket, Key="k", VersionId=absent)) == (
        "NoSuchVersion",
        404,
    )


# --- object tagging -----------------------------------------------------------------------


def tag_set(pairs: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def test_object_tagging_round_trip(s3: BaseClient, bucket: str) -> None:
    # Tags from the x-amz-tagging header come back ordered by key; an XML TagSet's keep
    # their order.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="b=two%20words&a=1&c")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "two words"},
        {"Key": "c", "Value": ""},
    ]
    tags = {"env": "prod", "empty": "", "ünïcode": "välue <&>"}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == tag_set(tags)["TagSet"]
    assert (
        s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "3"
    )
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_object_tagging_limits(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(
        Bucket=bucket, Key="k", Tagging=tag_set({f"k{i}": "v" for i in range(10)})
    )
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"k" * 128: "v" * 256}))
    refused = [
        tag_set({f"k{i}": "v" for i in range(11)}),
        tag_set({"k" * 129: "v"}),
        tag_set({"k": "v" * 257}),
        {"TagSet": [{"Key": "same", "Value": "1"}, {"Key": "same", "Value": "2"}]},
    ]
    for tagging in refused:
        with pytest.raises(ClientError) as raised:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagging)
        assert (error_code(raised.value), http_status(raised.value)) == ("InvalidTag", 400)
    assert len(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == 1


def test_object_tagging_errors(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    assert fails(lambda: s3.get_object_tagging(Bucket=bucket, Key="nope")) == ("NoSuchKey", 404)
    assert fails(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=tag_set({"a": "b"}))
    ) == ("NoSuchKey", 404)
    assert fails(lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")) == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    empty_key = b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>"
    answer = raw_request(cluster, "PUT", f"/{bucket}/k?tagging", {}, empty_key)
    assert (answer.error_code(), answer.status) == ("InvalidTag", 400)
    for body in (
        b"<Tagging/>",
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
        b"x",
    ):
        answer = raw_request(cluster, "PUT", f"/{bucket}/k?tagging", {}, body)
        assert (answer.error_code(), answer.status) == ("MalformedXML", 400)


# --- bucket tagging -----------------------------------------------------------------------


def test_bucket_tagging_round_trip(s3: BaseClient, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)
    tags = {f"key{i}": f"value{i}" for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(tags))
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(tags)["TagSet"]
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"only": "one"}))
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "one"}]
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)


def test_bucket_tagging_errors(s3: BaseClient, bucket: str) -> None:
    too_many = tag_set({f"k{i}": "v" for i in range(51)})
    assert fails(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=too_many)) == (
        "InvalidTag",
        400,
    )
    missing = unique_bucket_name()
    assert fails(lambda: s3.get_bucket_tagging(Bucket=missing)) == ("NoSuchBucket", 404)
    assert fails(lambda: s3.put_bucket_tagging(Bucket=missing, Tagging=tag_set({"a": "b"}))) == (
        "NoSuchBucket",
        404,
    )


def test_bucket_configuration_goes_with_the_bucket(s3: BaseClient) -> None:
    name = unique_bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging=tag_set({"a": "b"}))
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert fails(lambda: s3.get_bucket_tagging(Bucket=name)) == ("NoSuchTagSet", 404)
    finally:
        empty_and_delete_bucket(s3, name)


# --- what stays unset ---------------------------------------------------------------------


def test_no_policy_reads_404(s3: BaseClient, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_policy(Bucket=bucket)) == ("NoSuchBucketPolicy", 404)
    assert fails(lambda: s3.get_bucket_policy(Bucket=unique_bucket_name())) == (
        "NoSuchBucket",
        404,
    )
    assert fails(lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{}")) == (
        "MalformedPolicy",
        400,
    )
    assert fails(lambda: s3.get_bucket_website(Bucket=bucket)) == ("NotImplemented", 501)
