"""The aiohttp application: request id, routing, authentication, access, dispatch, errors.

A request walks: parse the wire path and query -> resolve the operation (pure) -> authenticate
once (yields the principal, or None for an anonymous request) -> check access against the
bucket's and object's ACLs (`auth/access.py`) -> the operation's handler -> the store. Every
error, whichever layer raised it, is rendered here as S3 XML. A request that says
`Expect: 100-continue` goes through the same checks before the 100 is sent, so that a refused
upload is refused before its body travels.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from s3compat.api import cors, errors, xml
from s3compat.api.auth import access
from s3compat.api.auth.model import AuthResult, RequestView
from s3compat.api.auth.request import check_region, parse_auth, verify_auth
from s3compat.api.errormap import as_s3_error
from s3compat.api.framing import MAX_HEADER_BYTES, MAX_HEADERS
from s3compat.api.internal import CLUSTER_SECRET_KEY, STORES_KEY, add_internal_routes
from s3compat.api.operations import Op
from s3compat.api.policy.context import RequestFacts
from s3compat.api.request_ids import new_request_id
from s3compat.api.router import (
    Route,
    bucket_from_host,
    decode_path,
    resolve,
    split_raw_query,
    validate_bucket_name,
    validate_key,
)
from s3compat.api.spool import SPOOL_DIR_KEY
from s3compat.api.unsupported import refuse_unsupported
from s3compat.config import GatewayConfig
from s3compat.metrics import RequestMetrics
from s3compat.records import BucketRecord
from s3compat.store.buckets import BucketDocument, BucketStore
from s3compat.store.errors import StoreError
from s3compat.store.objects import ObjectStore
from s3compat.store.stores import Stores
from s3compat.store.uploads import UploadStore

log = logging.getLogger(__name__)

# Operations answered without looking at the request's credentials: a CORS preflight carries
# none, and a browser form (PostObject) carries its signature in the form, which its handler
# reads and checks (api/ops/post.py).
UNAUTHENTICATED_OPERATIONS = frozenset({Op.OptionsObject, Op.PostObject})


@dataclass
class Ctx:
    """Everything a handler needs about its request."""

    request: web.Request
    route: Route
    query: dict[str, str]
    # The requester's canonical user ID (its access key); None for an anonymous request.
    principal: str | None
    auth: AuthResult
    stores: Stores
    config: GatewayConfig
    request_id: str
    # The addressed bucket as the access check found it (None for service operations).
    bucket_record: BucketRecord | None = None
    # The requester's user name (None for an anonymous request), for `aws:username`.
    principal_name: str | None = None

    @property
    def facts(self) -> RequestFacts:
        """What a bucket policy may ask about this request (`aws:SourceIp`, headers, ...)."""
        return RequestFacts(
            principal=self.principal,
            principal_name=self.principal_name,
            source_ip=self.request.remote,
            secure=self.request.secure,
            headers=self.request.headers,
            query=self.query,
            now=datetime.now(UTC),
        )

    @property
    def objects(self) -> ObjectStore:
        return self.stores.objects

    @property
    def uploads(self) -> UploadStore:
        return self.stores.uploads

    @property
    def buckets(self) -> BucketStore:
        return self.stores.buckets

    @property
    def bucket(self) -> str:
        assert self.route.bucket is not None
        return self.route.bucket

    @property
    def key(self) -> str:
        assert self.route.key is not None
        return self.route.key

    @property
    def bucket_owner(self) -> str:
        assert self.bucket_record is not None
        return self.bucket_record.owner

    @property
    def user(self) -> str:
        """The authenticated requester (operations that need credentials)."""
        if self.principal is None:
            raise errors.AccessDenied()
        return self.principal

    @property
    def writer(self) -> str:
        """Who owns what this request writes: the requester, or the bucket's owner when the
        request is anonymous (there is no anonymous account to own it)."""
        return self.principal if self.principal is not None else self.bucket_owner


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]

CONFIG_KEY = web.AppKey("config", GatewayConfig)
HANDLERS_KEY = web.AppKey("handlers", dict)
# The request key under which the Expect: 100-continue check leaves the prepared context.
PREPARED = web.RequestKey("s3compat.prepared", Ctx)
# The request key naming the bucket whose CORS rules apply to the answer (a well-formed name).
CORS_BUCKET = web.RequestKey("s3compat.cors_bucket", str)
REQUEST_ID = web.RequestKey("s3compat.request_id", str)
# The operation's name, for the metrics' labels.
OPERATION = web.RequestKey("s3compat.operation", str)


@web.middleware
async def s3_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give every response a request id; render every error as S3 XML."""
    request_id = request_id_of(request)
    try:
        response = await handler(request)
    except errors.NotModified as not_modified:
        response = web.Response(status=304, headers=not_modified.headers)
    except Exception as error:
        response = error_response(as_s3_error(error, request, request_id), request, request_id)
    return response


