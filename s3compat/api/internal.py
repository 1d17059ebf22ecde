"""The gateway's own endpoints under `/-/` (not S3): health, and chunk daemons' heartbeats."""

from __future__ import annotations

import hmac
import time
from typing import Any

from aiohttp import web

from s3compat.catalog.catalog import ServerUrlTaken
from s3compat.store.objects import ObjectStore
from s3compat.store.stripe_write import required_pieces
from s3compat.store.stripes import DATA_PIECES

STORE_KEY = web.AppKey("store", ObjectStore)
CLUSTER_SECRET_KEY = web.AppKey("cluster_secret", str)
STATS_FIELDS = ("capacity_bytes", "used_bytes", "free_bytes", "chunk_count")


async def health(request: web.Request) -> web.Response:
    """200 when the gateway can take writes (enough chunk servers up), else 503; says whether
    writes get every parity piece (`full_parity`) or fewer, left for the repairer."""
    store = request.app[STORE_KEY]
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
        report: dict[str, Any] = await request.json()
        server_id = str(report["server_id"])
        url = str(report["url"]).rstrip("/")
        stats = [int(report[name]) for name in STATS_FIELDS]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "malformed heartbeat"}, status=400)
    if not url.startswith(("http://", "https://")) or not server_id:
        return web.json_response({"error": "malformed heartbeat"}, status=400)
    catalog = request.app[STORE_KEY].catalog
    known = {s.server_id: s for s in await catalog.list_servers()}
    if server_id in known and known[server_id].state == "removed":
        return web.json_response({"error": "server was removed"}, status=410)
    try:
        await catalog.add_server(server_id, url)
    except ServerUrlTaken:
        return web.json_response({"error": f"{url} belongs to another server"}, status=409)
    capacity, used, free, count = stats
    await catalog.record_server_stats(server_id, capacity, used, free, count, time.time())
    return web.json_response({"server_id": server_id})


def add_internal_routes(app: web.Application) -> None:
    app.router.add_get("/-/health", health)
    app.router.add_post("/-/cluster/heartbeat", heartbeat)
