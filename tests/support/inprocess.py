"""The real gateway application in this process: the app `s3compat gateway` serves (make_app
over open_services: the catalog, the chunk client, the store), served by aiohttp's TestServer on
a loopback port from an event loop of its own in a thread, over real chunk daemon processes and
a real catalog (a SQLite file, or a fresh PostgreSQL database as S3COMPAT_TEST_CATALOG says).

Tests reach it as they reach a `s3compat cluster`: boto3 and raw requests to its endpoint, the
`Cluster` it yields. What it saves is the separate gateway process and `s3compat cluster`'s
supervisor: start-up is the chunk daemons (started side by side) and opening the catalog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from aiohttp.test_utils import TestServer

from s3compat.admin import init_cluster
from s3compat.api.framing import answer_parser_errors_as_s3
from s3compat.cli import cluster_parity
from s3compat.config import GatewayConfig
from s3compat.gateway import gateway_app, open_services, run_duties
from support.catalog import catalog_backend, new_postgres_catalog
from support.chunk_daemons import ChunkDaemon
from support.processes import CHUNK_SERVERS, Cluster, private_directory
from support.waiting import run_async

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
# A request a test left hanging must not hold the stop for aiohttp's default minute.
SHUTDOWN_GRACE_SECONDS = 3.0


def gateway_config(data_dir: Path, catalog_url: str) -> GatewayConfig:
    """The settings `start_cluster` gives its gateway (`--gc-grace 1 --sweep-interval 0.5`,
    the spool folder in the data folder); port 0: TestServer picks a free one."""
    return GatewayConfig(
        catalog_url=catalog_url,
        port=0,
        gc_grace_seconds=1.0,
        sweep_interval_seconds=0.5,
        spool_dir=data_dir / "spool",
        sse_key_file=data_dir / "sse-master.key",
    )


async def serve_gateway(
    config: GatewayConfig, started: concurrent.futures.Future[str], stop: asyncio.Event
) -> None:
    """What `s3compat.gateway.serve` does, without its signal handlers and TCP site: the app
    on a TestServer, its duties (poller, settings follower, repairer, collector) beside it,
    until `stop` is set. `started` gets the endpoint."""
    async with open_services(config, role="gateway", shared_polling=True) as services:
        server = TestServer(
            gateway_app(config, services), host=config.host, port=config.port or None
        )
        await server.start_server(access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        assert server.runner is not None
        answer_parser_errors_as_s3(server.runner)
        try:
            async with asyncio.TaskGroup() as tasks:
                duties = tasks.create_task(run_duties(services, config))
                started.set_result(str(server.make_url("")).rstrip("/"))
                await stop.wait()
                duties.cancel()
        finally:
            await server.close()


class GatewayThread:
    """`serve_gateway` on an event loop in a thread of its own, so that the tests' blocking
    clients (boto3, http.client) can call it from the main thread."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.started: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="inprocess-gateway", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as error:
            if not self.started.done():
                self.started.set_exception(error)
            raise
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self.stop_event = asyncio.Event()
        await serve_gateway(self.config, self.started, self.stop_event)

    def start(self) -> str:
        """Start serving; the endpoint (http://127.0.0.1:PORT)."""
        self.thread.start()
        return self.started.result(timeout=START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        if self.stop_event is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(STOP_TIMEOUT_SECONDS)
        assert not self.thread.is_alive(), "the in-process gateway did not stop"


@contextlib.contextmanager
def inprocess_cluster(prefix: str, servers: int = CHUNK_SERVERS) -> Iterator[Cluster]:
    """A cluster of `servers` chunk daemon processes and the gateway app in this process, in a
    private folder named `prefix...`, laid out as `s3compat cluster` lays it out (catalog,
    credentials and chunkd-N folders in data/); stopped and removed on exit."""
    with private_directory(prefix) as root:
        data_dir = root / "data"
        catalog_url = new_postgres_catalog() if catalog_backend() == "postgresql" else None
        parity = cluster_parity(servers, None)
        # The catalog first, for the cluster secret the daemons need; then the daemons, whose
        # ports they choose themselves; then the catalog learns their addresses.
        _, secret = run_async(init_cluster(data_dir, [], catalog_url, parity=parity))
        daemons = [
            ChunkDaemon(data_dir / f"chunkd-{number}", secret=secret)
            for number in range(1, servers + 1)
        ]
        gateway: GatewayThread | None = None
        try:
            with concurrent.futures.ThreadPoolExecutor(servers) as pool:
                urls = list(pool.map(ChunkDaemon.start, daemons))
            root_user, _ = run_async(init_cluster(data_dir, urls, catalog_url))
            gateway = GatewayThread(
                gateway_config(data_dir, catalog_url or str(data_dir / "catalog.db"))
            )
            endpoint = gateway.start()
            yield Cluster(
                endpoint=endpoint,
                access_key=root_user.access_key,
                secret_key=root_user.secret_key,
                data_dir=data_dir,
                cluster_secret=secret,
                chunk_urls=tuple(urls),
                pid=os.getpid(),  # the gateway runs here; the daemons are its children
                catalog_url=catalog_url,
                endpoints=(endpoint,),
            )
        finally:
            if gateway is not None:
                gateway.stop()
            for daemon in daemons:
                daemon.close()
