"""The browser's object pages: details (metadata, tags, versions, where the pieces are),
deleting, and the presigned S3 requests of downloads and uploads.

Uploads and downloads never pass through console handlers: the page asks for presigned URLs
and the browser sends the bytes to the S3 API of this gateway (a single PUT, or
CreateMultipartUpload, UploadPart and CompleteMultipartUpload), which streams them to the
chunk servers as it does any client's.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any
from urllib.parse import quote

from aiohttp import web

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.console.buckets import upload_part_bytes
from s3compat.console.gate import allowed_bucket, may
from s3compat.console.pages import console_of, is_admin, link, render, see_other, user_of
from s3compat.console.presign import object_path, presign
from s3compat.store.status import placement_map
from s3compat.store.versions import VersionListing, version_token

# Versions of one key shown on its page.
MAX_VERSIONS = 50
# Parts of one browser upload (S3's limit).
MAX_PARTS = 10_000


def _key_of(request: web.Request, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise errors.InvalidArgument("An object key is needed.")
    return key


def _signed(request: web.Request, method: str, path: str, query: dict[str, str]) -> str:
    """A presigned URL for this console's host, as the logged-in user."""
    user = user_of(request)
    return presign(
        method, path, query, host=request.host, access_key=user.access_key,
        secret_key=user.secret_key, region=console_of(request).config.region,
    )  # fmt: skip


def download_url(request: web.Request, bucket: str, key: str) -> str:
    name = posixpath.basename(key.rstrip("/")) or "download"
    disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return _signed(
        request, "GET", object_path(bucket, key), {"response-content-disposition": disposition}
    )


async def object_page(request: web.Request) -> web.StreamResponse:
    name = request.match_info["bucket"]
    key = _key_of(request, request.query.get("key"))
    bucket, _ = await allowed_bucket(request, Op.HeadObject, name, key)
    stores = console_of(request).stores
    record, chunks = await stores.objects.open_object(name, key)
    versions: list[dict[str, Any]] = []
    if bucket.versioning is not None and may(request, Op.ListObjectVersions, bucket, None):
        page = await stores.objects.list_versions(
            name, VersionListing(prefix=key, max_keys=MAX_VERSIONS)
        )
        versions = [
            {"id": version_token(v), "latest": latest, "size": v.size, "etag": v.etag,
             "when": v.last_modified, "marker": v.delete_marker}
            for v, latest in page.versions
            if v.key == key
        ]  # fmt: skip
    placed = placement_map(chunks, console_of(request).status.servers())
    return render(
        request,
        "object.html",
        {
            "bucket": bucket,
            "record": record,
            "key": key,
            "parent": key[: key.rfind("/") + 1],
            "version": version_token(record) if bucket.versioning is not None else None,
            "headers": sorted(record.headers.items()),
            "tags": sorted((record.tags or {}).items()),
            "versions": versions,
            # Which server holds which piece is the operator's business: the admin sees the
            # map, everyone else how many pieces there are.
            "pieces": placed if is_admin(user_of(request)) else None,
            "piece_count": len(placed),
            "servers_used": len({p.server_id for p in placed}),
            "download": download_url(request, name, key)
            if may(request, Op.GetObject, bucket, record)
            else None,
            "deletable": may(request, Op.DeleteObject, bucket, record),
        },
    )


async def delete_object(request: web.Request) -> web.StreamResponse:
    name = request.match_info["bucket"]
    form = await request.post()
    key = _key_of(request, form.get("key"))
    await allowed_bucket(request, Op.DeleteObject, name, key)
    await console_of(request).stores.objects.delete_object(
        name, key, owner=user_of(request).access_key
    )
    return see_other(link(f"/buckets/{name}", prefix=key[: key.rfind("/") + 1]))


async def _asked(request: web.Request) -> dict[str, Any]:
    try:
        asked = await request.json()
    except ValueError as error:
        raise errors.InvalidArgument("The request is not JSON.") from error
    if not isinstance(asked, dict):
        raise errors.InvalidArgument("The request is not a JSON object.")
    return asked


def _positive(value: object, limit: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise errors.InvalidArgument(f"{what} must be an integer from 0 to {limit}.")
    return value


async def upload_start_json(request: web.Request) -> web.StreamResponse:
    """How to upload `key` of `size` bytes: one presigned PUT, or a presigned
    CreateMultipartUpload and the part size to cut the file into."""
    name = request.match_info["bucket"]
    asked = await _asked(request)
    key = _key_of(request, asked.get("key"))
    size = _positive(asked.get("size"), 5 * 1024**4, "size")
    await allowed_bucket(request, Op.PutObject, name, key)
    path = object_path(name, key)
    part_bytes = upload_part_bytes(console_of(request).config.min_part_bytes)
    answer: dict[str, str | int]
    if size <= part_bytes:
        answer = {"mode": "single", "put": _signed(request, "PUT", path, {})}
    else:
        answer = {
            "mode": "multipart",
            "create": _signed(request, "POST", path, {"uploads": ""}),
            "part_bytes": part_bytes,
            "parts": -(-size // part_bytes),
        }
    return web.json_response(answer)


async def upload_parts_json(request: web.Request) -> web.StreamResponse:
    """Presigned UploadPart URLs for parts 1..count of an upload, and its Complete and Abort."""
    name = request.match_info["bucket"]
    asked = await _asked(request)
    key = _key_of(request, asked.get("key"))
    upload_id = asked.get("upload_id")
    if not isinstance(upload_id, str) or not upload_id:
        raise errors.InvalidArgument("An upload id is needed.")
    count = _positive(asked.get("count"), MAX_PARTS, "count")
    await allowed_bucket(request, Op.PutObject, name, key)
    path = object_path(name, key)
    upload = {"uploadId": upload_id}
    return web.json_response(
        {
            "parts": [
                _signed(request, "PUT", path, {**upload, "partNumber": str(number)})
                for number in range(1, count + 1)
            ],
            "complete": _signed(request, "POST", path, upload),
            "abort": _signed(request, "DELETE", path, upload),
        },
        dumps=json.dumps,
    )
