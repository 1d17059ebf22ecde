"""The ACL a write asks for in its headers: `x-amz-acl` (a canned ACL) or `x-amz-grant-*`.

PutObject, CopyObject, CreateMultipartUpload, CreateBucket and Put*Acl accept either (not
both). Grantees are canonical users (our canonical user ID is the access key) and the S3
groups; a grant by e-mail address cannot be resolved here (users have no e-mail address).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from s3compat.api import errors
from s3compat.api.app import Ctx
from s3compat.api.auth.access import (
    BY_EMAIL,
    CANNED_ACLS,
    CANONICAL_USER,
    FULL_CONTROL,
    GROUP,
    GROUPS,
    READ,
    READ_ACP,
    WRITE,
    WRITE_ACP,
    Grant,
    check_settable_acl,
    decode_acl,
    encode_grants,
    only_owner_full_control,
)
from s3compat.api.auth.controls import ObjectOwnership, owner_of_write

OWNERSHIP_HEADER = "x-amz-object-ownership"
# x-amz-grant-* header -> the permission it grants.
GRANT_HEADERS = {
    "x-amz-grant-full-control": FULL_CONTROL,
    "x-amz-grant-read": READ,
    "x-amz-grant-write": WRITE,
    "x-amz-grant-read-acp": READ_ACP,
    "x-amz-grant-write-acp": WRITE_ACP,
}
_GRANT_ITEM = re.compile(r'^\s*(id|uri|emailAddress)\s*=\s*(?:"([^"]*)"|([^",]*))\s*$')
_GRANTEE_KINDS = {"id": CANONICAL_USER, "uri": GROUP, "emailAddress": BY_EMAIL}


def canned_acl(headers: Mapping[str, str]) -> str | None:
    """The request's `x-amz-acl`, which must name a canned ACL."""
    acl = headers.get("x-amz-acl")
    if acl is not None and acl not in CANNED_ACLS:
        raise errors.InvalidArgument(ArgumentName="x-amz-acl", ArgumentValue=acl)
    return acl


def parse_grant_headers(headers: Mapping[str, str]) -> list[Grant]:
    """The grants of x-amz-grant-* headers, in the order they came: `id="..."`, `uri="..."`,
    `emailAddress="..."`, comma-separated."""
    grants = []
    for header, value in headers.items():
        permission = GRANT_HEADERS.get(header.lower())
        if permission is None:
            continue
        for item in value.split(","):
            match = _GRANT_ITEM.match(item)
            if match is None:
                raise errors.InvalidArgument(
                    f"Invalid grant in {header}", ArgumentName=header, ArgumentValue=value
                )
            grantee = (match.group(2) or match.group(3) or "").strip()
            grants.append(Grant(_GRANTEE_KINDS[match.group(1)], grantee, permission))
    return grants


async def resolve_grants(ctx: Ctx, grants: Iterable[Grant]) -> list[Grant]:
    """Check every grantee exists; canonical IDs take their stored spelling. Duplicates go."""
    resolved: list[Grant] = []
    for grant in grants:
        if grant.kind == BY_EMAIL:
            raise errors.UnresolvableGrantByEmailAddress(EmailAddress=grant.grantee)
        if grant.kind == GROUP and grant.grantee not in GROUPS:
            raise errors.InvalidArgument("Invalid group uri", ArgumentName="uri")
        if grant.kind == CANONICAL_USER:
            user = await ctx.buckets.user_by_id(grant.grantee)
            if user is None:
                raise errors.InvalidArgument("Invalid id", ArgumentName="CanonicalUser/ID")
            grant = Grant(CANONICAL_USER, user.access_key, grant.permission)
        if grant not in resolved:
            resolved.append(grant)
    return resolved


async def requested_acl(ctx: Ctx, headers: Mapping[str, str] | None = None) -> str | None:
    """The stored form (a canned name or a JSON grant list) of the ACL the request's headers
    (or `headers`, a browser form's fields) ask for; None if they ask for none."""
    if headers is None:
        headers = ctx.request.headers
    canned = canned_acl(headers)
    grants = parse_grant_headers(headers)
    if canned is not None and grants:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if grants:
        return encode_grants(await resolve_grants(ctx, grants))
    return canned


async def write_acl(ctx: Ctx, headers: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """An object write's ACL (as `requested_acl`, checked against the bucket's ownership
    setting and public access block: `access.check_settable_acl`) and the object's owner."""
    if headers is None:
        headers = ctx.request.headers
    acl = await requested_acl(ctx, headers)
    bucket = ctx.bucket_record
    assert bucket is not None
    owner = owner_of_write(bucket, ctx.writer, canned_acl(headers))
    return check_settable_acl(bucket, acl, owner), owner


def creation_ownership(headers: Mapping[str, str], acl: str | None, owner: str) -> str | None:
    """CreateBucket's `x-amz-object-ownership` (None: none asked), checked against the ACL
    the bucket is created with (`acl`, stored form; `owner`: the creator)."""
    setting = headers.get(OWNERSHIP_HEADER)
    if setting is None:
        return None
    if setting not in tuple(ObjectOwnership):
        raise errors.InvalidArgument(
            "Invalid x-amz-object-ownership header",
            ArgumentName=OWNERSHIP_HEADER,
            ArgumentValue=setting,
        )
    if setting == ObjectOwnership.BUCKET_OWNER_ENFORCED and acl is not None:
        if not only_owner_full_control(decode_acl(acl, owner, owner), owner):
            raise errors.InvalidBucketAclWithObjectOwnership()
    return setting
