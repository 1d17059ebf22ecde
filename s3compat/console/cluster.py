"""The cluster page (the administrator's): every server with its state and fill, the totals,
what is under-protected, and how far repair, drain, garbage collection and rebalance are.
The page polls `cluster/status` every two seconds and redraws its figures."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from s3compat.console.gate import require_admin
from s3compat.console.pages import console_of, render
from s3compat.store.status import fill_ratio

# The page asks for fresh figures this often.
POLL_SECONDS = 2.0


async def cluster_figures(request: web.Request) -> dict[str, Any]:
    """Everything the page shows, as plain values (the page and its JSON alike)."""
    status = console_of(request).status
    now = time.time()
    servers = [
        {
            "server_id": s.server_id,
            "url": s.url,
            "state": s.state,
            "capacity_bytes": s.capacity_bytes,
            "used_bytes": s.used_bytes,
            "fill_percent": round(100 * fill_ratio(s), 3),
            "chunk_count": s.chunk_count,
            "last_seen": s.last_seen,
            "seen_seconds_ago": None if s.last_seen is None else round(now - s.last_seen, 1),
        }
        for s in status.servers()
    ]
    totals = await status.totals()
    segments, objects = await status.under_protected()
    parity = status.parity_of()
    return {
        "servers": servers,
        "states": {
            state: sum(1 for s in servers if s["state"] == state)
            for state in ("up", "down", "draining", "lost")
        },
        "totals": {
            **asdict(totals),
            "overhead": round(totals.stored_bytes / totals.data_bytes, 3)
            if totals.data_bytes
            else None,
        },
        "parity": parity,
        "under_protected": {"segments": segments, "objects": objects},
        "progress": [asdict(p) for p in await status.progress()],
        "poll_seconds": POLL_SECONDS,
    }


async def cluster_page(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    return render(request, "cluster.html", await cluster_figures(request))


async def cluster_live(request: web.Request) -> web.StreamResponse:
    """The page's live part alone, which its script swaps in every POLL_SECONDS."""
    require_admin(request)
    return render(request, "cluster_live.html", await cluster_figures(request))


async def cluster_status_json(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    response = web.json_response(await cluster_figures(request))
    response.headers["Cache-Control"] = "no-store"
    return response