def request_id_of(request: web.Request) -> str:
    """The request's id, made on first use."""
    request_id = request.get(REQUEST_ID)
    if request_id is None:
        request_id = new_request_id()
        request[REQUEST_ID] = request_id
    return request_id


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, streamed ones included, names its request (set before headers go out)."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """A cross-origin request (Origin, not a preflight) to a bucket with CORS rules gets the
    Access-Control-* headers of the first rule that matches, on every answer, errors included,
    as S3 does. The rules are read once, and only for requests that carry Origin."""
    origin = request.headers.get("Origin")
    bucket = request.get(CORS_BUCKET)
    if origin is None or not isinstance(bucket, str) or request.method == "OPTIONS":
        return
    try:
        stored = await request.app[STORES_KEY].buckets.document(bucket, BucketDocument.CORS)
    except Exception:
        # The answer is on its way out; failing to read the rules must not replace it.
        log.warning("request %s: CORS rules unreadable", request_id_of(request), exc_info=True)
        return
    if stored is None:
        return
    # S3 matches an actual request by Access-Control-Request-Method too when it carries one.
    method = request.headers.get("Access-Control-Request-Method", request.method)
    names = cors.requested_headers(request.headers.get("Access-Control-Request-Headers"))
    rule = cors.match_rule(cors.rules_from_json(stored), origin, method, names)
    if rule is not None:
        response.headers.update(cors.response_headers(rule, origin, names))


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
    """Resolve, authenticate, check access and hand the request to its operation's handler."""
    ctx = request.get(PREPARED)
    if not isinstance(ctx, Ctx):
        ctx = await prepare(request)
    handlers: dict[Op, Handler] = request.app[HANDLERS_KEY]
    return await handlers[ctx.route.operation](ctx)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: run every check of `prepare` before inviting the body."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version != HttpVersion11 or expect.lower() != "100-continue":
        return None
    try:
        request[PREPARED] = await prepare(request)
    except Exception as error:
        # The middlewares do not run around this handler: render the error here.
        request_id = request_id_of(request)
        response = error_response(as_s3_error(error, request, request_id), request, request_id)
        # The client holds its body back; what it sends next on this connection may be that
        # body or a new request, and only closing tells the two apart.
        response.force_close()
        return response
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    # The 100 is not part of the response's size.
    request.writer.output_size = 0
    return None


async def prepare(request: web.Request) -> Ctx:
    """Everything before the handler: route, validate names, authenticate, check access."""
    config = request.app[CONFIG_KEY]
    stores = request.app[STORES_KEY]
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
    request[OPERATION] = route.operation
    handlers: dict[Op, Handler] = request.app[HANDLERS_KEY]
    if route.operation not in handlers:
        raise errors.Unimplemented()
    if route.bucket is not None and route.operation != Op.CreateBucket:
        _check_bucket_name_shape(route.bucket)
        request[CORS_BUCKET] = route.bucket
    if route.key is not None:
        validate_key(route.key)
    if any("\x00" in value for _, value in query_pairs):
        # No key, prefix, marker or id can hold NUL (keys refuse it), and PostgreSQL text
        # cannot carry it: refuse it here rather than let the catalog fail.
        raise errors.InvalidArgument("Query parameters must not contain NUL characters.")
    view = RequestView(
        method=request.method,
        raw_path=raw_path,
        query=query_pairs,
        headers=request.headers,
        host=host,
        virtual_host_bucket=bucket_from_host(host, config.domain),
    )
    user_name = None
    if route.operation in UNAUTHENTICATED_OPERATIONS:
        auth = AuthResult(access_key=None, content_sha256=None, streaming=None)
    else:
        auth, user_name = await authenticate(view, stores.buckets)
    ctx = Ctx(
        _with_text_headers(request),
        route,
        query,
        auth.access_key,
        auth,
        stores,
        config,
        request_id_of(request),
        principal_name=user_name,
    )
    if route.operation not in UNAUTHENTICATED_OPERATIONS:
        ctx.bucket_record = await authorize(ctx)
    refuse_unsupported(route.operation, request.headers)
    return ctx


