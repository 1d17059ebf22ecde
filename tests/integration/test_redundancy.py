"""Redundancy: 6 data pieces and M parity pieces on 6+M distinct servers, reads that survive
the loss of M servers, and repair that brings every object back to full protection."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt_checksums
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.catalog import catalog_rows, catalog_url_for
from support.clients import client_for, http_status, unique_bucket_name
from support.data import admin, locate, remove_piece
from support.ports import free_port_block
from support.processes import Cluster, child_pids, running_cluster
from support.signing import raw_request
from support.waiting import run_async, wait_for

from s3compat.catalog.backend import open_database
from s3compat.cluster.client import ChunkClient
from s3compat.store.split import split_sizes

MiB = 1024 * 1024
SIZES = (0, 1, 5, 6, 7, MiB + 1, 17 * MiB)
PART_SIZES = (5 * MiB, 5 * MiB, MiB + 3)


def write_objects(s3: BaseClient, bucket: str) -> dict[str, bytes]:
    """Single PUTs of every size in SIZES and one multipart object; key -> bytes."""
    written: dict[str, bytes] = {}
    for size in SIZES:
        body = os.urandom(size)
        s3.put_object(Bucket=bucket, Key=f"single-{size}", Body=body)
        written[f"single-{size}"] = body
    parts = [os.urandom(size) for size in PART_SIZES]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=n, Body=part)["ETag"]
        for n, part in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multi",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    written["multi"] = b"".join(parts)
    return written


def check_reads(s3: BaseClient, bucket: str, written: dict[str, bytes], seed: int = 7) -> None:
    """Every object whole, a few ranges of each, and every part of the multipart one:
    byte-exact."""
    rng = random.Random(seed)
    for key, body in written.items():
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert got == body, f"{key}: {len(got)} bytes read, {len(body)} written or different"
        for _ in range(3 if body else 0):
            low = rng.randrange(len(body))
            high = rng.randrange(low, min(len(body), low + 3 * MiB))
            ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={low}-{high}")
            assert ranged["Body"].read() == body[low : high + 1], f"{key} [{low}, {high}]"
    offset = 0
    for number, size in enumerate(PART_SIZES, start=1):
        part = s3.get_object(Bucket=bucket, Key="multi", PartNumber=number)["Body"].read()
        assert part == written["multi"][offset : offset + size], f"part {number}"
        offset += size


def segments_of(found: dict[str, Any]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """An object's pieces (from `admin locate`) by segment (part number, offset)."""
    grouped: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for piece in found["chunks"]:
        grouped[(piece["part_number"], piece["offset"])].append(piece)
    return grouped


def check_protection(
    cluster: Cluster,
    bucket: str,
    written: dict[str, bytes],
    parity: int,
    avoid: frozenset[str] = frozenset(),
) -> None:
    """Each segment: 6 data pieces differing by at most one byte and summing to its size,
    `parity` parity pieces, all on distinct servers that are up (none of `avoid`)."""
    for key, body in written.items():
        found = locate(cluster, bucket, key)
        groups = segments_of(found)
        assert sum(p["length"] for g in groups.values() for p in g if p["index"] < 6) == len(body)
        expected_parts = len(PART_SIZES) if key == "multi" else 1
        assert len(groups) == expected_parts, (key, sorted(groups))
        for where, pieces in groups.items():
            roles = sorted(p["role"] for p in pieces)
            assert roles == sorted(
                [f"data {i}" for i in range(6)] + [f"parity {j}" for j in range(parity)]
            ), (key, where, roles)
            servers = [p["server"] for p in pieces]
            assert len(set(servers)) == 6 + parity, (key, where, servers)
            assert not set(servers) & avoid, (key, where, servers, avoid)
            assert {p["state"] for p in pieces} == {"up"}, (key, where, pieces)
            data = [p["length"] for p in pieces if p["role"].startswith("data")]
            assert max(data) - min(data) <= 1, (key, where, data)
            assert all(p["layout"] == "striped" and p["parity"] == parity for p in pieces)


