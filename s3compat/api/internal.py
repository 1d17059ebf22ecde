"""The gateway's own endpoints under `/-/` (not S3): health, and chunk daemons' heartbeats."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from s3compat.store.servers import Heartbeat, ServerReport
from s3compat.store.stores import Stores
from s3compat.store.stripe_write import required_pieces
from s3compat.store.stripes import DATA_PIECES

STORES_KEY = web.AppKey("stores", Stores)
CLUSTER_SECRET_KEY = web.AppKey("cluster_secret", str)
STATS_FIELDS = ("capacity_bytes", "used_bytes", "free_bytes", "chunk_count")


async def health(request: web.Request) -> web.Response:
    """200 when the gateway can take writes (enough chunk servers up), else 503; says whether
    writes get every parity piece (`full_parity`) or fewer, left for the repairer."""
    store = request.app[STORES_KEY].objects
    up = len(store.membership.writable())
    needed = required_pieces(store.parity)
    ready = up >= needed
    return web.json_response(
        {
            "status": "ok" if ready else "unavailable",
            "servers_up": up,
            "servers_needed": needed,
            "parity": store.parity,
            "full_parity": up >= DATA_PIECES + store.parity,
        },
        status=200 if ready else 503,
    )


async def heartbeat(request: web.Request) -> web.Response:
    """A chunk daemon registers itself or reports its usage (cluster secret required)."""
    expected = f"Bearer {request.app[CLUSTER_SECRET_KEY]}".encode()
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        return web.json_response({"error": "cluster secret required"}, status=401)
    try:
        sent: dict[str, Any] = await request.json()
        report = ServerReport(
            str(sent["server_id"]),
            str(sent["url"]).rstrip("/"),
            *(int(sent[name]) for name in STATS_FIELDS),
        )
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "malformed heartbeat"}, status=400)
    if not report.url.startswith(("http://", "https://")) or not report.server_id:
        return web.json_response({"error": "malformed heartbeat"}, status=400)
    outcome = await request.app[STORES_KEY].servers.heartbeat(report)
    if outcome is Heartbeat.REMOVED:
        return web.json_response({"error": "server was removed"}, status=410)
    if outcome is Heartbeat.URL_TAKEN:
        return web.json_response({"error": f"{report.url} belongs to another server"}, status=409)
    return web.json_response({"server_id": report.server_id})


def add_internal_routes(app: web.Application) -> None:
    app.router.add_get("/-/health", health)
    app.router.add_post("/-/cluster/heartbeat", heartbeat)
