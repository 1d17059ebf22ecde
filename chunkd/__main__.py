"""``chunkd --data DIR --port P --secret S``: run one chunk daemon until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from chunkd.app import create_app
from chunkd.membership import send_heartbeats, server_id
from chunkd.storage import ChunkStore

SECRET_ENV = "CHUNKD_SECRET"
# In-flight requests get this long to finish at shutdown; an interrupted PUT only leaves a
# temporary file, which the next start-up deletes.
SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Threads for blocking file I/O. A write holds one through two fsyncs, a few milliseconds:
# with asyncio's default (cores + 4) a burst of writes would queue every other request's
# short file operations behind those fsyncs.
IO_THREADS = 32
# How often the packs are looked at for space to give back (a pack is rewritten once half
# of it is deleted chunks).
COMPACT_INTERVAL_SECONDS = 30.0

log = logging.getLogger("chunkd")


@dataclass(frozen=True)
class ChunkdConfig:
    """Everything the daemon is told at start-up."""

    data_dir: Path
    host: str
    port: int
    secret: str
    capacity_bytes: int | None
    gateway_url: str | None = None
    advertise_url: str | None = None
    heartbeat_seconds: float = 2.0


def parse_args(argv: Sequence[str] | None = None) -> ChunkdConfig:
    """Read the command line (and ``CHUNKD_SECRET``) into a ChunkdConfig."""
    parser = argparse.ArgumentParser(prog="chunkd", description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="data directory")
    parser.add_argument("--port", required=True, type=int, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--secret", default=os.environ.get(SECRET_ENV), help=f"cluster secret (or ${SECRET_ENV})"
    )
    parser.add_argument(
        "--capacity",
        type=int,
        default=None,
        metavar="BYTES",
        help="bytes of chunk data to accept (default: size of the data directory's file system)",
    )
    parser.add_argument(
        "--gateway", metavar="URL", help="register with this gateway and send it heartbeats"
    )
    parser.add_argument(
        "--advertise",
        metavar="URL",
        help="URL the gateway reaches this daemon at (default: http://HOST:PORT)",
    )
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds between heartbeats")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error(f"a secret is required (--secret or ${SECRET_ENV})")
    if args.capacity is not None and args.capacity < 0:
        parser.error("--capacity must not be negative")
    return ChunkdConfig(
        args.data,
        args.host,
        args.port,
        args.secret,
        args.capacity,
        args.gateway,
        args.advertise,
        args.heartbeat,
    )


async def serve(config: ChunkdConfig) -> None:
    """Open the store, listen, announce readiness on stdout and run until signalled."""
    # Signal handlers first: a SIGTERM sent as soon as the ready line appears must stop the
    # daemon cleanly, not kill it.
    stop = _stop_on_signals()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(IO_THREADS, thread_name_prefix="chunkd-io")
    )
    store = ChunkStore(config.data_dir, config.capacity_bytes)
    await asyncio.to_thread(store.open)
    runner = web.AppRunner(
        create_app(store, config.secret),
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        identity = await asyncio.to_thread(server_id, config.data_dir)
        print(f"chunkd listening on http://{host}:{port}", flush=True)
        log.info("server id %s", identity)
        async with asyncio.TaskGroup() as tasks:
            heartbeats = None
            if config.gateway_url:
                advertised = config.advertise_url or f"http://{host}:{port}"
                heartbeats = tasks.create_task(
                    send_heartbeats(
                        config.gateway_url,
                        config.secret,
                        identity,
                        advertised,
                        store,
                        config.heartbeat_seconds,
                    )
                )
            compactor = tasks.create_task(compact_packs(store))
            await stop.wait()
            compactor.cancel()
            if heartbeats is not None:
                heartbeats.cancel()
        log.info("stopping")
    finally:
        await runner.cleanup()


async def compact_packs(store: ChunkStore) -> None:
    """Give back the space of deleted small chunks now and then (chunkd.packs)."""
    while True:
        await asyncio.sleep(COMPACT_INTERVAL_SECONDS)
        try:
            freed = await asyncio.to_thread(store.compact_packs)
        except OSError as error:  # a full or failing disk: try again later
            log.warning("pack compaction failed: %s", error)
            continue
        if freed:
            log.info("pack compaction gave back %d bytes", freed)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    config = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
