"""Which chunk servers exist, which are up, and how full they are.

The catalog lists the servers; this keeps an in-memory view refreshed by polling each server's
`/stats`. A server that has not answered for `down_after` seconds is probed once more, with a
longer timeout, and marked down (new writes avoid it) only if the probe fails too: on a machine
whose cores are saturated a healthy daemon can miss a short poll. It is up again as soon as it
answers. A server down for longer than `lost_after` seconds is declared lost: its pieces are
gone for good, the repairer rebuilds them elsewhere, and it never comes back up by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import KW_ONLY, dataclass, field

from s3compat.catalog.catalog import Catalog
from s3compat.cluster.client import ChunkClient, ServerStats
from s3compat.cluster.errors import ChunkServerError
from s3compat.records import ServerRecord, ServerState

log = logging.getLogger(__name__)

WRITABLE_STATES = ("up",)
# A lost server is never polled back up: whatever it still holds was rebuilt elsewhere.
UNPOLLED_STATES: tuple[ServerState, ...] = ("removed", "lost")
POLL_TIMEOUT_SECONDS = 2.0
# The last chance of a server about to be marked down: long enough for a daemon starved of CPU.
PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(eq=False)
class Membership:
    """The gateway's view of the chunk servers."""

    catalog: Catalog
    client: ChunkClient
    _: KW_ONLY
    down_after: float
    lost_after: float = float("inf")
    _servers: dict[str, ServerRecord] = field(default_factory=dict, init=False)
    # Servers a request could not reach, and when: they stay down in this view until a poll
    # (by any gateway) has heard from them since, so a reload cannot flip them back up.
    _failed_at: dict[str, float] = field(default_factory=dict, init=False)

    async def refresh(self) -> None:
        """Poll every registered server once, record what it said, and reload the view."""
        servers = await self.catalog.list_servers()
        await asyncio.gather(
            *(self._poll(server) for server in servers if server.state not in UNPOLLED_STATES)
        )
        await self.reload()

    async def reload(self) -> None:
        """Take the catalog's record of the servers as this gateway's view, without polling."""
        servers = {s.server_id: s for s in await self.catalog.list_servers()}
        for server_id, failed_at in list(self._failed_at.items()):
            server = servers.get(server_id)
            if server is None or (server.last_seen or 0.0) > failed_at:
                del self._failed_at[server_id]
            elif server.state == "up":
                servers[server_id] = _marked_down(server)
        self._servers = servers

    async def _poll(self, server: ServerRecord) -> None:
        now = time.time()
        try:
            # A short timeout: a hung daemon (stopped, swapping) must not stall the whole poll.
            stats: ServerStats | None = await asyncio.wait_for(
                self.client.stats(server.url), timeout=min(POLL_TIMEOUT_SECONDS, self.down_after)
            )
        except (ChunkServerError, TimeoutError):
            stats = await self._probe_silent(server, now)
        if stats is not None:
            await self.catalog.record_server_stats(
                server.server_id,
                stats.capacity_bytes,
                stats.used_bytes,
                stats.free_bytes,
                stats.chunk_count,
                now,
            )

    async def _probe_silent(self, server: ServerRecord, now: float) -> ServerStats | None:
        """A poll of `server` failed: if it has been silent too long, probe it with a longer
        timeout and mark it down only if that fails too. The probe's answer, if any."""
        silent = now - (server.last_seen or 0.0)
        # A server never heard from has no "down since": only an operator declares it lost.
        if server.state == "down" and server.last_seen and silent > self.lost_after:
            log.warning("chunk server %s was down %.0f s: declared lost", server.server_id, silent)
            await self.catalog.set_server_state(server.server_id, "lost")
            return None
        if server.state != "up" or silent <= self.down_after:
            return None
        try:
            return await asyncio.wait_for(
                self.client.stats(server.url), timeout=PROBE_TIMEOUT_SECONDS
            )
        except (ChunkServerError, TimeoutError) as error:
            log.warning("chunk server %s (%s) is down: %r", server.server_id, server.url, error)
            await self.catalog.set_server_state(server.server_id, "down")
            return None

    async def run(self, interval: float) -> None:
        """Poll forever (cancel to stop)."""
        while True:
            try:
                await self.refresh()
            except Exception:  # a poll must never kill the poller
                log.exception("polling chunk servers failed")
            await asyncio.sleep(interval)

    def servers(self) -> list[ServerRecord]:
        """Every known server as last polled."""
        return list(self._servers.values())

    def writable(self) -> list[ServerRecord]:
        """Servers new chunks may go to."""
        return [s for s in self._servers.values() if s.state in WRITABLE_STATES]

    def url_of(self, server_id: str) -> str:
        server = self._servers.get(server_id)
        if server is None:
            raise KeyError(server_id)
        return server.url

    def mark_failed(self, server_id: str) -> None:
        """A request could not reach this server: place no writes on it, and read around it,
        until a poll hears from it again."""
        server = self._servers.get(server_id)
        if server is not None and server.state == "up":
            self._failed_at[server_id] = time.time()
            self._servers[server_id] = _marked_down(server)


def _marked_down(server: ServerRecord) -> ServerRecord:
    return ServerRecord(**{**server.__dict__, "state": "down"})
