"""The public access block and object ownership as pure rules: their documents parsed and
rendered, which ACLs a write may set (`check_settable_acl`), who owns a write, and what the
access rule lets through under each flag and setting."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from s3compat.api import errors
from s3compat.api.auth.access import Grant, check_access, check_settable_acl, encode_grants
from s3compat.api.auth.controls import PublicAccessBlock, owner_of_write
from s3compat.api.operations import Op
from s3compat.api.ops.controls import (
    parse_ownership,
    parse_public_access_block,
    render_ownership,
    render_public_access_block,
)
from s3compat.records import BucketRecord, ObjectRecord

BUCKET = BucketRecord("b", "OWNER", 0.0, "us-east-1")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
PUBLIC_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            }
        ],
    }
)


def blocked(**flags: bool) -> BucketRecord:
    return replace(BUCKET, public_access_block=PublicAccessBlock(**flags).to_json())


def test_public_access_block_document_round_trips() -> None:
    body = (
        b'<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<BlockPublicAcls>TRUE</BlockPublicAcls><RestrictPublicBuckets>false"
        b"</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
    )
    stored = parse_public_access_block(body)
    assert PublicAccessBlock(block_public_acls=True).to_json() == stored
    rendered = render_public_access_block(stored)
    assert b"<BlockPublicAcls>true</BlockPublicAcls>" in rendered
    assert b"<IgnorePublicAcls>false</IgnorePublicAcls>" in rendered
    assert parse_public_access_block(rendered) == stored


@pytest.mark.parametrize(
    "body",
    [
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>1</BlockPublicAcls>"
        b"</PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><Extra>true</Extra></PublicAccessBlockConfiguration>",
        b"<OwnershipControls/>",
    ],
)
def test_bad_public_access_blocks_are_malformed(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        parse_public_access_block(body)


def test_ownership_document() -> None:
    body = (
        b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
        b"</OwnershipControls>"
    )
    assert parse_ownership(body) == "ObjectWriter"
    assert parse_ownership(render_ownership("BucketOwnerEnforced")) == "BucketOwnerEnforced"
    with pytest.raises(errors.MalformedXML):
        parse_ownership(body.replace(b"ObjectWriter", b"Nobody"))


def test_block_public_acls_refuses_public_acls_only() -> None:
    bucket = blocked(block_public_acls=True)
    for canned in ("public-read", "public-read-write", "authenticated-read"):
        with pytest.raises(errors.AccessDenied):
            check_settable_acl(bucket, canned, "OWNER")
    public = encode_grants([Grant("Group", ALL_USERS, "READ")])
    with pytest.raises(errors.AccessDenied):
        check_settable_acl(bucket, public, "OWNER")
    for allowed in (None, "private", "bucket-owner-read", "log-delivery-write"):
        assert check_settable_acl(bucket, allowed, "OWNER") == allowed
    assert check_settable_acl(BUCKET, "public-read", "OWNER") == "public-read"


def test_acls_disabled_accept_only_the_owners_full_control() -> None:
    bucket = replace(BUCKET, ownership="BucketOwnerEnforced")
    assert check_settable_acl(bucket, None, "WRITER") is None
    assert check_settable_acl(bucket, "bucket-owner-full-control", "WRITER") is None
    owners = encode_grants([Grant("CanonicalUser", "OWNER", "FULL_CONTROL")])
    assert check_settable_acl(bucket, owners, "OWNER") is None
    for refused in ("private", "public-read", encode_grants([Grant("Group", ALL_USERS, "READ")])):
        with pytest.raises(errors.AccessControlListNotSupported):
            check_settable_acl(bucket, refused, "OWNER")


@pytest.mark.parametrize(
    ("ownership", "canned", "owner"),
    [
        (None, "bucket-owner-full-control", "WRITER"),
        ("ObjectWriter", "bucket-owner-full-control", "WRITER"),
        ("BucketOwnerPreferred", "bucket-owner-full-control", "OWNER"),
        ("BucketOwnerPreferred", "private", "WRITER"),
        ("BucketOwnerPreferred", None, "WRITER"),
        ("BucketOwnerEnforced", None, "OWNER"),
    ],
)
def test_owner_of_write(ownership: str | None, canned: str | None, owner: str) -> None:
    assert owner_of_write(replace(BUCKET, ownership=ownership), "WRITER", canned) == owner


def test_ignore_public_acls_and_disabled_acls() -> None:
    record = ObjectRecord("b", "k", 1, '"e"', 0.0, "OWNER", {}, acl="public-read")
    public_bucket = replace(BUCKET, acl="public-read")
    check_access(Op.GetObject, None, public_bucket, record, "k")
    check_access(Op.ListObjectsV2, None, public_bucket)
    for bucket in (
        replace(blocked(ignore_public_acls=True), acl="public-read"),
        replace(public_bucket, ownership="BucketOwnerEnforced"),
    ):
        with pytest.raises(errors.AccessDenied):
            check_access(Op.GetObject, None, bucket, record, "k")
        with pytest.raises(errors.AccessDenied):
            check_access(Op.ListObjectsV2, None, bucket)


def test_object_writer_keeps_others_objects_from_the_bucket_owner() -> None:
    theirs = ObjectRecord("b", "k", 1, '"e"', 0.0, "WRITER", {})
    check_access(Op.GetObject, "OWNER", BUCKET, theirs, "k")  # no setting: the older rule
    for ownership in ("ObjectWriter", "BucketOwnerPreferred"):
        bucket = replace(BUCKET, ownership=ownership)
        with pytest.raises(errors.AccessDenied):
            check_access(Op.GetObject, "OWNER", bucket, theirs, "k")
        check_access(Op.GetObject, "WRITER", bucket, theirs, "k")
        check_access(Op.DeleteObject, "OWNER", bucket, None, "k")
    enforced = replace(BUCKET, ownership="BucketOwnerEnforced")
    check_access(Op.GetObject, "OWNER", enforced, theirs, "k")
    with pytest.raises(errors.AccessDenied):
        check_access(Op.GetObject, "WRITER", enforced, theirs, "k")


def test_restrict_public_buckets_leaves_the_public_policy_to_the_owner() -> None:
    record = ObjectRecord("b", "k", 1, '"e"', 0.0, "OWNER", {})
    open_bucket = replace(BUCKET, policy=PUBLIC_POLICY)
    check_access(Op.GetObject, None, open_bucket, record, "k")
    restricted = replace(blocked(restrict_public_buckets=True), policy=PUBLIC_POLICY)
    for principal in (None, "OTHER"):
        with pytest.raises(errors.AccessDenied):
            check_access(Op.GetObject, principal, restricted, record, "k")
    check_access(Op.GetObject, "OWNER", restricted, record, "k")
