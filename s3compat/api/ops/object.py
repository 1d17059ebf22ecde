"""PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.aclheaders import write_acl
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import payload
from s3compat.api.lockheaders import bypass_governance, lock_for_write
from s3compat.api.objectmeta import (
    RESPONSE_OVERRIDES,
    apply_response_overrides,
    check_conditions,
    parse_tagging_header,
    response_headers,
    stored_headers,
    version_header,
    write_condition,
)
from s3compat.api.operations import Op
from s3compat.api.ranges import parse_range
from s3compat.api.sse import answer_headers, customer_key, read_sealing, seal_write
from s3compat.api.stalls import send
from s3compat.api.xml import format_http_date, parse_timestamp
from s3compat.records import ObjectRecord
from s3compat.store.conditions import Precondition
from s3compat.store.errors import StoreError
from s3compat.store.lifecycle_rules import expiration_of

log = logging.getLogger(__name__)


def check_overrides_signed(ctx: Ctx) -> None:
    """response-* overrides need a signed request (AWS: 400 for an anonymous one)."""
    if ctx.principal is None and any(name in ctx.query for name in RESPONSE_OVERRIDES):
        raise errors.InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests."
        )


def version_asked(ctx: Ctx) -> str | None:
    """The version a request names (?versionId=), None for the current one. An empty value
    is S3's 400 (botocore never sends one)."""
    version = ctx.query.get("versionId")
    if version == "":
        raise errors.InvalidArgument(
            "Version id cannot be the empty string", ArgumentName="versionId", ArgumentValue=""
        )
    return version


async def put_object(ctx: Ctx) -> web.StreamResponse:
    headers = ctx.request.headers
    condition = write_condition(headers)
    acl, owner = await write_acl(ctx)
    encryption, sealing = await seal_write(headers, ctx.buckets, ctx.bucket, ctx.objects)
    source, size, checks = await payload(ctx.request, ctx.auth)
    record = ObjectRecord(
        bucket=ctx.bucket,
        key=ctx.key,
        size=size,
        etag="",
        last_modified=0.0,
        owner=owner,
        headers={**stored_headers(headers), **await lock_for_write(ctx, headers), **encryption},
        acl=acl,
        tags=parse_tagging_header(headers.get("x-amz-tagging")),
    )
    stored = await ctx.objects.put_object(
        record, source, checks, condition=condition, sealing=sealing
    )
    answer = {
        "ETag": stored.etag,
        **version_header(stored),
        **answer_headers(stored.headers, context=True),
        **await expiration_header(ctx, stored),
    }
    if stored.checksum_algorithm and stored.checksum_value:
        answer[f"x-amz-checksum-{stored.checksum_algorithm.lower()}"] = stored.checksum_value
        answer["x-amz-checksum-type"] = stored.checksum_type or "FULL_OBJECT"
    return web.Response(status=200, headers=answer)


async def expiration_header(ctx: Ctx, record: ObjectRecord) -> dict[str, str]:
    """`x-amz-expiration` for the current version, when a lifecycle rule will expire it."""
    if "versionId" in ctx.query:
        return {}
    rules = await ctx.buckets.lifecycle_rules(record.bucket)
    found = expiration_of(
        rules, key=record.key, size=record.size, tags=record.tags, written=record.last_modified
    )
    if found is None:
        return {}
    moment, rule_id = found
    date = format_http_date(datetime.fromtimestamp(moment, UTC))
    # A rule id is any text: quoted as the header's syntax needs, control characters dropped.
    quoted = (
        "".join(c for c in rule_id if c.isprintable()).replace("\\", "\\\\").replace('"', '\\"')
    )
    return {"x-amz-expiration": f'expiry-date="{date}", rule-id="{quoted}"'}


async def head_object(ctx: Ctx) -> web.StreamResponse:
    check_overrides_signed(ctx)
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    read_sealing(record.headers, customer_key(ctx.request.headers), ctx.objects)
    check_conditions(ctx.request.headers, record)
    status, headers, start, end = _answer(ctx, record)
    headers["Content-Length"] = str(end - start)
    headers.update(await expiration_header(ctx, record))
    return web.Response(status=status, headers=headers)


async def get_object(ctx: Ctx) -> web.StreamResponse:
    check_overrides_signed(ctx)
    record, chunks = await ctx.objects.open_object(ctx.bucket, ctx.key, version_asked(ctx))
    customer = customer_key(ctx.request.headers)
    sealing = read_sealing(record.headers, customer, ctx.objects)
    check_conditions(ctx.request.headers, record)
    status, headers, start, end = _answer(ctx, record)
    headers.update(await expiration_header(ctx, record))
    ctx.objects.check_readable(chunks, start, end)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start
    stream = ctx.objects.stream(chunks, start, end, sealing)
    # Fetch the first block before the status line goes out: a chunk server that is down
    # then still becomes a clean 503 instead of a cut connection.
    try:
        first = await anext(stream, b"")
    except BaseException:
        await stream.aclose()
        raise
    await response.prepare(ctx.request)
    try:
        if first:
            await send(response, first)
        async for block in stream:
            await send(response, block)
    except (StoreError, OSError) as error:
        # Headers are gone: all that is left is to cut the connection so the client sees a
        # short body rather than a complete-looking wrong one.
        log.warning(
            "request %s: read of %s/%s failed: %s", ctx.request_id, ctx.bucket, ctx.key, error
        )
        if ctx.request.transport is not None:
            ctx.request.transport.close()
        return response
    finally:
        await stream.aclose()
    await response.write_eof()
    return response


