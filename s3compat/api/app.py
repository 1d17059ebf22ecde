"""The aiohttp application: request id, routing, authentication, dispatch, error rendering.

A request walks: parse the wire path and query -> resolve the operation (pure) -> authenticate
once (yields the principal) -> the operation's handler -> the store. Every error, whichever
layer raised it, is rendered here as S3 XML.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, unquote_to_bytes

from aiohttp import web
from aiohttp.typedefs import Middleware

from s3compat.api import errors, xml
from s3compat.api.auth.request import AuthResult, RequestView, parse_auth, verify_auth
from s3compat.api.errormap import to_s3_error
from s3compat.api.internal import CLUSTER_SECRET_KEY, STORE_KEY, add_internal_routes
from s3compat.api.router import (
    Route,
    bucket_from_host,
    resolve,
    validate_bucket_name,
    validate_key,
)
from s3compat.config import GatewayConfig
from s3compat.metrics import RequestMetrics
from s3compat.store.errors import StoreError
from s3compat.store.objects import ObjectStore
from s3compat.store.uploads import UploadStore

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
SSE_C_HEADERS = (
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
)


@dataclass
class Ctx:
    """Everything a handler needs about its request."""

    request: web.Request
    route: Route
    query: dict[str, str]
    principal: str
    auth: AuthResult
    store: ObjectStore
    uploads: UploadStore
    config: GatewayConfig
    request_id: str

    @property
    def bucket(self) -> str:
        assert self.route.bucket is not None
        return self.route.bucket

    @property
    def key(self) -> str:
        assert self.route.key is not None
        return self.route.key


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]

UPLOADS_KEY = web.AppKey("uploads", UploadStore)
CONFIG_KEY = web.AppKey("config", GatewayConfig)
HANDLERS_KEY = web.AppKey("handlers", dict)


def split_raw_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode a query string into (name, value) pairs in wire order; '+' stays '+'."""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name, errors="strict"), unquote(value, errors="strict")))
    return pairs


def decode_path(raw_path: str) -> str:
    """Percent-decode the wire path as UTF-8 (invalid UTF-8 is a client error)."""
    try:
        return unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise errors.InvalidArgument("The path is not valid UTF-8") from error


@web.middleware
async def s3_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give every response a request id; render every error as S3 XML."""
    request_id = secrets.token_hex(8).upper()
    request["request_id"] = request_id
    try:
        response = await handler(request)
    except errors.NotModified as not_modified:
        response = web.Response(status=304, headers=not_modified.headers)
    except errors.S3Error as error:
        response = error_response(error, request, request_id)
    except StoreError as error:
        response = error_response(to_s3_error(error), request, request_id)
    except web.HTTPException as http_error:
        response = error_response(_from_http_exception(http_error), request, request_id)
    except Exception:
        log.exception("request %s failed: %s %s", request_id, request.method, request.path)
        response = error_response(errors.S3Error(), request, request_id)
    return response


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, streamed ones included, names its request (set before headers go out)."""
    request_id = request.get("request_id")
    if request_id is not None:
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id


def _from_http_exception(http_error: web.HTTPException) -> errors.S3Error:
    if http_error.status == 413:
        return errors.EntityTooLarge()
    if http_error.status == 405:
        return errors.MethodNotAllowed()
    if http_error.status == 404:
        return errors.NoSuchKey()
    error = errors.InvalidRequest(http_error.reason)
    error.status = http_error.status if 400 <= http_error.status < 500 else 400
    return error


