"""Access control documents: Get/PutBucketAcl, Get/PutObjectAcl, and GetBucketPolicy/GetBucketCors.

ACLs are stored and answered, not enforced: every request is still allowed for the owner of the
bucket only (`ObjectStore.bucket`), whatever grants an ACL holds. They exist so that clients that
read an ACL and write it back (s3cmd `cp`, `mv`, `modify`, `setacl`) and tools that set canned
ACLs (`--acl-public`, `x-amz-acl`) work, and so that what they set is what they read.

An ACL is kept in the `acl` column of its bucket or object: NULL (private), a canned ACL name,
or a JSON list of grants. Canned ACLs are expanded when answered, against the current owner.
Grantees are canonical users (our canonical user ID is the access key) and the three S3 groups;
grants by e-mail address cannot be resolved (`UnresolvableGrantByEmailAddress`).

Bucket policies and CORS configurations cannot be set (PutBucketPolicy/PutBucketCors are 501),
so reading one answers what S3 answers for a bucket that has none: 404 `NoSuchBucketPolicy` /
`NoSuchCORSConfiguration`. `s3cmd info` accepts 404 and 501 alike; aws CLI and SDK users get
S3's own answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from lxml import etree

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.objectmeta import CANNED_ACLS
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.object import check_version_id
from s3compat.api.xml import S3_NS, XML_DECLARATION, child_text, children, local, parse_xml
from s3compat.catalog.bucketconfig import BucketConfigCatalog

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
CANONICAL_USER = "CanonicalUser"
GROUP = "Group"
BY_EMAIL = "AmazonCustomerByEmail"
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
MAX_GRANTS = 100
# x-amz-grant-* header -> the permission it grants.
GRANT_HEADERS = {
    "x-amz-grant-full-control": "FULL_CONTROL",
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
}
_GRANT_ITEM = re.compile(r'^\s*(id|uri|emailAddress)\s*=\s*(?:"([^"]*)"|([^",]*))\s*$')


class MalformedACLError(errors.S3Error):
    code = "MalformedACLError"
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class UnresolvableGrantByEmailAddress(errors.S3Error):
    code = "UnresolvableGrantByEmailAddress"
    status = 400
    message = "The e-mail address you provided does not match any account on record."


class NoSuchBucketPolicy(errors.S3Error):
    code = "NoSuchBucketPolicy"
    status = 404
    message = "The bucket policy does not exist"


class NoSuchCORSConfiguration(errors.S3Error):
    code = "NoSuchCORSConfiguration"
    status = 404
    message = "The CORS configuration does not exist"


@dataclass(frozen=True)
class Grant:
    """One ACL entry. `grantee` is a canonical user ID (`kind` "CanonicalUser") or a group URI
    (`kind` "Group")."""

    kind: str
    grantee: str
    permission: str


# --- canned ACLs and the stored form ------------------------------------------------------


def canned_grants(name: str, owner: str, bucket_owner: str) -> list[Grant]:
    """The grants a canned ACL stands for; `bucket_owner` matters for the bucket-owner-* ones.

    aws-exec-read also lets EC2 read AMI bundles in S3; there is no EC2 here, so it is
    answered as the owner's FULL_CONTROL alone.
    """
    grants = [Grant(CANONICAL_USER, owner, "FULL_CONTROL")]
    if name == "public-read":
        grants.append(Grant(GROUP, ALL_USERS, "READ"))
    elif name == "public-read-write":
        grants += [Grant(GROUP, ALL_USERS, "READ"), Grant(GROUP, ALL_USERS, "WRITE")]
    elif name == "authenticated-read":
        grants.append(Grant(GROUP, AUTHENTICATED_USERS, "READ"))
    elif name == "log-delivery-write":
        grants += [Grant(GROUP, LOG_DELIVERY, "WRITE"), Grant(GROUP, LOG_DELIVERY, "READ_ACP")]
    elif name == "bucket-owner-read" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, "READ"))
    elif name == "bucket-owner-full-control" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, "FULL_CONTROL"))
    return grants


def encode_grants(grants: Sequence[Grant]) -> str:
    """The `acl` column's text for an explicit grant list."""
    return json.dumps(
        [{"kind": g.kind, "grantee": g.grantee, "permission": g.permission} for g in grants]
    )


