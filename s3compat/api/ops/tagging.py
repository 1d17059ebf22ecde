"""Get/Put/DeleteObjectTagging and Get/Put/DeleteBucketTagging.

Object tags live in the object's `tags` column (the same place `x-amz-tagging` on PutObject puts
them); bucket tags are a `tagging` document in the bucket's configuration. Limits as S3: at
most 10 tags on an object and 50 on a bucket, keys 1-128 and values 0-256 characters, no key
twice.
"""

from __future__ import annotations

import json

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.objectmeta import version_header
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.documents import document_handlers
from s3compat.api.ops.object import version_asked
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.store.buckets import BucketDocument

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256


def parse_tagging(body: bytes, max_tags: int) -> dict[str, str]:
    """A `Tagging` document as an ordered tag dict: MalformedXML for a wrong shape, InvalidTag
    for too many tags, a key or value too long, or a key given twice."""
    document = parse_xml(body)
    tag_sets = children(document, "TagSet")
    if local(document) != "Tagging" or len(tag_sets) != 1:
        raise errors.MalformedXML()
    tags: dict[str, str] = {}
    for tag in children(tag_sets[0], "Tag"):
        key, value = child_text(tag, "Key"), child_text(tag, "Value")
        if key is None or value is None:
            raise errors.MalformedXML()
        if key in tags:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key")
        if not key or len(key) > MAX_TAG_KEY_CHARS or len(value) > MAX_TAG_VALUE_CHARS:
            raise errors.InvalidTag("The TagKey or TagValue you have provided is invalid")
        tags[key] = value
    if len(tags) > max_tags:
        raise errors.InvalidTag(f"Tags cannot be more than {max_tags}")
    return tags


def tagging_xml(tags: dict[str, str]) -> bytes:
    tag_set: list[tuple[str, Node]] = [
        ("Tag", [("Key", key), ("Value", value)]) for key, value in tags.items()
    ]
    return to_xml("Tagging", [("TagSet", tag_set)])


async def get_object_tagging(ctx: Ctx) -> web.StreamResponse:
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    response = xml_response(tagging_xml(record.tags or {}))
    response.headers.update(version_header(record))
    return response


async def _set_object_tags(ctx: Ctx, tags: dict[str, str] | None) -> None:
    text = None if tags is None else json.dumps(tags)
    await ctx.objects.set_tags(ctx.bucket, ctx.key, text, version_asked(ctx))


async def put_object_tagging(ctx: Ctx) -> web.StreamResponse:
    tags = parse_tagging(await read_document(ctx.request, ctx.auth), MAX_OBJECT_TAGS)
    await _set_object_tags(ctx, tags)
    return web.Response(status=200)


async def delete_object_tagging(ctx: Ctx) -> web.StreamResponse:
    await _set_object_tags(ctx, None)
    return web.Response(status=204)


def _stored(body: bytes) -> str:
    return json.dumps(parse_tagging(body, MAX_BUCKET_TAGS))


def _rendered(stored: str) -> bytes:
    return tagging_xml(json.loads(stored))


HANDLERS: dict[Op, Handler] = {
    Op.GetObjectTagging: get_object_tagging,
    Op.PutObjectTagging: put_object_tagging,
    Op.DeleteObjectTagging: delete_object_tagging,
    **document_handlers(
        BucketDocument.TAGGING, _stored, _rendered, errors.NoSuchTagSet, put_status=204
    ),
}
