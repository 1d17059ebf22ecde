"""CopyObject. A copy re-writes the bytes as new chunks (chunks are never shared between
versions, so deleting one version can never take bytes from another)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.aclheaders import write_acl
from s3compat.api.app import Ctx, Handler
from s3compat.api.copysource import copy_source_blocks
from s3compat.api.lockheaders import lock_for_write
from s3compat.api.objectmeta import (
    parse_tagging_header,
    stored_headers,
    version_header,
    write_condition,
)
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.sse import answer_headers, customer_key, seal_write
from s3compat.api.xml import Node, to_xml
from s3compat.records import ObjectRecord
from s3compat.store.locks import without_lock
from s3compat.store.pieces import IteratorSource
from s3compat.store.sse import SSE_HEADER, without_encryption
from s3compat.store.versions import version_token
from s3compat.store.writechecks import WriteChecks

MAX_COPY_BYTES = 5 * 1024**3


async def _target_record(
    ctx: Ctx,
    source: ObjectRecord,
    acl: str | None,
    owner: str,
    version: str | None,
    encryption: dict[str, str],
) -> ObjectRecord:
    headers = ctx.request.headers
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    tagging_directive = headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tagging_directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata or tagging directive")
    # Copying a named version onto its own key is how a version is restored: allowed.
    same = (source.bucket, source.key) == (ctx.bucket, ctx.key) and version is None
    asks_encryption = SSE_HEADER in headers or customer_key(headers) is not None
    if same and directive == "COPY" and tagging_directive == "COPY" and not asks_encryption:
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    # The copy's lock is its own (the request's or the bucket's default), never its source's.
    # ... and so is its encryption.
    metadata = (
        stored_headers(headers)
        if directive == "REPLACE"
        else without_encryption(without_lock(source.headers))
    )
    metadata.update(await lock_for_write(ctx, headers))
    metadata.update(encryption)
    tags = (
        parse_tagging_header(headers.get("x-amz-tagging"))
        if tagging_directive == "REPLACE"
        else source.tags
    )
    return ObjectRecord(
        bucket=ctx.bucket,
        key=ctx.key,
        size=source.size,
        etag="",
        last_modified=0.0,
        owner=owner,
        headers=metadata,
        acl=acl,
        tags=tags,
    )


async def copy_object(ctx: Ctx) -> web.StreamResponse:
    # If-Match / If-None-Match are about the destination (x-amz-copy-source-if-* the source).
    condition = write_condition(ctx.request.headers)
    acl, owner = await write_acl(ctx)
    encryption, sealing = await seal_write(
        ctx.request.headers, ctx.buckets, ctx.bucket, ctx.objects
    )
    copy = await copy_source_blocks(ctx)
    source = IteratorSource(copy.blocks)
    try:
        if copy.size > MAX_COPY_BYTES:
            raise errors.InvalidRequest(
                "The specified copy source is larger than the maximum allowable size for a "
                f"copy source: {MAX_COPY_BYTES}"
            )
        target = await _target_record(ctx, copy.record, acl, owner, copy.version, encryption)
        algorithm = (
            ctx.request.headers.get("x-amz-checksum-algorithm") or copy.record.checksum_algorithm
        )
        checks = WriteChecks(algorithm=algorithm.upper() if algorithm else None)
        stored = await ctx.objects.put_object(
            target, source, checks, condition=condition, sealing=sealing
        )
    finally:
        await source.aclose()
    body: list[tuple[str, Node]] = [
        ("ETag", stored.etag),
        ("LastModified", datetime.fromtimestamp(stored.last_modified, UTC)),
    ]
    if stored.checksum_algorithm and stored.checksum_value:
        body.append(("ChecksumType", stored.checksum_type))
        body.append((f"Checksum{stored.checksum_algorithm}", stored.checksum_value))
    response = xml_response(to_xml("CopyObjectResult", body))
    response.headers.update(version_header(stored))
    response.headers.update(answer_headers(stored.headers, context=True))
    if not copy.record.null_version:
        response.headers["x-amz-copy-source-version-id"] = version_token(copy.record)
    return response


HANDLERS: dict[Op, Handler] = {Op.CopyObject: copy_object}
