"""The read side of a copy: `x-amz-copy-source`, its conditions and its range."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from s3compat.api import errors
from s3compat.api.app import Ctx
from s3compat.api.auth import access
from s3compat.api.operations import Op
from s3compat.api.router import validate_key
from s3compat.api.sse import COPY_SOURCE_PREFIX, customer_key, read_sealing
from s3compat.api.xml import parse_http_date
from s3compat.records import ObjectRecord
from s3compat.store.conditions import etag_in

COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


@dataclass
class CopySource:
    record: ObjectRecord
    start: int
    end: int
    blocks: AsyncIterator[bytes]
    # the source's version id, if the copy named one (?versionId= on x-amz-copy-source)
    version: str | None = None

    @property
    def size(self) -> int:
        return self.end - self.start


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """`bucket/key` (URL-encoded, optional leading `/`, optional `?versionId=`): the bucket,
    the key and the version id (None: the current version)."""
    path, _, query = value.partition("?")
    version = None
    if query:
        name, _, version = query.partition("=")
        if name != "versionId" or not version:
            raise errors.InvalidArgument(
                "Invalid copy source: only versionId may follow the key",
                ArgumentName="x-amz-copy-source",
                ArgumentValue=value,
            )
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError as error:
        raise errors.InvalidArgument(
            "x-amz-copy-source is not valid UTF-8", ArgumentName="x-amz-copy-source"
        ) from error
    bucket, _, key = decoded.lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    validate_key(key)
    return bucket, key, version


def check_copy_conditions(headers: dict[str, str], record: ObjectRecord) -> None:
    """x-amz-copy-source-if-*: a failed condition is 412 (never 304 for a copy)."""
    last_modified = datetime.fromtimestamp(int(record.last_modified), UTC)
    if_match = headers.get("x-amz-copy-source-if-match")
    if_none_match = headers.get("x-amz-copy-source-if-none-match")
    unmodified = parse_http_date(headers.get("x-amz-copy-source-if-unmodified-since") or "")
    modified = parse_http_date(headers.get("x-amz-copy-source-if-modified-since") or "")
    if if_match is not None and not etag_in(if_match, record.etag):
        raise errors.PreconditionFailed(Condition="x-amz-copy-source-If-Match")
    if if_match is None and unmodified is not None and last_modified > unmodified:
        raise errors.PreconditionFailed(Condition="x-amz-copy-source-If-Unmodified-Since")
    if if_none_match is not None and etag_in(if_none_match, record.etag):
        raise errors.PreconditionFailed(Condition="x-amz-copy-source-If-None-Match")
    if if_none_match is None and modified is not None and last_modified <= modified:
        raise errors.PreconditionFailed(Condition="x-amz-copy-source-If-Modified-Since")


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    if header is None:
        return 0, size
    match = COPY_RANGE.match(header.strip())
    if match is None:
        raise errors.InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=header,
        )
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise errors.InvalidRange(ActualObjectSize=str(size), RangeRequested=header)
    return first, last + 1


async def copy_source_blocks(ctx: Ctx, *, range_header: str | None = None) -> CopySource:
    """Open the copy source (the requester must be allowed to read it, as with GetObject) and
    stream the bytes to copy."""
    headers = {k.lower(): v for k, v in ctx.request.headers.items()}
    bucket, key, version = parse_copy_source(headers.get("x-amz-copy-source", ""))
    source_bucket = await ctx.buckets.get(bucket)
    access.check_expected_owner(headers.get(access.EXPECTED_SOURCE_OWNER_HEADER), source_bucket)
    current = None
    if access.needs_object(Op.GetObject, ctx.principal, source_bucket):
        if version is None:
            current = await ctx.objects.find_object(bucket, key)
        else:
            current = await ctx.objects.head_object(bucket, key, version)
    facts = ctx.facts if source_bucket.policy is not None else None
    access.check_access(Op.GetObject, ctx.principal, source_bucket, current, key, facts)
    record, chunks = await ctx.objects.open_object(bucket, key, version)
    source_key = customer_key(ctx.request.headers, COPY_SOURCE_PREFIX)
    sealing = read_sealing(record.headers, source_key, ctx.objects)
    check_copy_conditions(headers, record)
    start, end = _copy_range(headers.get(range_header) if range_header else None, record.size)
    blocks = ctx.objects.stream(chunks, start, end, sealing)
    return CopySource(record, start, end, blocks, version)