def decode_acl(stored: str | None, owner: str, bucket_owner: str) -> list[Grant]:
    """The grants of a stored ACL. NULL, and a name that is no canned ACL, mean private."""
    if stored is not None and stored.startswith("["):
        return [Grant(g["kind"], g["grantee"], g["permission"]) for g in json.loads(stored)]
    name = stored if stored in CANNED_ACLS else "private"
    return canned_grants(name, owner, bucket_owner)


# --- the wire -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A parsed AccessControlPolicy body: its owner ID (if given) and grants, not yet resolved."""

    owner_id: str | None
    grants: list[Grant]


def parse_policy(body: bytes) -> Policy:
    """Parse an AccessControlPolicy document; MalformedXML if it is not XML, MalformedACLError
    if it is not an ACL."""
    document = parse_xml(body)
    if local(document) != "AccessControlPolicy":
        raise MalformedACLError()
    owner_id = None
    owners = children(document, "Owner")
    if len(owners) > 1:
        raise MalformedACLError()
    if owners:
        owner_id = (child_text(owners[0], "ID") or "").strip() or None
    lists = children(document, "AccessControlList")
    if len(lists) != 1:
        raise MalformedACLError()
    grants = [_parse_grant(element) for element in children(lists[0], "Grant")]
    if len(grants) > MAX_GRANTS:
        raise MalformedACLError(f"An ACL may hold at most {MAX_GRANTS} grants")
    return Policy(owner_id, grants)


def _parse_grant(element: etree._Element) -> Grant:
    grantees = children(element, "Grantee")
    permission = (child_text(element, "Permission") or "").strip()
    if len(grantees) != 1 or permission not in PERMISSIONS:
        raise MalformedACLError()
    grantee = grantees[0]
    kind = grantee.get(f"{{{XSI_NS}}}type")
    if kind == CANONICAL_USER:
        value = (child_text(grantee, "ID") or "").strip()
    elif kind == GROUP:
        value = (child_text(grantee, "URI") or "").strip()
    elif kind == BY_EMAIL:
        value = (child_text(grantee, "EmailAddress") or "").strip()
    else:
        raise MalformedACLError()
    if not value:
        raise MalformedACLError()
    return Grant(kind, value, permission)


def parse_grant_headers(headers: Mapping[str, str]) -> list[Grant]:
    """The grants of x-amz-grant-* headers: `id="..."`, `uri="..."`, `emailAddress="..."`,
    comma-separated."""
    grants = []
    for header, permission in GRANT_HEADERS.items():
        value = headers.get(header)
        if value is None:
            continue
        for item in value.split(","):
            match = _GRANT_ITEM.match(item)
            if match is None:
                raise errors.InvalidArgument(
                    f"Invalid grant in {header}", ArgumentName=header, ArgumentValue=value
                )
            kind, grantee = match.group(1), (match.group(2) or match.group(3) or "").strip()
            kinds = {"id": CANONICAL_USER, "uri": GROUP, "emailAddress": BY_EMAIL}
            grants.append(Grant(kinds[kind], grantee, permission))
    return grants


def render_policy(owner_id: str, names: Mapping[str, str], grants: Iterable[Grant]) -> bytes:
    """A full AccessControlPolicy document; `names` maps canonical user IDs to display names."""
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
    canned = headers.get("x-amz-acl")
    header_grants = parse_grant_headers(headers)
    body = await read_document(ctx.request, ctx.auth) if ctx.request.body_exists else b""
    if canned is not None and header_grants:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if body.strip() and (canned is not None or header_grants):
        raise errors.UnexpectedContent()
    if canned is not None:
        if canned not in CANNED_ACLS:
            raise errors.InvalidArgument(ArgumentName="x-amz-acl", ArgumentValue=canned)
        return canned
    if header_grants:
        grants = header_grants
    elif body.strip():
        policy = parse_policy(body)
        if policy.owner_id is not None and policy.owner_id.lower() != owner.lower():
            raise errors.AccessDenied("The ACL's owner is not the owner of the resource")
        grants = policy.grants
    else:
        raise MalformedACLError("Give x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy")
    return encode_grants(await _resolve(ctx, grants))