def _answer(ctx: Ctx, record: ObjectRecord) -> tuple[int, dict[str, str], int, int]:
    """Status, headers and byte range [start, end) of a GET or HEAD.

    A Range or a part of a multipart object is answered 206 with Content-Range, and without
    the object's checksum (it covers the whole object, not the bytes sent); a part carries
    its own checksum instead, if it has one.
    """
    start, end, partial = _requested_range(ctx, record)
    checksum_mode = ctx.request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    # Part 1 of a single-PUT object is the whole object, and carries its checksum.
    whole = not partial or (record.parts is None and "partNumber" in ctx.query)
    headers = response_headers(record, checksum_mode=checksum_mode and whole)
    apply_response_overrides(headers, ctx.query)
    if "partNumber" in ctx.query and record.parts:
        headers["x-amz-mp-parts-count"] = str(len(record.parts))
        part = record.parts[int(ctx.query["partNumber"]) - 1]
        if checksum_mode and record.checksum_algorithm and part.checksum:
            headers[f"x-amz-checksum-{record.checksum_algorithm.lower()}"] = part.checksum
            headers["x-amz-checksum-type"] = record.checksum_type or "COMPOSITE"
    if not partial:
        return 200, dict(headers), start, end
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{record.size}"
    return 206, dict(headers), start, end


def _requested_range(ctx: Ctx, record: ObjectRecord) -> tuple[int, int, bool]:
    """(start, end, partial): the bytes asked for, and whether that is a part of the object."""
    if "partNumber" in ctx.query:
        if "Range" in ctx.request.headers:
            raise errors.InvalidRequest(
                "Cannot specify both Range header and partNumber query parameter"
            )
        start, end = _part_range(ctx, record)
        # A part is answered 206 with its Content-Range, as S3 does (even part 1 of a
        # single-PUT object); an empty object has no byte range to name.
        return start, end, record.size > 0
    requested = parse_range(ctx.request.headers.get("Range"), record.size)
    if requested is None:
        return 0, record.size, False
    return requested[0], requested[1], True


def _part_range(ctx: Ctx, record: ObjectRecord) -> tuple[int, int]:
    """?partNumber=N: the bytes of part N (a single-PUT object is one part)."""
    text = ctx.query["partNumber"]
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise errors.InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=text,
        )
    number = int(text)
    parts = record.parts
    count = 1 if parts is None else len(parts)
    if number > count:
        raise errors.InvalidPartNumber(PartNumberRequested=str(number), ActualPartCount=str(count))
    if parts is None:
        return 0, record.size
    start = sum(p.size for p in parts[: number - 1])
    return start, start + parts[number - 1].size


async def delete_object(ctx: Ctx) -> web.StreamResponse:
    deleted = await ctx.objects.delete_object(
        ctx.bucket,
        ctx.key,
        delete_condition(ctx),
        owner=ctx.writer,
        version=version_asked(ctx),
        bypass_governance=bypass_governance(ctx),
    )
    headers = {}
    if deleted.version is not None:
        headers["x-amz-version-id"] = deleted.version
    if deleted.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return web.Response(status=204, headers=headers)


def delete_condition(ctx: Ctx) -> Precondition | None:
    """DeleteObject's If-Match, x-amz-if-match-last-modified-time and x-amz-if-match-size."""
    headers = ctx.request.headers
    if_match = headers.get("If-Match")
    modified_text = headers.get("x-amz-if-match-last-modified-time")
    size_text = headers.get("x-amz-if-match-size")
    if if_match is None and modified_text is None and size_text is None:
        return None
    return precondition(
        if_match,
        modified_text,
        size_text,
        ("x-amz-if-match-last-modified-time", "x-amz-if-match-size"),
    )


def precondition(
    if_match: str | None,
    modified_text: str | None,
    size_text: str | None,
    names: tuple[str, str] = ("LastModifiedTime", "Size"),
) -> Precondition:
    """A delete's conditions from their text (headers of DeleteObject, elements of an Object
    of DeleteObjects); `names` name the last two in errors."""
    modified = None
    if modified_text is not None:
        parsed = parse_timestamp(modified_text)
        if parsed is None:
            raise errors.InvalidArgument(
                f"Invalid {names[0]}", ArgumentName=names[0], ArgumentValue=modified_text
            )
        modified = int(parsed.timestamp())
    if size_text is not None and not size_text.strip().isdigit():
        raise errors.InvalidArgument(
            f"Invalid {names[1]}", ArgumentName=names[1], ArgumentValue=size_text
        )
    return Precondition(
        if_match=if_match,
        last_modified=modified,
        size=None if size_text is None else int(size_text),
    )


HANDLERS: dict[Op, Handler] = {
    Op.PutObject: put_object,
    Op.GetObject: get_object,
    Op.HeadObject: head_object,
    Op.DeleteObject: delete_object,
}
