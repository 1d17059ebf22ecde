"""The chunk daemon's HTTP interface: an aiohttp application over a ChunkStore, wired from the
handlers (``chunkd.handlers``) and two middlewares.

Every request must carry ``Authorization: Bearer <cluster secret>``. Errors are answered as
``{"error": message}`` by one middleware, a storage error from one table (``chunkd.errors``).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from chunkd.batch import BATCH_GET_PATH, BATCH_PUT_PATH
from chunkd.errors import HTTP_ANSWERS, ChunkCorrupt, StorageError
from chunkd.handlers import (
    STORE_KEY,
    delete_chunk,
    get_batch,
    get_chunk,
    get_stats,
    head_chunk,
    list_chunks,
    put_batch,
    put_chunk,
    verify_chunk,
)
from chunkd.storage import ChunkStore
from chunkd.wire import ChunkdHTTPError, error_response
from s3compat.metrics import GaugeCollector, RequestMetrics

log = logging.getLogger(__name__)

METRICS_PATH = "/-/metrics"
SECRET_KEY = web.AppKey("secret", bytes)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as ``{"error": ...}``; nothing else builds error responses."""
    try:
        return await handler(request)
    except ChunkdHTTPError as exc:
        return error_response(exc.status, exc.message, exc.headers)
    except StorageError as exc:
        if isinstance(exc, ChunkCorrupt):  # worth an operator's attention: scrub, replace
            log.warning("%s %s: corrupt chunk: %s", request.method, request.path, exc)
        status, message = HTTP_ANSWERS[type(exc)]
        return error_response(status, message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except ConnectionError:
        raise  # the caller went away; aiohttp closes the connection quietly
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal error")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse any request without the cluster secret (metrics excepted: no data in them)."""
    if request.path == METRICS_PATH:
        return await handler(request)
    presented = request.headers.get("Authorization", "")
    expected = b"Bearer " + request.app[SECRET_KEY]
    if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected):
        raise ChunkdHTTPError(401, "missing or invalid credentials")
    return await handler(request)


RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: list[tuple[str, str, RouteHandler]] = [
    ("PUT", "/chunks/{chunk_id}", put_chunk),
    ("GET", "/chunks/{chunk_id}", get_chunk),
    ("HEAD", "/chunks/{chunk_id}", head_chunk),
    ("DELETE", "/chunks/{chunk_id}", delete_chunk),
    ("POST", "/chunks/{chunk_id}/verify", verify_chunk),
    ("GET", "/chunks", list_chunks),
    ("POST", BATCH_PUT_PATH, put_batch),
    ("POST", BATCH_GET_PATH, get_batch),
    ("GET", "/stats", get_stats),
]


def _operation(request: web.Request) -> str:
    route = request.match_info.route.resource
    return f"{request.method} {route.canonical if route is not None else 'other'}"


def daemon_metrics(store: ChunkStore) -> RequestMetrics:
    metrics = RequestMetrics("chunkd")

    def usage() -> list[tuple[list[str], float]]:
        stats = store.stats()
        return [
            (["capacity"], float(stats.capacity_bytes)),
            (["used"], float(stats.used_bytes)),
            (["free"], float(stats.free_bytes)),
            (["chunks"], float(stats.chunk_count)),
        ]

    metrics.add(
        GaugeCollector("chunkd_storage", "Capacity and usage (bytes, chunks)", ["kind"], usage)
    )
    return metrics


def create_app(store: ChunkStore, secret: str) -> web.Application:
    """The chunk daemon's application over an opened store."""
    metrics = daemon_metrics(store)
    app = web.Application(
        middlewares=[metrics.middleware(_operation), error_middleware, auth_middleware]
    )
    app.router.add_get(METRICS_PATH, metrics.handle)
    app[STORE_KEY] = store
    app[SECRET_KEY] = secret.encode("utf-8")
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
