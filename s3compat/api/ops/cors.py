"""Put/Get/DeleteBucketCors and the CORS preflight (OPTIONS on a bucket or an object).

The configuration is a `cors` document of the bucket (`api/cors.py` parses, renders and
matches it). A preflight carries no credentials, so it is answered without authentication,
from the bucket's rules alone, as S3 answers it:

- no `Origin`: 400 BadRequest;
- no such bucket, or a bucket without CORS: 403 AccessForbidden;
- no rule allows the origin, the `Access-Control-Request-Method` (a preflight without one asks
  for OPTIONS, which no rule allows) and every `Access-Control-Request-Headers` name: 403
  AccessForbidden;
- else 200 with no body and the matched rule's Access-Control-* headers.

The same headers on the actual requests that follow are added by the app's response hook
(`api/app.py`, `add_cors_headers`).
"""

from __future__ import annotations

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.cors import (
    cors_xml,
    match_rule,
    parse_cors,
    requested_headers,
    response_headers,
    rules_from_json,
    rules_to_json,
)
from s3compat.api.operations import Op
from s3compat.api.ops.documents import document_handlers
from s3compat.store.buckets import BucketDocument


def _stored(body: bytes) -> str:
    return rules_to_json(parse_cors(body))


def _rendered(stored: str) -> bytes:
    return cors_xml(rules_from_json(stored))


async def options_object(ctx: Ctx) -> web.StreamResponse:
    """A CORS preflight, answered from the bucket's CORS rules."""
    headers = ctx.request.headers
    origin = headers.get("Origin")
    if origin is None:
        raise errors.BadRequest()
    method = headers.get("Access-Control-Request-Method")
    # S3 names the method asked for in its refusals, OPTIONS when none was.
    shown = {"Method": method or "OPTIONS"}
    if await ctx.buckets.find(ctx.bucket) is None:
        raise errors.CORSForbidden("CORSResponse: Bucket not found", **shown, ResourceType="BUCKET")
    stored = await ctx.buckets.document(ctx.bucket, BucketDocument.CORS)
    if stored is None:
        raise errors.CORSForbidden(**shown, ResourceType="BUCKET")
    names = requested_headers(headers.get("Access-Control-Request-Headers"))
    rule = match_rule(rules_from_json(stored), origin, method or "OPTIONS", names)
    if rule is None:
        resource = "BUCKET" if ctx.route.key is None else "OBJECT"
        raise errors.CORSNotAllowed(**shown, ResourceType=resource)
    return web.Response(status=200, headers=response_headers(rule, origin, names))


HANDLERS: dict[Op, Handler] = {
    **document_handlers(BucketDocument.CORS, _stored, _rendered, errors.NoSuchCORSConfiguration),
    Op.OptionsObject: options_object,
}
