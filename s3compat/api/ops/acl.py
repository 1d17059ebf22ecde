"""Access control documents: Get/PutBucketAcl and Get/PutObjectAcl.

ACLs are stored with their bucket or object and enforced by the access rule of
`api/auth/access.py` (which also holds the ACL model: grants, canned ACLs, the stored form).
Clients that read an ACL and write it back (s3cmd `cp`, `mv`, `modify`, `setacl`) and tools
that set canned ACLs (`--acl-public`, `x-amz-acl`) read back what they set.

CORS configurations are in `ops/cors.py`, bucket policies in `ops/policy.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from lxml import etree

from s3compat.api import errors
from s3compat.api.aclheaders import (
    canned_acl,
    parse_grant_headers,
    resolve_grants,
)
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth.access import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    BY_EMAIL,
    CANONICAL_USER,
    GROUP,
    LOG_DELIVERY,
    PERMISSIONS,
    Grant,
    canned_grants,
    check_settable_acl,
    decode_acl,
    encode_grants,
)
from s3compat.api.auth.controls import acls_disabled, object_owner
from s3compat.api.body import read_document
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.object import version_asked
from s3compat.api.xml import S3_NS, XML_DECLARATION, child_text, children, local, parse_xml

# The ACL model lives in `auth/access.py`; these names stay importable from here too.
__all__ = [
    "ALL_USERS",
    "AUTHENTICATED_USERS",
    "HANDLERS",
    "LOG_DELIVERY",
    "Grant",
    "canned_grants",
    "decode_acl",
    "encode_grants",
    "parse_grant_headers",
    "parse_policy",
    "render_policy",
]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_GRANTS = 100


# --- the wire -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A parsed AccessControlPolicy body: its owner ID (if given) and grants, not yet resolved."""

    owner_id: str | None
    grants: list[Grant]


def parse_policy(body: bytes) -> Policy:
    """Parse an AccessControlPolicy document; errors.MalformedACLError if it is not well-formed XML
    or not an ACL (S3 answers that code for both)."""
    try:
        document = parse_xml(body)
    except errors.MalformedXML as error:
        raise errors.MalformedACLError() from error
    if local(document) != "AccessControlPolicy":
        raise errors.MalformedACLError()
    owner_id = None
    owners = children(document, "Owner")
    if len(owners) > 1:
        raise errors.MalformedACLError()
    if owners:
        owner_id = (child_text(owners[0], "ID") or "").strip() or None
    lists = children(document, "AccessControlList")
    if len(lists) != 1:
        raise errors.MalformedACLError()
    grants = [_parse_grant(element) for element in children(lists[0], "Grant")]
    if len(grants) > MAX_GRANTS:
        raise errors.MalformedACLError(f"An ACL may hold at most {MAX_GRANTS} grants")
    return Policy(owner_id, grants)


def _parse_grant(element: etree._Element) -> Grant:
    grantees = children(element, "Grantee")
    permission = (child_text(element, "Permission") or "").strip()
    if len(grantees) != 1 or permission not in PERMISSIONS:
        raise errors.MalformedACLError()
    grantee = grantees[0]
    kind = grantee.get(f"{{{XSI_NS}}}type")
    if kind == CANONICAL_USER:
        value = (child_text(grantee, "ID") or "").strip()
    elif kind == GROUP:
        value = (child_text(grantee, "URI") or "").strip()
    elif kind == BY_EMAIL:
        value = (child_text(grantee, "EmailAddress") or "").strip()
    else:
        raise errors.MalformedACLError()
    if not value:
        raise errors.MalformedACLError()
    return Grant(kind, value, permission)


