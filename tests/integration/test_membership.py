"""Chunk servers join a running cluster by heartbeat, are marked down and up, drained, removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from support.catalog import catalog_dicts, catalog_rows
from support.clients import client_for
from support.ports import free_port_block
from support.processes import CHUNK_SERVERS, Cluster, private_directory, start_cluster, stop_cluster
from support.waiting import wait_for


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-members-") as base:
        cluster, process = start_cluster(base / "data", base / "logs", ["--down-after", "2"])
        try:
            yield cluster
        finally:
            stop_cluster(process)


def gateway_servers_up(cluster: Cluster) -> int:
    """How many writable servers the gateway's own view holds (from /-/health)."""
    try:
        with urllib.request.urlopen(f"{cluster.endpoint}/-/health", timeout=5) as answer:
            return int(json.load(answer)["servers_up"])
    except urllib.error.HTTPError as error:
        return int(json.load(error)["servers_up"])


def admin_run(cluster: Cluster, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )


def servers(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """The catalog's server table (read directly: polling through `admin` would spawn a
    process per poll)."""
    return {row["server_id"]: row for row in catalog_dicts(cluster, "SELECT * FROM servers")}


def test_admin_server_list_shows_fill(small_cluster: Cluster) -> None:
    answer = admin_run(small_cluster, "server", "list")
    assert answer.returncode == 0, answer.stderr
    rows = json.loads(answer.stdout)
    assert len(rows) == CHUNK_SERVERS
    assert all(
        {"server_id", "url", "state", "fill_percent", "chunk_count"} <= row.keys() for row in rows
    )


def start_extra_daemon(cluster: Cluster, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "chunkd",
        "--data", str(data_dir),
        "--port", str(port),
        "--gateway", cluster.endpoint,
        "--heartbeat", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "CHUNKD_SECRET": cluster.cluster_secret}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def chunks_on(cluster: Cluster, bucket: str, keys: list[str], server_id: str) -> int:
    """How many chunks of these objects the catalog places on `server_id`."""
    marks = ", ".join("?" * len(keys))
    (found,) = catalog_rows(
        cluster,
        "SELECT count(*) FROM chunks JOIN objects USING (version_id) "
        f"WHERE bucket = ? AND server_id = ? AND key IN ({marks})",
        bucket,
        server_id,
        *keys,
    )
    return int(found[0])


def put_objects(client: BaseClient, bucket: str, prefix: str, count: int) -> list[str]:
    keys = [f"{prefix}{n}" for n in range(count)]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=os.urandom(60_000))
    return keys


def test_daemon_joins_goes_down_comes_back_is_drained_and_removed(
    small_cluster: Cluster, tmp_path: Path
) -> None:
    client = client_for(small_cluster)
    client.create_bucket(Bucket="members")
    port = free_port_block(1)
    data_dir = tmp_path / "extra"
    daemon = start_extra_daemon(small_cluster, data_dir, port)
    try:
        # Joined: registered, up, and its first heartbeat has told its capacity (the row
        # exists a moment before that).
        joined = wait_for(
            lambda: next(
                (
                    s
                    for s in servers(small_cluster).values()
                    if s["url"].endswith(f":{port}")
                    and s["state"] == "up"
                    and s["capacity_bytes"] > 0
                ),
                None,
            ),
            20,
        )
        new_id = joined["server_id"]
        assert (data_dir / "server-id").read_text().strip() == new_id
        assert joined["state"] == "up" and joined["capacity_bytes"] > 0
        # Once the gateway itself sees it (it reloads its view every 2 s), the empty newcomer
        # takes a share of new writes.
        wait_for(lambda: gateway_servers_up(small_cluster) == CHUNK_SERVERS + 1 or None, 20)
        # Its capacity reaches the gateway's view with the next reload after that (a server
        # whose room is not known yet takes no writes): write in rounds until it has some.
        rounds = iter(range(10))
        keys: list[str] = []

        def newcomer_takes_writes() -> bool | None:
            written = put_objects(client, "members", f"a{next(rounds)}-", 10)
            keys.extend(written)
            return chunks_on(small_cluster, "members", written, new_id) > 0 or None

        wait_for(newcomer_takes_writes, 30)
        # Killed: marked down after the silence, no longer chosen for writes.
        daemon.kill()
        daemon.wait()
        wait_for(lambda: servers(small_cluster)[new_id]["state"] == "down" or None, 20)
        more = put_objects(client, "members", "b", 10)
        assert chunks_on(small_cluster, "members", more, new_id) == 0
        # Back with the same identity: up again.
        daemon = start_extra_daemon(small_cluster, data_dir, port)
        wait_for(lambda: servers(small_cluster)[new_id]["state"] == "up" or None, 20)
        # Drained: no new writes; removal is refused while it holds chunks.
        assert admin_run(small_cluster, "server", "drain", new_id).stdout.strip() == "draining"
        wait_for(lambda: servers(small_cluster)[new_id]["state"] == "draining" or None, 5)
        time.sleep(2.5)  # let the gateway's poller reload the drained state
        drained = put_objects(client, "members", "c", 15)
        assert chunks_on(small_cluster, "members", drained, new_id) == 0
        refused = admin_run(small_cluster, "server", "remove", new_id)
        assert refused.returncode == 1 and "refused" in refused.stdout
        # Once nothing is stored there any more, removal goes through.
        for key in keys:
            client.delete_object(Bucket="members", Key=key)
        wait_for(
            lambda: admin_run(small_cluster, "server", "remove", new_id).returncode == 0 or None,
            30,
        )
        assert servers(small_cluster)[new_id]["state"] == "removed"
    finally:
        daemon.kill()
        daemon.wait()
