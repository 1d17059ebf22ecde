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
    encode_grants,
)

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
