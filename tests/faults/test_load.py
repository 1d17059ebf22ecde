"""64 concurrent connections of mixed small requests on the default cluster (8 daemons, every
object 6 data + 2 parity pieces): zero errors, every object left stored with at least the 7
pieces a write must have, and the gateway's open file descriptors and memory come back to where
they were.

File descriptors: the gateway keeps idle keep-alive connections to each chunk daemon. aiohttp
closes one after 15 s unused, but hands out the pool's oldest connection first, so the daemon
poll (every 2 s) keeps up to about 15 / 2 of them alive per daemon, however many a burst opened.
Those are counted per daemon against a bound; every other descriptor (client connections,
files) must come back to where it was.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from faults_support import gateway_pid
from support.catalog import catalog_rows
from support.clients import REGION

Cluster = Any
CONNECTIONS = 64
DURATION_SECONDS = 60.0 if os.environ.get("S3COMPAT_LOAD_LONG") == "1" else 20.0
# Descriptors other than connections to chunk daemons.
MAX_FD_GROWTH = 10
# Idle pooled connections to one chunk daemon (keep-alive 15 s / poll interval 2 s, rounded
# up, and a few in use by background duties).
MAX_POOLED_PER_DAEMON = 12
SETTLE_SECONDS = 45.0
MIN_PIECES = 7  # 6 data pieces + min(parity, 1): what an acknowledged write has at least
MAX_RSS_GROWTH_BYTES = 50 * 1024 * 1024


def _socket_peers(pid: int) -> dict[str, int]:
    """Socket inode -> remote TCP port, for the sockets of `pid`'s network namespace."""
    peers: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9:
                peers[fields[9]] = int(fields[2].rsplit(":", 1)[1], 16)
    return peers


def fd_census(pid: int, daemon_ports: set[int]) -> tuple[Counter[int], int]:
    """The gateway's open descriptors: connections per chunk daemon port, and all others."""
    peers = _socket_peers(pid)
    to_daemons: Counter[int] = Counter()
    others = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        port = peers.get(target[len("socket:[") : -1]) if target.startswith("socket:[") else None
        if port in daemon_ports:
            to_daemons[port] += 1
        else:
            others += 1
    return to_daemons, others


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _client(cluster: Cluster) -> BaseClient:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name=REGION,
    )
    config = Config(max_pool_connections=2, retries={"max_attempts": 1, "mode": "standard"})
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def _worker(
    client: BaseClient,
    bucket: str,
    number: int,
    stop_at: float,
    errors: list[str],
    done: list[int],
    kept: dict[str, bytes] | None = None,
) -> None:
    chooser = random.Random(number)
    prefix = f"w{number:02d}/"
    mine: dict[str, bytes] = {}
    operations = 0
    while time.monotonic() < stop_at and len(errors) < 50:
        operations += 1
        roll = chooser.random()
        try:
            if roll < 0.3 or not mine:
                key = f"{prefix}{chooser.randrange(20)}"
                data = chooser.randbytes(chooser.randrange(0, 8192))
                client.put_object(Bucket=bucket, Key=key, Body=data)
                mine[key] = data
            elif roll < 0.6:
                key = chooser.choice(sorted(mine))
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                if body != mine[key]:
                    errors.append(f"{key}: read {len(body)} bytes, wrote {len(mine[key])}")
            elif roll < 0.75:
                key = chooser.choice(sorted(mine))
                size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
                if size != len(mine[key]):
                    errors.append(f"{key}: HEAD says {size}, wrote {len(mine[key])}")
            elif roll < 0.9:
                listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
                keys = {item["Key"] for item in listed}
                if keys != set(mine):
                    errors.append(f"{prefix}: listed {sorted(keys)}, expected {sorted(mine)}")
            else:
                key = chooser.choice(sorted(mine))
                client.delete_object(Bucket=bucket, Key=key)
                del mine[key]
        except (ClientError, BotoCoreError) as error:
            errors.append(f"worker {number}: {error!r}")
    done.append(operations)
    if kept is not None:
        kept.update(mine)


