"""64 concurrent connections of mixed small requests: zero errors, and the gateway's open file
descriptors and memory come back to where they were."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from faults_support import gateway_pid, it

Cluster = Any
CONNECTIONS = 64
DURATION_SECONDS = 60.0 if os.environ.get("S3COMPAT_LOAD_LONG") == "1" else 20.0
MAX_FD_GROWTH = 20
MAX_RSS_GROWTH_BYTES = 50 * 1024 * 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


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
        region_name=it.REGION,
    )
    config = Config(max_pool_connections=2, retries={"max_attempts": 1, "mode": "standard"})
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def _worker(
    client: BaseClient, bucket: str, number: int, stop_at: float, errors: list[str], done: list[int]
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


def test_mixed_load_has_no_errors_and_no_leaks(healthy_cluster: Cluster, fbucket: str) -> None:
    cluster = healthy_cluster
    pid = gateway_pid(cluster)
    clients = [_client(cluster) for _ in range(CONNECTIONS)]
    errors: list[str] = []
    done: list[int] = []
    try:
        # Warm up (pools, caches), then measure.
        _worker(clients[0], fbucket, 99, time.monotonic() + 1.0, errors, [])
        time.sleep(1.0)
        fds_before, rss_before = open_fds(pid), rss_bytes(pid)
        stop_at = time.monotonic() + DURATION_SECONDS
        threads = [
            threading.Thread(target=_worker, args=(client, fbucket, n, stop_at, errors, done))
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
    # Idle keep-alive connections (to clients and pooled to chunk daemons) close after their
    # keep-alive timeout: give them up to 30 s before calling the difference a leak.
    settle_deadline = time.monotonic() + 30.0
    while open_fds(pid) - fds_before > MAX_FD_GROWTH and time.monotonic() < settle_deadline:
        time.sleep(1.0)
    fds_after, rss_after = open_fds(pid), rss_bytes(pid)
    total = sum(done)
    print(
        f"load: {total} operations in {DURATION_SECONDS:.0f} s on {CONNECTIONS} connections; "
        f"gateway fds {fds_before} -> {fds_after}, "
        f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB"
    )
    assert not errors, f"{len(errors)} errors, first: {errors[:5]}"
    assert len(done) == CONNECTIONS
    assert total >= CONNECTIONS * 5
    assert fds_after - fds_before <= MAX_FD_GROWTH
    assert rss_after - rss_before <= MAX_RSS_GROWTH_BYTES