async def _resolve(ctx: Ctx, grants: Iterable[Grant]) -> list[Grant]:
    """Check every grantee exists; canonical IDs take their stored spelling. Duplicates go."""
    users = BucketConfigCatalog(ctx.store.catalog.db)
    resolved: list[Grant] = []
    for grant in grants:
        if grant.kind == BY_EMAIL:
            raise UnresolvableGrantByEmailAddress(EmailAddress=grant.grantee)
        if grant.kind == GROUP and grant.grantee not in GROUPS:
            raise errors.InvalidArgument("Invalid group uri", ArgumentName="uri")
        if grant.kind == CANONICAL_USER:
            user = await users.find_user(grant.grantee)
            if user is None:
                raise errors.InvalidArgument("Invalid id", ArgumentName="CanonicalUser/ID")
            grant = Grant(CANONICAL_USER, user.access_key, grant.permission)
        if grant not in resolved:
            resolved.append(grant)
    return resolved


async def _acl_response(ctx: Ctx, owner: str, grants: Sequence[Grant]) -> web.Response:
    names = {}
    for user_id in {owner, *(g.grantee for g in grants if g.kind == CANONICAL_USER)}:
        user = await ctx.store.catalog.get_user(user_id)
        if user is not None:
            names[user_id] = user.name
    return xml_response(render_policy(owner, names, grants))


async def get_bucket_acl(ctx: Ctx) -> web.StreamResponse:
    bucket = await ctx.store.bucket(ctx.bucket, ctx.principal)
    return await _acl_response(
        ctx, bucket.owner, decode_acl(bucket.acl, bucket.owner, bucket.owner)
    )


async def put_bucket_acl(ctx: Ctx) -> web.StreamResponse:
    bucket = await ctx.store.bucket(ctx.bucket, ctx.principal)
    await ctx.store.catalog.set_bucket_acl(ctx.bucket, await _requested_acl(ctx, bucket.owner))
    return web.Response(status=200)


async def get_object_acl(ctx: Ctx) -> web.StreamResponse:
    check_version_id(ctx)
    bucket = await ctx.store.bucket(ctx.bucket, ctx.principal)
    record = await ctx.store.head_object(ctx.bucket, ctx.key, ctx.principal)
    grants = decode_acl(record.acl, record.owner, bucket.owner)
    return await _acl_response(ctx, record.owner, grants)


async def put_object_acl(ctx: Ctx) -> web.StreamResponse:
    check_version_id(ctx)
    record = await ctx.store.head_object(ctx.bucket, ctx.key, ctx.principal)
    acl = await _requested_acl(ctx, record.owner)
    if not await ctx.store.catalog.update_object(ctx.bucket, ctx.key, acl=acl):
        raise errors.NoSuchKey(Key=ctx.key)
    return web.Response(status=200)


async def get_bucket_policy(ctx: Ctx) -> web.StreamResponse:
    await ctx.store.bucket(ctx.bucket, ctx.principal)
    raise NoSuchBucketPolicy(BucketName=ctx.bucket)


async def get_bucket_cors(ctx: Ctx) -> web.StreamResponse:
    await ctx.store.bucket(ctx.bucket, ctx.principal)
    raise NoSuchCORSConfiguration(BucketName=ctx.bucket)


HANDLERS: dict[str, Handler] = {
    "GetBucketAcl": get_bucket_acl,
    "PutBucketAcl": put_bucket_acl,
    "GetObjectAcl": get_object_acl,
    "PutObjectAcl": put_object_acl,
    "GetBucketPolicy": get_bucket_policy,
    "GetBucketCors": get_bucket_cors,
}