def stored_pieces(cluster: Cluster, bucket: str) -> dict[str, tuple[int, int, int, int]]:
    """Per key of the bucket: (size, pieces, distinct servers, bytes in the data pieces)."""
    rows = catalog_rows(
        cluster,
        "SELECT o.key, o.size, count(c.chunk_id), count(DISTINCT c.server_id), "
        "coalesce(sum(CASE WHEN c.piece < 6 THEN c.length ELSE 0 END), 0) "
        "FROM objects o LEFT JOIN chunks c ON c.version_id = o.version_id "
        "WHERE o.bucket = ? GROUP BY o.version_id, o.key, o.size",
        bucket,
    )
    return {str(key): (int(a), int(b), int(c), int(d)) for key, a, b, c, d in rows}


def test_mixed_load_has_no_errors_and_no_leaks(healthy_cluster: Cluster, fbucket: str) -> None:
    cluster = healthy_cluster
    pid = gateway_pid(cluster)
    daemon_ports = {int(urlsplit(url).port or 0) for url in cluster.chunk_urls}
    clients = [_client(cluster) for _ in range(CONNECTIONS)]
    errors: list[str] = []
    done: list[int] = []
    kept: dict[str, bytes] = {}
    try:
        # Warm up (pools, caches), then measure.
        _worker(clients[0], fbucket, 99, time.monotonic() + 1.0, errors, [], kept)
        time.sleep(1.0)
        pooled_before, others_before = fd_census(pid, daemon_ports)
        rss_before = rss_bytes(pid)
        stop_at = time.monotonic() + DURATION_SECONDS
        threads = [
            threading.Thread(target=_worker, args=(client, fbucket, n, stop_at, errors, done, kept))
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DURATION_SECONDS + 120)
        assert not any(thread.is_alive() for thread in threads), "workers did not finish"
    finally:
        for client in clients:
            client.close()
    total = sum(done)
    assert not errors, f"{len(errors)} errors, first: {errors[:5]}"
    assert len(done) == CONNECTIONS
    assert total >= CONNECTIONS * 5
    # Every object left is stored as the workers last wrote it, with at least the pieces an
    # acknowledged write has, each on its own daemon, its data pieces summing to its size.
    stored = stored_pieces(cluster, fbucket)
    assert sorted(stored) == sorted(kept)
    for key, (size, pieces, servers, data_bytes) in stored.items():
        assert size == len(kept[key]), key
        assert MIN_PIECES <= pieces == servers <= len(cluster.chunk_urls), (key, pieces, servers)
        assert data_bytes == size, (key, data_bytes, size)
    full = sum(1 for _, pieces, _, _ in stored.values() if pieces == len(cluster.chunk_urls))
    # Idle keep-alive connections (to clients and pooled to chunk daemons) close after their
    # keep-alive timeout: give them time before calling what is left a leak.

    def settled() -> bool:
        pooled, others = fd_census(pid, daemon_ports)
        return others - others_before <= MAX_FD_GROWTH and all(
            pooled[port] <= MAX_POOLED_PER_DAEMON for port in daemon_ports
        )

    settle_deadline = time.monotonic() + SETTLE_SECONDS
    while not settled() and time.monotonic() < settle_deadline:
        time.sleep(1.0)
    pooled_after, others_after = fd_census(pid, daemon_ports)
    rss_after = rss_bytes(pid)
    print(
        f"load: {total} operations in {DURATION_SECONDS:.0f} s on {CONNECTIONS} connections; "
        f"{len(stored)} objects left, {full} with all their pieces; gateway fds other than "
        f"to chunk daemons {others_before} -> {others_after}, to each chunk daemon "
        f"{sorted(pooled_before.values())} -> {sorted(pooled_after.values())}, "
        f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB"
    )
    assert others_after - others_before <= MAX_FD_GROWTH
    assert max(pooled_after.values(), default=0) <= MAX_POOLED_PER_DAEMON, pooled_after
    assert rss_after - rss_before <= MAX_RSS_GROWTH_BYTES
