"""ListObjects (V1) and ListObjectsV2."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import owner_xml, xml_response
from s3compat.api.xml import Node, to_xml
from s3compat.records import ObjectRecord
from s3compat.store.listing import ListPage

MAX_KEYS = 1000


MAX_INT32 = 2**31 - 1


def bounded_count(ctx: Ctx, name: str, maximum: int = MAX_KEYS) -> int:
    """A max-keys style parameter: a non-negative 32-bit integer, capped at `maximum`."""
    text = ctx.query.get(name, str(maximum))
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_INT32:
        raise errors.InvalidArgument(
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=text,
        )
    return min(int(text), maximum)


def max_keys_of(ctx: Ctx) -> int:
    return bounded_count(ctx, "max-keys")


def encoder(ctx: Ctx) -> Callable[[str], str]:
    encoding = ctx.query.get("encoding-type")
    if encoding is None:
        return lambda value: value
    if encoding != "url":
        raise errors.InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    return lambda value: quote(value, safe="/")


def contents(
    record: ObjectRecord, encode: Callable[[str], str], names: Mapping[str, str] | None
) -> list[tuple[str, Node]]:
    """A listed object's elements; its Owner when `names` (display names by ID) is given."""
    entry: list[tuple[str, Node]] = [
        ("Key", encode(record.key)),
        ("LastModified", datetime.fromtimestamp(record.last_modified, UTC)),
        ("ETag", record.etag),
    ]
    if record.checksum_algorithm:
        entry.append(("ChecksumAlgorithm", record.checksum_algorithm))
        entry.append(("ChecksumType", record.checksum_type or "FULL_OBJECT"))
    entry += [("Size", record.size), ("StorageClass", "STANDARD")]
    if names is not None:
        entry.append(("Owner", owner_xml(record.owner, names.get(record.owner, record.owner))))
    return entry


async def _page(ctx: Ctx, marker: str) -> tuple[ListPage, int]:
    max_keys = max_keys_of(ctx)
    page = await ctx.objects.list_page(
        ctx.bucket,
        prefix=ctx.query.get("prefix", ""),
        delimiter=ctx.query.get("delimiter", ""),
        marker=marker,
        max_keys=max_keys,
    )
    return page, max_keys


async def owner_names(ctx: Ctx, records: Iterable[ObjectRecord]) -> dict[str, str]:
    """Display names of the owners of `records`."""
    return await ctx.buckets.display_names(record.owner for record in records)


def _entries(
    page: ListPage, encode: Callable[[str], str], names: Mapping[str, str] | None
) -> list[tuple[str, Node]]:
    entries: list[tuple[str, Node]] = [
        ("Contents", contents(record, encode, names)) for record in page.objects
    ]
    entries += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.common_prefixes]
    return entries


async def list_objects(ctx: Ctx) -> web.StreamResponse:
    encode = encoder(ctx)
    marker = ctx.query.get("marker", "")
    page, max_keys = await _page(ctx, marker)
    delimiter = ctx.query.get("delimiter")
    body: list[tuple[str, Node]] = [
        ("Name", ctx.bucket),
        ("Prefix", encode(ctx.query.get("prefix", ""))),
        ("Marker", encode(marker)),
        ("MaxKeys", max_keys),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", page.truncated),
        ("NextMarker", encode(page.last) if page.truncated and page.last else None),
        ("EncodingType", ctx.query.get("encoding-type")),
    ]
    body += _entries(page, encode, await owner_names(ctx, page.objects))
    return xml_response(to_xml("ListBucketResult", body))


def _decode_token(token: str) -> str:
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise errors.InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from error


async def list_objects_v2(ctx: Ctx) -> web.StreamResponse:
    encode = encoder(ctx)
    token = ctx.query.get("continuation-token")
    start_after = ctx.query.get("start-after")
    marker = _decode_token(token) if token is not None else (start_after or "")
    page, max_keys = await _page(ctx, marker)
    names = None
    if ctx.query.get("fetch-owner") == "true":
        names = await owner_names(ctx, page.objects)
    delimiter = ctx.query.get("delimiter")
    next_token = None
    if page.truncated and page.last is not None:
        next_token = base64.urlsafe_b64encode(page.last.encode("utf-8")).decode("ascii")
    body: list[tuple[str, Node]] = [
        ("Name", ctx.bucket),
        ("Prefix", encode(ctx.query.get("prefix", ""))),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("MaxKeys", max_keys),
        ("EncodingType", ctx.query.get("encoding-type")),
        ("KeyCount", len(page.objects) + len(page.common_prefixes)),
        ("IsTruncated", page.truncated),
        ("ContinuationToken", token),
        ("NextContinuationToken", next_token),
        ("StartAfter", None if start_after is None else encode(start_after)),
    ]
    body += _entries(page, encode, names)
    return xml_response(to_xml("ListBucketResult", body))


HANDLERS: dict[Op, Handler] = {
    Op.ListObjects: list_objects,
    Op.ListObjectsV2: list_objects_v2,
}