def test_every_segment_has_its_pieces_on_distinct_servers(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    """The default cluster: 8 servers, parity 2: 8 pieces per segment on 8 servers."""
    written = write_objects(s3, bucket)
    check_reads(s3, bucket, written)
    check_protection(cluster, bucket, written, parity=2)


# --- losing servers --------------------------------------------------------------------------


def chunkd_pid(cluster: Cluster, url: str) -> int:
    port = url.rsplit(":", 1)[1]
    for pid in child_pids(cluster.pid):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"chunkd" in b" ".join(words) and port.encode() in words:
            return pid
    raise AssertionError(f"no chunk daemon on {url}")


def destroy_server(cluster: Cluster, number: int) -> None:
    """kill -9 chunk daemon `number` and delete its data folder; a file where the folder was
    keeps the restarted daemon from starting (a machine that is gone)."""
    url = cluster.chunk_urls[number - 1]
    folder = cluster.chunk_dirs[number - 1]
    os.kill(chunkd_pid(cluster, url), signal.SIGKILL)
    # The launcher restarts a dead daemon within a second, and a restarted daemon makes its
    # folder again: move the folder aside in one rename and put the file in its place at once;
    # delete the old contents (which may take longer than the restart pause) after that.
    tombs: list[Path] = []
    while True:
        tomb = folder.with_name(f"{folder.name}.destroyed-{len(tombs)}")
        try:
            folder.rename(tomb)
            tombs.append(tomb)
        except FileNotFoundError:
            pass
        try:
            with folder.open("x") as gone:
                gone.write("this server is gone\n")
            break
        except (FileExistsError, IsADirectoryError):
            continue  # a restarted daemon made the folder again: move that aside too
    # A daemon restarted before the rename would still run: kill it; it cannot start again.
    with contextlib.suppress(AssertionError, ProcessLookupError):
        os.kill(chunkd_pid(cluster, url), signal.SIGKILL)
    for tomb in tombs:
        shutil.rmtree(tomb)


def server_ids(cluster: Cluster) -> dict[str, str]:
    """Chunk server id by URL."""
    return {s["url"]: s["server_id"] for s in admin(cluster, "server", "list")}


def holders(cluster: Cluster, bucket: str, key: str, role_prefix: str = "data") -> list[str]:
    """Servers holding pieces of `key` with roles starting `role_prefix`."""
    found = locate(cluster, bucket, key)
    return sorted({p["server"] for p in found["chunks"] if p["role"].startswith(role_prefix)})


def run_admin(
    cluster: Cluster, *arguments: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def ten_servers() -> Iterator[Cluster]:
    with running_cluster(
        "s3compat-ten-", ["--servers", "10", "--repair-interval", "3600"]
    ) as running:
        yield running


def test_two_servers_destroyed_then_repaired_then_two_more(ten_servers: Cluster) -> None:
    cluster = ten_servers
    s3 = client_for(cluster)
    bucket = unique_bucket_name("ten")
    s3.create_bucket(Bucket=bucket)
    written = write_objects(s3, bucket)
    ids = server_ids(cluster)
    numbers = {ids[url]: n for n, url in enumerate(cluster.chunk_urls, start=1)}
    # Two servers holding data pieces of the multipart object: its reads must rebuild.
    first = holders(cluster, bucket, "multi")[:2]
    for server in first:
        destroy_server(cluster, numbers[server])
    check_reads(s3, bucket, written)
    for server in first:
        declared = run_admin(cluster, "server", "lost", server)
        assert declared.returncode == 0 and declared.stdout.strip() == "lost", declared
    repaired = run_admin(cluster, "repair", "--wait")
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    check_protection(cluster, bucket, written, parity=2, avoid=frozenset(first))
    # Two other servers, again holding data pieces: still byte-exact.
    second = [s for s in holders(cluster, bucket, "multi") if s not in first][:2]
    for server in second:
        destroy_server(cluster, numbers[server])
    check_reads(s3, bucket, written, seed=8)
    # Six survivors cannot hold 8 distinct pieces: repair says so, and finishes once servers
    # are added.
    for server in second:
        assert run_admin(cluster, "server", "lost", server).returncode == 0
    stuck = run_admin(cluster, "repair")
    assert stuck.returncode == 1 and "add a server" in stuck.stderr, stuck
    added = [start_daemon(cluster, Path(cluster.data_dir) / f"added-{n}") for n in (1, 2)]
    try:
        wait_for(
            lambda: sum(s["state"] == "up" for s in admin(cluster, "server", "list")) == 8,
            timeout=60,
        )
        repaired = run_admin(cluster, "repair", "--wait")
        assert repaired.returncode == 0, repaired.stderr[-3000:]
        check_protection(cluster, bucket, written, parity=2, avoid=frozenset(first + second))
        check_reads(s3, bucket, written, seed=9)
    finally:
        for daemon in added:
            daemon.kill()
            daemon.wait()


@pytest.fixture
def self_healing() -> Iterator[Cluster]:
    """9 servers, parity 2; a silent server is down after 1 s and lost after 4 s more, and
    repair passes run every second."""
    options = ["--servers", "9", "--down-after", "1", "--lost-after", "4", "--repair-interval", "1"]
    with running_cluster("s3compat-heal-", options) as running:
        yield running


def scrape_repair(cluster: Cluster) -> dict[str, float]:
    """The gateway's repair metrics: s3compat_repair_total and s3compat_under_protected."""
    with urllib.request.urlopen(f"{cluster.endpoint}/-/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("s3compat_repair_total", "s3compat_under_protected"):
            if line.startswith(name + "{"):
                kind = line.split('kind="', 1)[1].split('"', 1)[0]
                found[f"{name}:{kind}"] = float(line.rsplit(" ", 1)[1])
    return found


def test_a_server_gone_for_good_is_healed_without_anyone(self_healing: Cluster) -> None:
    """No operator: a destroyed server is declared lost after --lost-after, the gateway's
    repairer rebuilds its pieces on the other servers, and the metrics say so."""
    cluster = self_healing
    s3 = client_for(cluster)
    bucket = unique_bucket_name("heal")
    s3.create_bucket(Bucket=bucket)
    written = write_objects(s3, bucket)
    ids = server_ids(cluster)
    numbers = {ids[url]: n for n, url in enumerate(cluster.chunk_urls, start=1)}
    victim = holders(cluster, bucket, "multi")[0]
    destroy_server(cluster, numbers[victim])
    check_reads(s3, bucket, written)

    def states_once_lost() -> dict[str, str] | None:
        states = {s["server_id"]: s["state"] for s in admin(cluster, "server", "list")}
        return states if states[victim] == "lost" else None

    states = wait_for(states_once_lost, timeout=60, interval=0.5)
    assert sorted(states.values()).count("up") == 8, states

    def healed() -> dict[str, float] | None:
        on_victim = catalog_rows(cluster, "SELECT count(*) FROM chunks WHERE server_id = ?", victim)
        found = scrape_repair(cluster)
        done = on_victim == [(0,)] and found.get("s3compat_under_protected:objects") == 0
        return found if done else None

    metrics = wait_for(healed, timeout=120, interval=1.0)
    check_protection(cluster, bucket, written, parity=2, avoid=frozenset([victim]))
    segments = sum(len(segments_of(locate(cluster, bucket, key))) for key in written)
    # The victim held one piece of (nearly) every segment: 8 of 9 servers hold each one.
    assert metrics["s3compat_repair_total:pieces_rebuilt"] >= 1, metrics
    assert metrics["s3compat_repair_total:pieces_rebuilt"] <= segments, (metrics, segments)
    assert metrics["s3compat_repair_total:bytes_rebuilt"] > 0, metrics
    check_reads(s3, bucket, written, seed=11)


def start_daemon(cluster: Cluster, data_dir: Path) -> subprocess.Popen[bytes]:
    """A chunk daemon outside the launcher that registers with the gateway (a new server)."""
    command = [
        sys.executable, "-m", "chunkd",
        "--data", str(data_dir),
        "--port", str(free_port_block(1)),
        "--gateway", cluster.endpoint,
        "--heartbeat", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "CHUNKD_SECRET": cluster.cluster_secret}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- too many pieces gone ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1000, 5 * MiB])
def test_three_pieces_of_a_stripe_gone_is_a_503_not_a_partial_body(
    cluster: Cluster, s3: BaseClient, bucket: str, size: int
) -> None:
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="fragile", Body=body)
    pieces = locate(cluster, bucket, "fragile")["chunks"]
    # Three are more than parity 2 makes up for (fewer are read around, and repaired at once).
    for piece in pieces[:3]:
        remove_piece(cluster, piece["url"], piece["chunk_id"])
    answer = raw_request(cluster, "GET", f"/{bucket}/fragile")
    assert answer.status == 503, (answer.status, answer.body[:300])
    assert answer.error_code() == "ServiceUnavailable", answer.body[:300]
    assert body[:64] not in answer.body
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="fragile", Range="bytes=0-99")
    assert http_status(raised.value) == 503
    # Scrub calls it lost (not merely degraded); it goes, so that repair has nothing to wait for.
    scrubbed = run_admin(cluster, "scrub")
    assert scrubbed.returncode == 1
    assert f"{bucket}/fragile" in json_of(scrubbed)["objects"]["lost"]
    s3.delete_object(Bucket=bucket, Key="fragile")


