"""Rebalancing (with readers running), draining, scrub and orphan collection on a real cluster."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from support.catalog import catalog_rows
from support.chunk_daemons import data_place, flip_in_place
from support.clients import client_for
from support.data import locate, remove_piece
from support.ports import free_port_block
from support.processes import CHUNK_SERVERS, Cluster, private_directory, start_cluster, stop_cluster
from support.waiting import wait_for

CAPACITY = 40_000_000


@pytest.fixture(scope="module")
def maint_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-maint-") as base:
        cluster, process = start_cluster(
            base / "data", base / "logs", ["--capacity", str(CAPACITY), "--down-after", "3"]
        )
        try:
            yield cluster
        finally:
            stop_cluster(process)


def admin_json(cluster: Cluster, *arguments: str, expect: int = 0) -> Any:
    answer = subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert answer.returncode == expect, answer.stderr + answer.stdout
    return json.loads(answer.stdout)


def start_daemon(cluster: Cluster, data_dir: Path) -> subprocess.Popen[bytes]:
    port = free_port_block(1)
    command = [
        sys.executable, "-m", "chunkd",
        "--data", str(data_dir),
        "--port", str(port),
        "--capacity", str(CAPACITY),
        "--gateway", cluster.endpoint,
        "--heartbeat", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "CHUNKD_SECRET": cluster.cluster_secret}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def placed_bytes(cluster: Cluster, bucket: str) -> dict[str, int]:
    rows = catalog_rows(
        cluster,
        "SELECT server_id, sum(length) FROM chunks JOIN objects USING (version_id) "
        "WHERE bucket = ? GROUP BY server_id",
        bucket,
    )
    return {server: int(total) for server, total in rows}


def servers_per_part(cluster: Cluster, bucket: str) -> set[int]:
    rows = catalog_rows(
        cluster,
        "SELECT count(DISTINCT server_id) FROM chunks JOIN objects USING (version_id) "
        "WHERE bucket = ? GROUP BY version_id, part_number",
        bucket,
    )
    return {count for (count,) in rows}


def states(cluster: Cluster) -> dict[str, str]:
    return dict(catalog_rows(cluster, "SELECT server_id, state FROM servers"))


class Reader(threading.Thread):
    """Reads every object over and over, counting any wrong or failed read."""

    def __init__(self, client: BaseClient, bucket: str, digests: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client, self.bucket, self.digests = client, bucket, digests
        self.stop = threading.Event()
        self.reads = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for key, digest in self.digests.items():
                try:
                    body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    if hashlib.md5(body).hexdigest() != digest:
                        self.failures.append(f"{key}: wrong bytes")
                except Exception as error:  # every failure is a finding
                    self.failures.append(f"{key}: {error}")
                self.reads += 1


def test_scrub_finds_corrupt_missing_and_orphan_chunks(maint_cluster: Cluster) -> None:
    client = client_for(maint_cluster)
    client.create_bucket(Bucket="scrub")
    for n in range(3):
        client.put_object(Bucket="scrub", Key=f"s{n}", Body=os.urandom(30_000))
    clean = admin_json(maint_cluster, "scrub")
    assert not any(f["corrupt"] or f["missing"] for f in clean["servers"].values())
    chunks = locate(maint_cluster, "scrub", "s0")["chunks"]
    corrupt, missing = chunks[0], chunks[1]
    number = maint_cluster.chunk_urls.index(corrupt["url"]) + 1
    flip_in_place(*data_place(maint_cluster.data_dir / f"chunkd-{number}", corrupt["chunk_id"]))
    remove_piece(maint_cluster, missing["url"], missing["chunk_id"])
    orphan_id = uuid.uuid4().hex
    request = urllib.request.Request(
        f"{chunks[2]['url']}/chunks/{orphan_id}",
        data=b"orphan bytes",
        method="PUT",
        headers={"Authorization": f"Bearer {maint_cluster.cluster_secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
    found = admin_json(maint_cluster, "scrub", expect=1)
    assert found["damaged"] is True
    assert corrupt["chunk_id"] in found["servers"][corrupt["server"]]["corrupt"]
    assert missing["chunk_id"] in found["servers"][missing["server"]]["missing"]
    assert orphan_id in found["servers"][chunks[2]["server"]]["orphans"]
    collected = admin_json(maint_cluster, "gc", "--orphans", "0")
    assert collected["deleted_orphans"] >= 1
    again = admin_json(maint_cluster, "scrub", expect=1)
    assert orphan_id not in again["servers"][chunks[2]["server"]]["orphans"]


def test_rebalance_onto_new_servers_while_reading(maint_cluster: Cluster, tmp_path: Path) -> None:
    client = client_for(maint_cluster)
    client.create_bucket(Bucket="rebal")
    digests = {}
    for n in range(24):
        body = os.urandom(120_000)
        client.put_object(Bucket="rebal", Key=f"k{n}", Body=body)
        digests[f"k{n}"] = hashlib.md5(body).hexdigest()
    daemons = [start_daemon(maint_cluster, tmp_path / f"new{n}") for n in range(3)]
    reader = Reader(client_for(maint_cluster), "rebal", digests)
    try:
        servers = CHUNK_SERVERS + len(daemons)
        wait_for(
            lambda: list(states(maint_cluster).values()).count("up") == servers or None,
            30,
        )
        before = placed_bytes(maint_cluster, "rebal")
        total = sum(before.values())
        mean = total / servers
        minimum_move = sum(max(0.0, used - mean) for used in before.values())
        plan = admin_json(maint_cluster, "rebalance", "--dry-run", "--spread", "0.0005")
        assert plan["planned_moves"] > 0 and plan["moved_bytes"] == 0
        reader.start()
        report = admin_json(maint_cluster, "rebalance", "--spread", "0.0005")
        reads_during_rebalance = reader.reads
        after = placed_bytes(maint_cluster, "rebal")
        assert sum(after.values()) == total
        # Every server within 10% of the mean (the target; a chunk is 20 kB here).
        assert all(abs(after.get(s, 0) - mean) <= 0.10 * mean for s in states(maint_cluster))
        ratio = report["moved_bytes"] / minimum_move
        print(
            f"\nrebalance moved {report['moved_bytes']} bytes, "
            f"minimum {minimum_move:.0f}: ratio {ratio:.2f}"
        )
        assert ratio <= 1.5
        # Still 6 data and 2 parity pieces per segment, each on its own server.
        assert servers_per_part(maint_cluster, "rebal") == {8}
        # Drain one of the new servers: rebalance empties it, then it can be removed.
        drained = next(s for s in after if s not in before)
        subprocess.run(
            [sys.executable, "-m", "s3compat", "admin", "--data", str(maint_cluster.data_dir),
             "server", "drain", drained],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        admin_json(maint_cluster, "rebalance", "--spread", "1")
        # The reader looped over every object through both moves: no failed or wrong read.
        reader.stop.set()
        reader.join(30)
        assert reader.failures == []
        assert reads_during_rebalance > 0 and reader.reads > reads_during_rebalance
        assert drained not in placed_bytes(maint_cluster, "rebal")
        for key, digest in digests.items():
            body = client.get_object(Bucket="rebal", Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == digest
    finally:
        reader.stop.set()
        for daemon in daemons:
            daemon.kill()
            daemon.wait()