def error_response(error: errors.S3Error, request: web.Request, request_id: str) -> web.Response:
    """The S3 XML error document for `error` (HEAD responses carry no body)."""
    if error.status >= 500 and error.code == "InternalError":
        log.warning("request %s: internal error: %s", request_id, error.message)
    body = xml.error_xml(error.code, error.message, request.path, request_id, error.fields)
    headers = dict(error.headers)
    if error.code == "ServiceUnavailable" or error.code == "SlowDown":
        headers.setdefault("Retry-After", "1")
    if request.method == "HEAD":
        return web.Response(status=error.status, headers=headers)
    return web.Response(
        status=error.status, body=body, content_type="application/xml", headers=headers
    )


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Resolve, authenticate and hand the request to its operation's handler."""
    config = request.app[CONFIG_KEY]
    store = request.app[STORE_KEY]
    raw_path, _, raw_query = request.raw_path.partition("?")
    try:
        query_pairs = split_raw_query(raw_query)
    except UnicodeDecodeError as error:
        raise errors.InvalidArgument("The query string is not valid UTF-8") from error
    query: dict[str, str] = {}
    for name, value in query_pairs:
        query.setdefault(name, value)
    host = request.headers.get("Host", "")
    route = resolve(
        request.method, decode_path(raw_path), query, host, config.domain, request.headers
    )
    request["operation"] = route.operation
    handlers: dict[str, Handler] = request.app[HANDLERS_KEY]
    handler = handlers.get(route.operation)
    if handler is None:
        raise errors.NotImplementedError_()
    if any(name in request.headers for name in SSE_C_HEADERS):
        # Accepting a customer key and storing the bytes unencrypted would be a silent lie.
        raise errors.NotImplementedError_(
            "Server-side encryption with customer-provided keys is not implemented."
        )
    if route.bucket is not None and route.operation != "CreateBucket":
        _check_bucket_name_shape(route.bucket)
    if route.key is not None:
        validate_key(route.key)
    view = RequestView(
        method=request.method,
        raw_path=raw_path,
        query=query_pairs,
        headers=request.headers,
        host=host,
        virtual_host_bucket=bucket_from_host(host, config.domain),
    )
    auth = await authenticate(view, store)
    assert auth.access_key is not None
    ctx = Ctx(
        request,
        route,
        query,
        auth.access_key,
        auth,
        store,
        request.app[UPLOADS_KEY],
        config,
        request["request_id"],
    )
    return await handler(ctx)


def _check_bucket_name_shape(name: str) -> None:
    """An existing bucket's name need not be checked, but a malformed one cannot exist."""
    try:
        validate_bucket_name(name)
    except errors.InvalidBucketName as error:
        raise errors.NoSuchBucket(BucketName=name) from error


async def authenticate(view: RequestView, store: ObjectStore) -> AuthResult:
    """Verify the request's signature; anonymous requests are refused (no public buckets)."""
    parsed = parse_auth(view)
    if parsed.access_key is None:
        raise errors.AccessDenied()
    user = await store.catalog.get_user(parsed.access_key)
    if user is None:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=parsed.access_key)
    return verify_auth(view, parsed, user.secret_key, datetime.now(UTC))


def make_app(
    config: GatewayConfig,
    store: ObjectStore,
    uploads: UploadStore,
    handlers: dict[str, Handler],
    cluster_secret: str,
    metrics: RequestMetrics | None = None,
) -> web.Application:
    """The S3 application; its background work is started by the caller."""
    middlewares: list[Middleware] = [s3_middleware]
    if metrics is not None:
        middlewares.insert(0, metrics.middleware(lambda r: r.get("operation", "other")))
    app = web.Application(
        middlewares=middlewares,
        client_max_size=0,
        handler_args={
            "max_line_size": MAX_HEADER_BYTES,
            "max_field_size": MAX_HEADER_BYTES,
            # Content-Encoding describes the object, not this transfer: store the bytes as sent.
            "auto_decompress": False,
        },
    )
    app.on_response_prepare.append(add_request_id)
    app[CONFIG_KEY] = config
    app[STORE_KEY] = store
    app[CLUSTER_SECRET_KEY] = cluster_secret
    app[UPLOADS_KEY] = uploads
    app[HANDLERS_KEY] = handlers
    add_internal_routes(app)
    if metrics is not None:
        app.router.add_get("/-/metrics", metrics.handle)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
