"""A chunk daemon's identity and its heartbeats to the gateway.

The server id is created once and kept in the data directory, so a daemon that restarts (or
moves to another address) is the same server to the catalog. With `--gateway URL` the daemon
registers itself and then reports its capacity and usage every few seconds; the gateway marks
it down when the reports stop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import aiohttp

from chunkd.storage import ChunkStore

SERVER_ID_FILE = "server-id"
HEARTBEAT_PATH = "/-/cluster/heartbeat"
HEARTBEAT_TIMEOUT_SECONDS = 5.0

log = logging.getLogger("chunkd")


def server_id(data_dir: Path) -> str:
    """This daemon's stable id, created at first start."""
    path = data_dir / SERVER_ID_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    chosen = f"chunkd-{secrets.token_hex(6)}"
    temp = path.with_suffix(".tmp")
    temp.write_text(chosen + "\n")
    temp.replace(path)
    return chosen


async def send_heartbeats(
    gateway_url: str,
    secret: str,
    identity: str,
    advertised_url: str,
    store: ChunkStore,
    interval: float,
) -> None:
    """Report to the gateway every `interval` seconds until cancelled; failures are logged and
    retried (the gateway may be restarting)."""
    url = gateway_url.rstrip("/") + HEARTBEAT_PATH
    headers = {"Authorization": f"Bearer {secret}"}
    timeout = aiohttp.ClientTimeout(total=HEARTBEAT_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        while True:
            stats = store.stats()
            report = {
                "server_id": identity,
                "url": advertised_url,
                "capacity_bytes": stats.capacity_bytes,
                "used_bytes": stats.used_bytes,
                "free_bytes": stats.free_bytes,
                "chunk_count": stats.chunk_count,
            }
            try:
                async with session.post(url, json=report, ssl=False) as answer:
                    if answer.status != 200:
                        log.warning("heartbeat refused by %s: %s", url, answer.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning("heartbeat to %s failed: %s", url, error)
            await asyncio.sleep(interval)