def _with_text_headers(request: web.Request) -> web.Request:
    """The request with header values that are not UTF-8 read as Latin-1, as S3 reads them
    (http.client sends a str header as Latin-1: `x-amz-meta-name: café` arrives as b"caf\xe9").

    aiohttp hands such bytes on surrogate-escaped; the signature was checked over the bytes
    as sent, and from here on no stored, compared or answered value carries a lone surrogate
    (which neither the catalog nor an HTTP header could carry).
    """
    if all(value.isascii() for value in request.headers.values()):
        return request
    headers: CIMultiDict[str] = CIMultiDict()
    changed = False
    for name, value in request.headers.items():
        raw = value.encode("utf-8", "surrogateescape")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
            changed = True
        headers.add(name, value)
    return request.clone(headers=headers) if changed else request


def _check_bucket_name_shape(name: str) -> None:
    """An existing bucket's name need not be checked, but a malformed one cannot exist."""
    try:
        validate_bucket_name(name)
    except errors.InvalidBucketName as error:
        raise errors.NoSuchBucket(BucketName=name) from error


async def authenticate(view: RequestView, buckets: BucketStore) -> tuple[AuthResult, str | None]:
    """Verify the request's signature; a request with no credentials at all is anonymous.
    Also the requester's user name (None if anonymous)."""
    parsed = parse_auth(view)
    if parsed.access_key is None:
        return verify_auth(view, parsed, "", datetime.now(UTC)), None
    user = await buckets.user(parsed.access_key)
    if user is None:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=parsed.access_key)
    return verify_auth(view, parsed, user.secret_key, datetime.now(UTC)), user.name


async def authorize(ctx: Ctx) -> BucketRecord | None:
    """Apply the access rule of `auth/access.py` to the request; the bucket it addresses."""
    operation = ctx.route.operation
    region = ctx.config.region
    if ctx.route.bucket is None or operation == Op.CreateBucket:
        if ctx.principal is None:
            raise errors.AccessDenied()
        if operation != Op.CreateBucket:  # CreateBucket's region is in its body
            check_region(ctx.auth, (region,), region)
        return None
    bucket = await ctx.buckets.find(ctx.route.bucket)
    if bucket is None:
        raise errors.NoSuchBucket(BucketName=ctx.route.bucket)
    # Signed for this store's region or the bucket's own (LocationConstraint).
    check_region(ctx.auth, (region, bucket.region), bucket.region)
    access.check_expected_owner(ctx.request.headers.get(access.EXPECTED_OWNER_HEADER), bucket)
    record = None
    # A policy testing s3:ExistingObjectTag/<key> needs the object's tags, whoever asks.
    tags_asked = bucket.policy is not None and "existingobjecttag/" in bucket.policy.lower()
    needed = tags_asked or access.needs_object(operation, ctx.principal, bucket)
    if ctx.route.key is not None and needed:
        version = ctx.query.get("versionId")
        if not version:
            record = await ctx.objects.find_object(bucket.name, ctx.route.key)
        else:
            # A version's own ACL decides; one that cannot be read is judged as no object
            # (the handler then answers why, if the requester may know).
            with contextlib.suppress(StoreError):
                record = await ctx.objects.head_object(bucket.name, ctx.route.key, version)
    facts = ctx.facts if bucket.policy is not None else None
    if facts is not None and record is not None:
        facts = replace(facts, object_tags=record.tags or {})
    access.check_access(operation, ctx.principal, bucket, record, ctx.route.key, facts)
    return bucket


def make_app(
    config: GatewayConfig,
    stores: Stores,
    handlers: dict[Op, Handler],
    cluster_secret: str,
    metrics: RequestMetrics | None = None,
) -> web.Application:
    """The S3 application; its background work is started by the caller."""
    middlewares: list[Middleware] = [s3_middleware]
    if metrics is not None:
        middlewares.insert(0, metrics.middleware(lambda r: r.get(OPERATION, "other")))
    app = web.Application(
        middlewares=middlewares,
        client_max_size=0,
        handler_args={
            "max_line_size": MAX_HEADER_BYTES,
            "max_field_size": MAX_HEADER_BYTES,
            "max_headers": MAX_HEADERS,
            # Content-Encoding describes the object, not this transfer: store the bytes as sent.
            "auto_decompress": False,
        },
    )
    app.on_response_prepare.append(add_request_id)
    app.on_response_prepare.append(add_cors_headers)
    app[CONFIG_KEY] = config
    if config.spool_dir is not None:
        app[SPOOL_DIR_KEY] = config.spool_dir
    app[STORES_KEY] = stores
    app[CLUSTER_SECRET_KEY] = cluster_secret
    app[HANDLERS_KEY] = handlers
    add_internal_routes(app)
    if metrics is not None:
        app.router.add_get("/-/metrics", metrics.handle)
    # `[\s\S]`, not `.`: a key may hold a line feed (%0A), which `.` would not match.
    app.router.add_route("*", "/{tail:[\\s\\S]*}", dispatch, expect_handler=expect_continue)
    return app
