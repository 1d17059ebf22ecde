"""Chunk daemons that die, fill up, rot or hang: the gateway answers clean S3 errors, never a 500
and never wrong bytes, and recovers when the daemon does."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from faults_support import chunkd_pid, health, it

Cluster = Any
KILL_WATCH_SECONDS = 15.0
# --down-after (10 s) + one poll interval (2 s) + the poll timeout (2 s) + the probe before a
# server is marked down (5 s), and a margin for a loaded machine.
HEALTH_DOWN_SECONDS = 21.0
HEALTH_WAIT_SECONDS = 45.0
# Every read of the kill test: (key, status, code, "whole" / "cut" / "error").
KILL_READS: list[tuple[str, int, str | None, str]] = []
# How long /-/health took to notice a stopped daemon (set by the five-of-six test).
HEALTH_DOWN_AFTER: list[float] = []


def get_raw(
    cluster: Cluster, target: str, headers: dict[str, str] | None = None
) -> tuple[int, str | None, bytes]:
    """GET without retries: (status, S3 error code or None, body as far as it arrived)."""
    all_headers = it.sign(cluster, "GET", target, headers or {}, b"")
    connection = it.connection_for(cluster, timeout=30)
    try:
        connection.request("GET", target, headers=all_headers)
        answer = connection.getresponse()
        try:
            body = answer.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        except OSError:
            body = b""
        code = None
        if answer.status >= 300 and body.startswith(b"<?xml"):
            code = it.RawResponse(answer.status, answer.headers, body).error_code()
        return answer.status, code, body
    finally:
        connection.close()


def put_raw(cluster: Cluster, bucket: str, key: str, body: bytes) -> it.RawResponse:
    """PUT without retries (boto3 would retry a 503)."""
    return it.raw_request(cluster, "PUT", f"/{bucket}/{key}", body=body)


# ---------------------------------------------------------------------------------------------
# (a) kill -9


def _kill_and_watch(
    cluster: Cluster, fs3: BaseClient, bucket: str
) -> tuple[list[tuple[str, int, str | None, str]], int]:
    """Store 8 objects, SIGKILL one chunk daemon, and GET them all until every read is whole
    again. Returns every read as (key, status, code, "whole" / "cut" / "error") and the
    victim's old pid. Asserts on the way: never a 500, never a wrong byte."""
    objects = {f"obj-{n}": os.urandom(60_000 + n) for n in range(8)}
    for key, data in objects.items():
        fs3.put_object(Bucket=bucket, Key=key, Body=data)
    victim_url = cluster.chunk_urls[2]
    assert all(
        any(chunk["url"] == victim_url for chunk in it.locate(cluster, bucket, key)["chunks"])
        for key in objects
    )
    victim = chunkd_pid(cluster, victim_url)
    os.kill(victim, signal.SIGKILL)
    reads: list[tuple[str, int, str | None, str]] = []
    recovered = False
    deadline = time.monotonic() + KILL_WATCH_SECONDS
    while time.monotonic() < deadline and not recovered:
        recovered = True
        for key, data in objects.items():
            status, code, body = get_raw(cluster, f"/{bucket}/{key}")
            assert status in (200, 503), (key, status, code, body[:300])
            if status == 200:
                # A 200 whose stream is cut short is detectable (Content-Length); what arrived
                # must still be the object's own bytes.
                assert body == data[: len(body)], f"{key}: wrong bytes"
                outcome = "whole" if len(body) == len(data) else "cut"
            else:
                assert code == "ServiceUnavailable", (key, status, code, body[:300])
                outcome = "error"
            reads.append((key, status, code, outcome))
            recovered = recovered and outcome == "whole"
        if not recovered:
            time.sleep(0.05)
    assert recovered, f"reads did not recover within {KILL_WATCH_SECONDS} s: {reads[-8:]}"
    assert any(outcome != "whole" for *_, outcome in reads), "no read saw the dead daemon"
    assert chunkd_pid(cluster, victim_url) != victim
    for key, data in objects.items():
        assert fs3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    return reads, victim


