"""ListObjectVersions and PutBucketVersioning, for buckets that are never versioned.

Every key has exactly one version, the null version: ListObjectVersions lists each current
object as a `Version` with `VersionId` `null` and `IsLatest` true (and no delete markers), paged
like ListObjects. PutBucketVersioning accepts `Suspended` (a no-op: an unversioned bucket
behaves as a suspended one) and refuses `Enabled` with 501 NotImplemented.
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

NULL_VERSION = "null"


def _marker(ctx: Ctx) -> str:
    """Where the listing resumes: after key-marker (whose only version is null)."""
    key_marker = ctx.query.get("key-marker", "")
    version_marker = ctx.query.get("version-id-marker")
    if version_marker is not None and version_marker != "":
        if not key_marker:
            raise errors.InvalidArgument(
                "A version-id marker cannot be specified without a key marker.",
                ArgumentName="version-id-marker",
                ArgumentValue=version_marker,
            )
        if version_marker != NULL_VERSION:
            raise errors.InvalidArgument(
                "Invalid version id specified",
                ArgumentName="version-id-marker",
                ArgumentValue=version_marker,
            )
    return key_marker


async def list_object_versions(ctx: Ctx) -> web.StreamResponse:
    encode = encoder(ctx)
    marker = _marker(ctx)
    max_keys = max_keys_of(ctx)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter")
    page = await ctx.objects.list_page(
        ctx.bucket,
        prefix=prefix,
        delimiter=delimiter or "",
        marker=marker,
        max_keys=max_keys,
    )
    ends_with_prefix = bool(page.common_prefixes) and page.last == page.common_prefixes[-1]
    next_key = encode(page.last) if page.truncated and page.last is not None else None
    body: list[tuple[str, Node]] = [
        ("Name", ctx.bucket),
        ("Prefix", encode(prefix)),
        ("KeyMarker", encode(marker)),
        ("VersionIdMarker", ctx.query.get("version-id-marker", "")),
        ("MaxKeys", max_keys),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", page.truncated),
        ("NextKeyMarker", next_key),
        ("NextVersionIdMarker", NULL_VERSION if next_key and not ends_with_prefix else None),
        ("EncodingType", ctx.query.get("encoding-type")),
    ]
    names = await owner_names(ctx, page.objects)
    for record in page.objects:
        entry = contents(record, encode, names)
        # Version's elements as S3 orders them: Key, VersionId, IsLatest, then the rest.
        version: list[tuple[str, Node]] = [
            entry[0],
            ("VersionId", NULL_VERSION),
            ("IsLatest", True),
            *entry[1:],
        ]
        body.append(("Version", version))
    body += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.common_prefixes]
    return xml_response(to_xml("ListVersionsResult", body))


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
    if status == "Enabled":
        raise errors.Unimplemented(
            "Bucket versioning is not implemented: buckets stay unversioned (only 'Suspended' "
            "is accepted)."
        )
    if mfa_delete == "Enabled":
        raise errors.Unimplemented("MFA Delete is not implemented.")
    return web.Response(status=200)


HANDLERS: dict[Op, Handler] = {
    Op.ListObjectVersions: list_object_versions,
    Op.PutBucketVersioning: put_bucket_versioning,
}
