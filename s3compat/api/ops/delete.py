"""DeleteObjects: up to 1000 keys in one request."""

from __future__ import annotations

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.ops.bucket import xml_response
from s3compat.api.router import validate_key
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml

MAX_DELETE_KEYS = 1000


async def delete_objects(ctx: Ctx) -> web.StreamResponse:
    document = parse_xml(await read_document(ctx.request, ctx.auth))
    if local(document) != "Delete":
        raise errors.MalformedXML()
    quiet = (child_text(document, "Quiet") or "false").strip().lower() == "true"
    targets = children(document, "Object")
    if not targets or len(targets) > MAX_DELETE_KEYS:
        raise errors.MalformedXML()
    await ctx.store.bucket(ctx.bucket, ctx.principal)
    results: list[tuple[str, Node]] = []
    for target in targets:
        key = child_text(target, "Key")
        if key is None:
            raise errors.MalformedXML()
        version_id = child_text(target, "VersionId")
        outcome = await _delete_one(ctx, key, version_id)
        if outcome is not None:
            results.append(outcome)
        elif not quiet:
            deleted: list[tuple[str, Node]] = [("Key", key)]
            if version_id is not None:
                deleted.append(("VersionId", version_id))
            results.append(("Deleted", deleted))
    return xml_response(to_xml("DeleteResult", results))


async def _delete_one(ctx: Ctx, key: str, version_id: str | None) -> tuple[str, Node] | None:
    """Delete one key; an <Error> entry if it could not be, None if it was."""
    try:
        validate_key(key)
        if version_id is not None and version_id != "null":
            raise errors.NoSuchVersion()
        await ctx.store.delete_object(ctx.bucket, key, ctx.principal)
    except errors.S3Error as error:
        return ("Error", [("Key", key), ("Code", error.code), ("Message", error.message)])
    return None


HANDLERS: dict[str, Handler] = {"DeleteObjects": delete_objects}
