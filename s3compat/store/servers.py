"""The ServerRegistry: chunk daemons announce themselves and report their usage.

A daemon's heartbeat registers it on first contact (or at a new URL), and records its
capacity, fill and piece count with the time it was seen; a daemon the operator removed stays
removed, and one URL belongs to one server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from s3compat.catalog.catalog import Catalog, ServerUrlTaken


@dataclass(frozen=True)
class ServerReport:
    """What a chunk daemon says of itself in a heartbeat."""

    server_id: str
    url: str
    capacity_bytes: int
    used_bytes: int
    free_bytes: int
    chunk_count: int


class Heartbeat(StrEnum):
    """What became of a heartbeat."""

    RECORDED = "recorded"
    # The operator removed this server: it may not come back under its id.
    REMOVED = "removed"
    # Another server is registered at this URL.
    URL_TAKEN = "url-taken"


class ServerRegistry:
    """The catalog's list of chunk servers, as the daemons keep it current."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def heartbeat(self, report: ServerReport) -> Heartbeat:
        known = {s.server_id: s for s in await self._catalog.list_servers()}
        if report.server_id in known and known[report.server_id].state == "removed":
            return Heartbeat.REMOVED
        try:
            await self._catalog.add_server(report.server_id, report.url)
        except ServerUrlTaken:
            return Heartbeat.URL_TAKEN
        await self._catalog.record_server_stats(
            report.server_id,
            report.capacity_bytes,
            report.used_bytes,
            report.free_bytes,
            report.chunk_count,
            time.time(),
        )
        return Heartbeat.RECORDED