def test_killed_chunk_daemon_gives_503_then_recovers(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    cluster = healthy_cluster
    started = time.monotonic()
    reads, _ = _kill_and_watch(cluster, fs3, fbucket)
    KILL_READS.extend(reads)
    print(
        f"reads recovered after {time.monotonic() - started:.1f} s; while down:",
        sorted({(s, c, o) for _, s, c, o in reads}),
    )
    # Writes work again with 6 daemons up.
    it.wait_for(lambda: health(cluster) == 200, timeout=30)
    for n in range(3):
        data = os.urandom(10_000)
        answer = put_raw(cluster, fbucket, f"after-{n}", data)
        assert answer.status == 200, (answer.status, answer.body[:300])
        assert fs3.get_object(Bucket=fbucket, Key=f"after-{n}")["Body"].read() == data


@pytest.mark.xfail(
    strict=False,  # timing: the gateway now refuses up front once it has seen the daemon fail
    reason="GET of an object whose 2nd..6th chunk is on a dead daemon answers 200 and cuts the "
    "body short when it reaches that chunk, instead of 503 ServiceUnavailable",
)
def test_killed_chunk_daemon_reads_are_503_not_cut_short() -> None:
    """Reads the answers seen by the kill test above (file order)."""
    assert KILL_READS, "the kill test did not run"
    cut = [(key, status) for key, status, _, outcome in KILL_READS if outcome == "cut"]
    assert not cut, f"200 answers cut short: {cut[:5]}"


# ---------------------------------------------------------------------------------------------
# (b) a full chunk daemon


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[Cluster]:
    with it.private_directory("s3compat-faults-small-") as root:
        running, process = it.start_cluster(root / "data", root, ["--capacity", "3000000"])
        try:
            yield running
        finally:
            it._stop(process)


def test_full_chunk_daemons_give_a_clean_error(small_cluster: Cluster) -> None:
    cluster = small_cluster
    s3 = it.client_for(cluster)
    bucket = it.unique_bucket_name("full")
    s3.create_bucket(Bucket=bucket)
    object_bytes = 600_000  # 100 kB per daemon; 6 x 3 MB hold about 30 of them
    stored: dict[str, bytes] = {}
    failure: it.RawResponse | None = None
    failed_key = ""
    for n in range(60):
        key = f"fill-{n:03d}"
        data = os.urandom(object_bytes)
        answer = put_raw(cluster, bucket, key, data)
        if answer.status == 200:
            stored[key] = data
            continue
        failure, failed_key = answer, key
        break
    assert failure is not None, f"60 PUTs of {object_bytes} bytes fit into 6 x 3 MB"
    print(f"full cluster answered {failure.status} {failure.error_code()} after {len(stored)}")
    assert failure.status != 500, failure.body[:300]
    assert failure.status in (503, 507), failure.body[:300]
    assert failure.error_code() in ("ServiceUnavailable", "SlowDown", "InsufficientStorage")
    # The failed write left no object.
    listed = {item["Key"]: item["Size"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert failed_key not in listed
    assert listed == {key: len(data) for key, data in stored.items()}
    status, code, _ = get_raw(cluster, f"/{bucket}/{failed_key}")
    assert (status, code) == (404, "NoSuchKey")
    for key, data in list(stored.items())[-3:]:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    # After GC, the daemons hold exactly the listed objects' bytes (plus a small footer per
    # chunk: see README "Chunk daemons").
    expected = sum(listed.values())
    chunk_count = 6 * len(listed)

    def settled() -> bool:
        it.admin(cluster, "gc")
        used = it.used_bytes(cluster)
        return expected <= used <= expected + 64 * chunk_count

    it.wait_for(settled, timeout=30, interval=1.0)
    s3.close()


# ---------------------------------------------------------------------------------------------
# (c) a corrupted chunk


def _chunk_path(cluster: Cluster, url: str, chunk_id: str) -> Path:
    number = cluster.chunk_urls.index(url) + 1
    return (
        cluster.data_dir / f"chunkd-{number}" / "chunks" / chunk_id[:2] / chunk_id[2:4] / chunk_id
    )


@contextlib.contextmanager
def flipped_byte(path: Path, offset: int) -> Iterator[None]:
    original = path.read_bytes()
    mode = path.stat().st_mode
    path.chmod(mode | 0o200)
    corrupted = bytearray(original)
    corrupted[offset] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    try:
        yield
    finally:
        path.write_bytes(original)
        path.chmod(mode)


def _corrupt_setup(cluster: Cluster, fs3: BaseClient, bucket: str) -> tuple[bytes, dict[str, Any]]:
    data = os.urandom(600_000)
    fs3.put_object(Bucket=bucket, Key="rot", Body=data)
    chunks = it.locate(cluster, bucket, "rot")["chunks"]
    return data, chunks[1]  # bytes 100000..199999


def test_corrupted_chunk_never_reaches_the_client_whole(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    cluster = healthy_cluster
    data, chunk = _corrupt_setup(cluster, fs3, fbucket)
    path = _chunk_path(cluster, chunk["url"], chunk["chunk_id"])
    with flipped_byte(path, 1234):
        status, code, body = get_raw(cluster, f"/{fbucket}/rot")
        assert status != 500 or code == "InternalError", (status, body[:200])
        wrong = bytearray(data)
        wrong[chunk["offset"] + 1234] ^= 0xFF
        assert body != bytes(wrong), "the client received the whole object with the bad byte"
        if status == 200:
            assert len(body) < len(data), "a 200 with the full length must be right"
    assert fs3.get_object(Bucket=fbucket, Key="rot")["Body"].read() == data


def _assert_right_bytes_or_clean_error(
    status: int, code: str | None, body: bytes, expected: bytes
) -> None:
    """A read of a range that holds a corrupted chunk: a clean S3 error, or a success whose
    body is cut short (a client sees fewer bytes than Content-Length): never a wrong byte."""
    if status in (200, 206):
        assert body == expected[: len(body)], f"wrong bytes served with {status}"
        assert len(body) < len(expected), "a complete answer must be right"
    else:
        assert (status, code) in ((503, "ServiceUnavailable"), (500, "InternalError")), (
            status,
            body[:200],
        )


def test_corrupted_chunk_partial_range_is_not_served(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    cluster = healthy_cluster
    data, chunk = _corrupt_setup(cluster, fs3, fbucket)
    path = _chunk_path(cluster, chunk["url"], chunk["chunk_id"])
    whole_chunk = (chunk["offset"], chunk["offset"] + chunk["length"] - 1)
    inside = (chunk["offset"] + 1000, chunk["offset"] + 1999)
    with flipped_byte(path, 1234):
        for start, end in (whole_chunk, inside):
            headers = {"Range": f"bytes={start}-{end}"}
            status, code, body = get_raw(cluster, f"/{fbucket}/rot", headers)
            _assert_right_bytes_or_clean_error(status, code, body, data[start : end + 1])
        # Ranges that miss the corrupted 64 KiB block (the chunk's first) are still served,
        # whole and right: the chunk before, and the corrupted chunk's second block.
        second_block = chunk["offset"] + 65536
        for low, high in ((0, chunk["offset"] - 1), (second_block, second_block + 999)):
            headers = {"Range": f"bytes={low}-{high}"}
            status, _, body = get_raw(cluster, f"/{fbucket}/rot", headers)
            assert (status, body) == (206, data[low : high + 1])
    it.wait_for(lambda: health(cluster) == 200, timeout=30, interval=0.5)


def test_corrupted_block_deep_in_a_large_chunk_cuts_the_answer(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """The daemon finds the bad block after it has begun answering: the client's answer is
    cut short before the wrong bytes, whichever way the range covers the chunk."""
    cluster = healthy_cluster
    chunk_bytes = 5 * 2**20 // 2
    data = os.urandom(6 * chunk_bytes)
    fs3.put_object(Bucket=fbucket, Key="deep-rot", Body=data)
    chunk = it.locate(cluster, fbucket, "deep-rot")["chunks"][1]
    assert chunk["length"] == chunk_bytes
    flipped = 2 * 2**20 + 1000  # in the daemon's third 1 MiB piece of this chunk
    path = _chunk_path(cluster, chunk["url"], chunk["chunk_id"])
    offset = chunk["offset"]
    ranges = [
        (offset + 100, offset + chunk_bytes - 100),  # inside the chunk
        (offset, offset + chunk_bytes - 1),  # exactly the chunk
        (offset - 1000, offset + chunk_bytes + 1000),  # across three chunks
        (0, len(data) - 1),  # the whole object, as a range
    ]
    outcomes = []
    with flipped_byte(path, flipped):
        for start, end in ranges:
            headers = {"Range": f"bytes={start}-{end}"}
            status, code, body = get_raw(cluster, f"/{fbucket}/deep-rot", headers)
            _assert_right_bytes_or_clean_error(status, code, body, data[start : end + 1])
            assert len(body) <= offset + flipped - start  # the bad byte never left the daemon
            outcomes.append((status, len(body)))
            # A cut answer looks to the gateway like a daemon that died: it marks it down
            # (reads that need it are refused up front) until its next heartbeat.
            it.wait_for(lambda: health(cluster) == 200, timeout=30, interval=0.2)
        status, code, body = get_raw(cluster, f"/{fbucket}/deep-rot")
        _assert_right_bytes_or_clean_error(status, code, body, data)
    print("answers (status, bytes received):", outcomes)
    # Every range starts in a good part of the object, more than 1 MiB before the bad block:
    # the answer has begun when the daemon reaches it, so it is cut there.
    assert [status for status, _ in outcomes] == [206] * len(ranges)
    assert all(received > 2**20 for _, received in outcomes)
    it.wait_for(lambda: health(cluster) == 200, timeout=30, interval=0.2)  # later tests need six
    assert fs3.get_object(Bucket=fbucket, Key="deep-rot")["Body"].read() == data


# ---------------------------------------------------------------------------------------------
# (d) five of six daemons


def test_five_of_six_daemons_refuse_writes_and_serve_reads(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    cluster = healthy_cluster
    stopped_url = cluster.chunk_urls[4]
    # Objects under 6 bytes have fewer than 6 chunks; keep those that avoid the daemon we stop.
    small = {f"tiny-{n}": os.urandom(1 + n % 3) for n in range(12)}
    small["empty"] = b""
    for key, data in small.items():
        fs3.put_object(Bucket=fbucket, Key=key, Body=data)
    readable = {
        key: data
        for key, data in small.items()
        if all(chunk["url"] != stopped_url for chunk in it.locate(cluster, fbucket, key)["chunks"])
    }
    assert len(readable) >= 3, readable
    pid = chunkd_pid(cluster, stopped_url)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        it.wait_for(lambda: health(cluster) == 503, timeout=HEALTH_WAIT_SECONDS, interval=0.5)
        HEALTH_DOWN_AFTER.append(time.monotonic() - started)
        print(f"health answered 503 after {HEALTH_DOWN_AFTER[-1]:.1f} s")
        answer = put_raw(cluster, fbucket, f"refused-{uuid.uuid4().hex[:6]}", os.urandom(5000))
        assert (answer.status, answer.error_code()) == (503, "ServiceUnavailable"), answer.body
        assert answer.header("Retry-After") is not None
        for key, data in readable.items():
            status, code, body = get_raw(cluster, f"/{fbucket}/{key}")
            assert (status, body) == (200, data), (key, status, code)
    finally:
        os.kill(pid, signal.SIGCONT)
    it.wait_for(lambda: health(cluster) == 200, timeout=30, interval=0.5)
    answer = put_raw(cluster, fbucket, "after-resume", b"back")
    assert answer.status == 200, answer.body


def test_health_notices_a_stopped_daemon_in_time() -> None:
    """Reads the time measured by the five-of-six test above (file order)."""
    assert HEALTH_DOWN_AFTER, "the five-of-six test did not run"
    assert HEALTH_DOWN_AFTER[0] <= HEALTH_DOWN_SECONDS, f"{HEALTH_DOWN_AFTER[0]:.1f} s"
