"""DeleteObjects: up to 1000 keys (or versions of keys) in one request, each optionally
conditional on its version's ETag, LastModifiedTime or Size (as DeleteObject's If-Match
headers). A bucket policy judges each key (s3:DeleteObject on it, s3:DeleteObjectVersion on
a version of it); a refused key is an AccessDenied entry."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aiohttp import web
from lxml import etree

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth import access
from s3compat.api.body import read_document
from s3compat.api.errormap import to_s3_error
from s3compat.api.lockheaders import bypass_governance
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.object import precondition
from s3compat.api.router import validate_key
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.store.errors import StoreError
from s3compat.store.versions import Deleted

MAX_DELETE_KEYS = 1000
# Keys deleted at once: their catalog commits share transactions (the catalog groups concurrent
# commits) instead of paying one commit each. Entries of one key are deleted in their order.
DELETE_CONCURRENCY = 16


async def delete_objects(ctx: Ctx) -> web.StreamResponse:
    document = parse_xml(await read_document(ctx.request, ctx.auth))
    if local(document) != "Delete":
        raise errors.MalformedXML()
    quiet = (child_text(document, "Quiet") or "false").strip().lower() == "true"
    targets = children(document, "Object")
    if not targets or len(targets) > MAX_DELETE_KEYS:
        raise errors.MalformedXML()
    keys = [key for target in targets if (key := child_text(target, "Key")) is not None]
    if len(keys) < len(targets):
        raise errors.MalformedXML()  # before any key is deleted
    versions = [child_text(target, "VersionId") for target in targets]
    outcomes = await _delete_all(ctx, keys, versions, targets)
    results: list[tuple[str, Node]] = []
    for key, version, deleted in zip(keys, versions, outcomes, strict=True):
        if isinstance(deleted, errors.S3Error):
            failed: list[tuple[str, Node]] = [("Key", key)]
            if version is not None:
                failed.append(("VersionId", version))
            failed += [("Code", deleted.code), ("Message", deleted.message)]
            results.append(("Error", failed))
            continue
        if quiet:
            continue
        entry: list[tuple[str, Node]] = [("Key", key)]
        if version is not None:
            entry.append(("VersionId", version))
        if deleted.delete_marker:
            entry.append(("DeleteMarker", True))
            entry.append(("DeleteMarkerVersionId", deleted.version))
        results.append(("Deleted", entry))
    return xml_response(to_xml("DeleteResult", results))


async def _delete_all(
    ctx: Ctx, keys: list[str], versions: list[str | None], targets: list[etree._Element]
) -> list[Deleted | errors.S3Error]:
    """Each entry's outcome, in the request's order."""
    gate = asyncio.Semaphore(DELETE_CONCURRENCY)
    per_key: dict[str, asyncio.Lock] = {}

    async def one(
        key: str, version: str | None, target: etree._Element
    ) -> Deleted | errors.S3Error:
        async with gate, per_key.setdefault(key, asyncio.Lock()):
            try:
                return await _delete_one(ctx, key, version, target)
            except errors.S3Error as error:
                return error

    return await asyncio.gather(*map(one, keys, versions, targets))


async def _delete_one(ctx: Ctx, key: str, version: str | None, target: etree._Element) -> Deleted:
    """Delete one key (or one version of it), as DeleteObject does."""
    validate_key(key)
    bucket = ctx.bucket_record
    if bucket is not None and bucket.policy is not None:
        facts = ctx.facts
        if version is not None:  # judged as s3:DeleteObjectVersion, as DeleteObject would be
            facts = replace(facts, query={**facts.query, "versionId": version})
        access.check_key_access(Op.DeleteObject, ctx.principal, bucket, key, facts)
    etag = child_text(target, "ETag")
    modified = child_text(target, "LastModifiedTime")
    size = child_text(target, "Size")
    condition = None
    if etag is not None or modified is not None or size is not None:
        condition = precondition(etag, modified, size)
    try:
        return await ctx.objects.delete_object(
            ctx.bucket,
            key,
            condition,
            owner=ctx.writer,
            version=version,
            bypass_governance=bypass_governance(ctx),
        )
    except StoreError as error:
        raise to_s3_error(error) from error


HANDLERS: dict[Op, Handler] = {Op.DeleteObjects: delete_objects}
