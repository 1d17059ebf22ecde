"""The membership poller against stand-in daemons on loopback: a late answer is probed before a
server is marked down, and the states it moves servers through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from support.catalog import catalog_backend, new_postgres_catalog

from s3compat.catalog.backend import open_database
from s3compat.catalog.catalog import Catalog
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.membership import POLL_TIMEOUT_SECONDS, PROBE_TIMEOUT_SECONDS, Membership

STATS = {"capacity_bytes": 1000, "used_bytes": 10, "free_bytes": 990, "chunk_count": 1}


class StatsServer:
    """An HTTP server on loopback that answers `/stats` like chunkd, `delay` seconds late
    (None: never; `failing`: at once with a 503)."""

    def __init__(self, delay: float | None = 0.0) -> None:
        self.delay = delay
        self.failing = False
        self.requests = 0
        self.url = ""
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _stats(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.failing:
            return web.json_response({"error": "not now"}, status=503)
        if self.delay is None:
            await self._released.wait()
        else:
            await asyncio.sleep(self.delay)
        return web.json_response(STATS)

    async def start(self) -> StatsServer:
        app = web.Application()
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        self._released.set()  # a handler waiting for ever would hold up the shutdown
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    if catalog_backend() == "postgresql":
        url = new_postgres_catalog()
    else:
        url = f"sqlite://{tmp_path}/catalog.db"
    db = await open_database(url)
    try:
        yield Catalog(db)
    finally:
        await db.close()


@pytest.fixture
async def client() -> AsyncIterator[ChunkClient]:
    async with ChunkClient("secret-the-stand-ins-ignore") as started:
        yield started


@pytest.fixture
async def stats_servers() -> AsyncIterator[list[StatsServer]]:
    """Started servers appended by the test are closed after it."""
    started: list[StatsServer] = []
    yield started
    for server in started:
        await server.close()


async def states(catalog: Catalog) -> dict[str, str]:
    return {s.server_id: s.state for s in await catalog.list_servers()}


async def test_a_late_answer_is_probed_and_keeps_the_server_up_but_silence_marks_it_down(
    catalog: Catalog, client: ChunkClient, stats_servers: list[StatsServer]
) -> None:
    # Later than a poll waits, sooner than the probe does: a daemon starved of CPU.
    late = await StatsServer(delay=(POLL_TIMEOUT_SECONDS + PROBE_TIMEOUT_SECONDS) / 2).start()
    silent = await StatsServer(delay=None).start()
    stats_servers += [late, silent]
    await catalog.add_server("late", late.url)
    await catalog.add_server("silent", silent.url)
    # Never heard from: both are past down_after as soon as a poll fails.
    membership = Membership(catalog, client, down_after=1.0)
    await membership.refresh()
    assert await states(catalog) == {"late": "up", "silent": "down"}
    assert late.requests == 2 and silent.requests == 2  # a poll that timed out, then the probe
    recorded = {s.server_id: s for s in await catalog.list_servers()}
    assert recorded["late"].capacity_bytes == STATS["capacity_bytes"]
    assert recorded["late"].last_seen is not None and recorded["silent"].last_seen is None
    assert [s.server_id for s in membership.writable()] == ["late"]


async def test_a_server_that_answers_in_time_is_not_probed(
    catalog: Catalog, client: ChunkClient, stats_servers: list[StatsServer]
) -> None:
    prompt = await StatsServer().start()
    stats_servers.append(prompt)
    await catalog.add_server("prompt", prompt.url)
    membership = Membership(catalog, client, down_after=1.0)
    await membership.refresh()
    assert await states(catalog) == {"prompt": "up"}
    assert prompt.requests == 1
