"""Bucket versioning (Get/PutBucketVersioning) and ListObjectVersions.

A bucket's versioning is never enabled (every key has one version, the null version), Enabled
(every write makes a new version, a delete without a version id writes a delete marker) or
Suspended (writes make the null version again, replacing the previous null version); see
`catalog/versionrows.py` for how versions are kept.
"""

from __future__ import annotations

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.listing import contents, encoder, max_keys_of, owner_names
from s3compat.api.xml import Node, child_text, local, parse_xml, to_xml
from s3compat.store.versions import VersionListing, version_token


async def get_bucket_versioning(ctx: Ctx) -> web.StreamResponse:
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    # Never enabled: the empty document says "versioning was never turned on".
    status = [] if bucket.versioning is None else [("Status", bucket.versioning)]
    return xml_response(to_xml("VersioningConfiguration", status))


async def put_bucket_versioning(ctx: Ctx) -> web.StreamResponse:
    document = parse_xml(await read_document(ctx.request, ctx.auth))
    if local(document) != "VersioningConfiguration":
        raise errors.MalformedXML()
    status = child_text(document, "Status")
    mfa_delete = child_text(document, "MfaDelete")
    if status not in (None, "Enabled", "Suspended") or mfa_delete not in (
        None,
        "Enabled",
        "Disabled",
    ):
        raise errors.MalformedXML()
    if mfa_delete == "Enabled":
        raise errors.Unimplemented("MFA Delete is not implemented.")
    if status is not None:
        await ctx.buckets.set_versioning(ctx.bucket, status)
    return web.Response(status=200)


async def list_object_versions(ctx: Ctx) -> web.StreamResponse:
    encode = encoder(ctx)
    key_marker = ctx.query.get("key-marker", "")
    version_marker = ctx.query.get("version-id-marker") or None
    if version_marker is not None and not key_marker:
        raise errors.InvalidArgument(
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    max_keys = max_keys_of(ctx)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter")
    page = await ctx.objects.list_versions(
        ctx.bucket, VersionListing(prefix, delimiter or "", key_marker, version_marker, max_keys)
    )
    body: list[tuple[str, Node]] = [
        ("Name", ctx.bucket),
        ("Prefix", encode(prefix)),
        ("KeyMarker", encode(key_marker)),
        ("VersionIdMarker", version_marker or ""),
        ("MaxKeys", max_keys),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", page.truncated),
        ("NextKeyMarker", encode(page.next_key) if page.next_key is not None else None),
        ("NextVersionIdMarker", page.next_version),
        ("EncodingType", ctx.query.get("encoding-type")),
    ]
    names = await owner_names(ctx, (record for record, _ in page.versions))
    for record, latest in page.versions:
        entry = contents(record, encode, names)
        head: list[tuple[str, Node]] = [
            entry[0],
            ("VersionId", version_token(record)),
            ("IsLatest", latest),
        ]
        if record.delete_marker:
            # DeleteMarker: Key, VersionId, IsLatest, LastModified, Owner.
            owner = [item for item in entry if item[0] == "Owner"]
            body.append(("DeleteMarker", [*head, entry[1], *owner]))
        else:
            # Version: Key, VersionId, IsLatest, then the elements of a listed object.
            body.append(("Version", [*head, *entry[1:]]))
    body += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.common_prefixes]
    return xml_response(to_xml("ListVersionsResult", body))


HANDLERS: dict[Op, Handler] = {
    Op.GetBucketVersioning: get_bucket_versioning,
    Op.ListObjectVersions: list_object_versions,
    Op.PutBucketVersioning: put_bucket_versioning,
}