def json_of(completed: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(completed.stdout)


# --- objects from before striping ----------------------------------------------------------------


def make_contiguous(cluster: Cluster, bucket: str, key: str, body: bytes) -> None:
    """Store an object's bytes as every object was stored before the striped layout: 6
    pieces, piece i the i-th contiguous sixth, no parity (the catalog's layout 1)."""
    (version,) = catalog_rows(
        cluster, "SELECT version_id FROM objects WHERE bucket = ? AND key = ?", bucket, key
    )[0]
    servers = [s for s in admin(cluster, "server", "list") if s["state"] == "up"][:6]

    async def rewrite() -> None:
        rows, offset = [], 0
        async with ChunkClient(cluster.cluster_secret) as client:
            for index, (size, server) in enumerate(
                zip(split_sizes(len(body)), servers, strict=True)
            ):
                piece = body[offset : offset + size]
                chunk_id, crc = uuid.uuid4().hex, f"{crt_checksums.crc32c(piece):08x}"
                await client.put_chunk(server["url"], chunk_id, size, piece, crc)
                rows.append((chunk_id, server["server_id"], version, index, offset, size, crc))
                offset += size
        db = await open_database(catalog_url_for(cluster))

        async def swap(tx: Any) -> None:
            old = await tx.all(
                "SELECT chunk_id, server_id FROM chunks WHERE version_id = ?", (version,)
            )
            await tx.execute("DELETE FROM chunks WHERE version_id = ?", (version,))
            await tx.many(
                "INSERT INTO deletions (chunk_id, server_id, not_before) VALUES (?, ?, 0)",
                [tuple(row) for row in old],
            )
            await tx.many(
                "INSERT INTO chunks (chunk_id, server_id, version_id, upload_id, part_number, "
                'piece, "offset", length, crc32c, layout, segment_length, block_bytes, parity) '
                "VALUES (?, ?, ?, NULL, 1, ?, ?, ?, ?, 1, 0, 0, 0)",
                rows,
            )

        try:
            await db.retrying(swap)
        finally:
            await db.close()

    run_async(rewrite())


def test_contiguous_objects_stay_readable_and_reprotect_to_parity(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    written = {}
    for size in (7, MiB + 1, 3 * MiB + 5):
        body = os.urandom(size)
        s3.put_object(Bucket=bucket, Key=f"old-{size}", Body=body)
        make_contiguous(cluster, bucket, f"old-{size}", body)
        written[f"old-{size}"] = body
    for key, body in written.items():
        pieces = locate(cluster, bucket, key)["chunks"]
        assert [p["layout"] for p in pieces] == ["contiguous"] * 6, pieces
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=3-{len(body) - 2}")
        assert ranged["Body"].read() == body[3:-1]
    reprotected = run_admin(cluster, "repair", "--reprotect")
    assert json_of(reprotected)["reprotected"] >= len(written), reprotected.stderr[-2000:]
    for key, body in written.items():
        pieces = locate(cluster, bucket, key)["chunks"]
        assert sorted(p["role"] for p in pieces) == sorted(
            [f"data {i}" for i in range(6)] + ["parity 0", "parity 1"]
        ), pieces
        assert len({p["server"] for p in pieces}) == 8
        assert {p["layout"] for p in pieces} == {"striped"}
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
