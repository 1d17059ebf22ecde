"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size in one answer,
without its bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.objectmeta import version_header
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.object import version_asked
from s3compat.api.sse import customer_key, read_sealing
from s3compat.api.xml import Node, format_http_date, to_xml
from s3compat.records import ObjectRecord

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


async def get_object_attributes(ctx: Ctx) -> web.StreamResponse:
    headers = ctx.request.headers
    wanted = {name.strip() for name in headers.get("x-amz-object-attributes", "").split(",")}
    wanted.discard("")
    if not wanted or not wanted <= set(ATTRIBUTES):
        raise errors.InvalidArgument(
            "Invalid attribute name specified.",
            ArgumentName="x-amz-object-attributes",
            ArgumentValue=headers.get("x-amz-object-attributes", ""),
        )
    max_parts = _count(headers.get("x-amz-max-parts"), "x-amz-max-parts", MAX_PARTS)
    marker = _count(headers.get("x-amz-part-number-marker"), "x-amz-part-number-marker", 0)
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    read_sealing(record.headers, customer_key(ctx.request.headers), ctx.objects)
    body: list[tuple[str, Node]] = []
    if "ETag" in wanted:
        body.append(("ETag", record.etag.strip('"')))
    if "Checksum" in wanted and record.checksum_algorithm and record.checksum_value:
        body.append(
            (
                "Checksum",
                [
                    (f"Checksum{record.checksum_algorithm}", record.checksum_value),
                    ("ChecksumType", record.checksum_type),
                ],
            )
        )
    if "ObjectParts" in wanted and record.parts is not None:
        body.append(("ObjectParts", _parts(record, marker, min(max_parts, MAX_PARTS))))
    if "StorageClass" in wanted:
        body.append(("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        body.append(("ObjectSize", record.size))
    response = xml_response(to_xml("GetObjectAttributesResponse", body))
    response.headers["Last-Modified"] = format_http_date(
        datetime.fromtimestamp(record.last_modified, UTC)
    )
    response.headers.update(version_header(record))
    return response


def _parts(record: ObjectRecord, marker: int, max_parts: int) -> list[tuple[str, Node]]:
    """The ObjectParts element: the parts after part number `marker`, at most `max_parts`."""
    parts = record.parts or []
    after = [part for part in parts if part.part_number > marker]
    listed, truncated = after[:max_parts], len(after) > max_parts
    element: list[tuple[str, Node]] = [
        ("PartsCount", len(parts)),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", listed[-1].part_number if listed else marker),
        ("MaxParts", max_parts),
        ("IsTruncated", truncated),
    ]
    for part in listed:
        entry: list[tuple[str, Node]] = [("PartNumber", part.part_number), ("Size", part.size)]
        if record.checksum_algorithm and part.checksum:
            entry.append((f"Checksum{record.checksum_algorithm}", part.checksum))
        element.append(("Part", entry))
    return element


def _count(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not text.strip().isdigit() or len(text.strip()) > 10:
        raise errors.InvalidArgument(
            f"Argument {name} must be an integer between 0 and 2147483647",
            ArgumentName=name,
            ArgumentValue=text,
        )
    return int(text)


HANDLERS: dict[Op, Handler] = {Op.GetObjectAttributes: get_object_attributes}