def render_policy(owner_id: str, names: Mapping[str, str], grants: Iterable[Grant]) -> bytes:
    """A full AccessControlPolicy document; `names` maps canonical user IDs to display names.
    Grants are listed in the order given."""
    root = etree.Element(_s3("AccessControlPolicy"), nsmap={None: S3_NS})  # type: ignore[dict-item]
    owner = etree.SubElement(root, _s3("Owner"))
    etree.SubElement(owner, _s3("ID")).text = owner_id
    etree.SubElement(owner, _s3("DisplayName")).text = names.get(owner_id, owner_id)
    acl = etree.SubElement(root, _s3("AccessControlList"))
    for grant in grants:
        element = etree.SubElement(acl, _s3("Grant"))
        grantee = etree.SubElement(element, _s3("Grantee"), nsmap={"xsi": XSI_NS})
        grantee.set(f"{{{XSI_NS}}}type", grant.kind)
        if grant.kind == CANONICAL_USER:
            etree.SubElement(grantee, _s3("ID")).text = grant.grantee
            etree.SubElement(grantee, _s3("DisplayName")).text = names.get(
                grant.grantee, grant.grantee
            )
        else:
            etree.SubElement(grantee, _s3("URI")).text = grant.grantee
        etree.SubElement(element, _s3("Permission")).text = grant.permission
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _s3(name: str) -> str:
    return f"{{{S3_NS}}}{name}"


# --- handlers -----------------------------------------------------------------------------


async def _requested_acl(ctx: Ctx, owner: str) -> str:
    """What a PUT ?acl asks for, validated, in the stored form (a canned name or JSON)."""
    headers = ctx.request.headers
    canned = canned_acl(headers)
    header_grants = parse_grant_headers(headers)
    body = await read_document(ctx.request, ctx.auth) if ctx.request.body_exists else b""
    if canned is not None and header_grants:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if body.strip() and (canned is not None or header_grants):
        raise errors.UnexpectedContent()
    if canned is not None:
        return canned
    if header_grants:
        grants = header_grants
    elif body.strip():
        policy = parse_policy(body)
        if policy.owner_id is not None and policy.owner_id.lower() != owner.lower():
            raise errors.AccessDenied("The ACL's owner is not the owner of the resource")
        grants = policy.grants
    else:
        raise errors.MalformedACLError(
            "Give x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy"
        )
    return encode_grants(await resolve_grants(ctx, grants))


async def _acl_response(ctx: Ctx, owner: str, grants: Sequence[Grant]) -> web.Response:
    """Get*Acl's answer. Group grants are listed before user grants (each kind in stored
    order): an ACL is a set, and this is the order the ceph s3-tests suite reads."""
    names = await ctx.buckets.display_names(
        [owner, *(g.grantee for g in grants if g.kind == CANONICAL_USER)]
    )
    listed = sorted(grants, key=lambda grant: grant.kind != GROUP)
    return xml_response(render_policy(owner, names, listed))


# With ACLs disabled (BucketOwnerEnforced) an ACL is read as the bucket owner's full control,
# whatever is stored, and setting one is refused unless it is that (`check_settable_acl`), in
# which case nothing is stored: the old ACL comes back if ACLs are enabled again, as on S3.


async def get_bucket_acl(ctx: Ctx) -> web.StreamResponse:
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    stored = None if acls_disabled(bucket) else bucket.acl
    return await _acl_response(ctx, bucket.owner, decode_acl(stored, bucket.owner, bucket.owner))


async def put_bucket_acl(ctx: Ctx) -> web.StreamResponse:
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    acl = check_settable_acl(bucket, await _requested_acl(ctx, bucket.owner), bucket.owner)
    if not acls_disabled(bucket):
        await ctx.buckets.set_acl(ctx.bucket, acl)
    return web.Response(status=200)


async def get_object_acl(ctx: Ctx) -> web.StreamResponse:
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    owner = object_owner(bucket, record.owner)
    stored = None if acls_disabled(bucket) else record.acl
    return await _acl_response(ctx, owner, decode_acl(stored, owner, bucket.owner))


async def put_object_acl(ctx: Ctx) -> web.StreamResponse:
    version = version_asked(ctx)
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version)
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    owner = object_owner(bucket, record.owner)
    acl = check_settable_acl(bucket, await _requested_acl(ctx, owner), owner)
    if not acls_disabled(bucket):
        await ctx.objects.set_acl(ctx.bucket, ctx.key, acl, version)
    return web.Response(status=200)


HANDLERS: dict[Op, Handler] = {
    Op.GetBucketAcl: get_bucket_acl,
    Op.PutBucketAcl: put_bucket_acl,
    Op.GetObjectAcl: get_object_acl,
    Op.PutObjectAcl: put_object_acl,
}
