"""`--workers 2`: two gateway processes accepting on one port, on one catalog (SQLite in the
default pass, PostgreSQL in the other). Connections spread over both; a write acknowledged by
one is read through the other at once; a worker killed with SIGKILL loses no acknowledged
write and is replaced while the port keeps answering; each duty has one holder; SIGTERM to the
parent stops every worker. The cross-gateway correctness tests of test_two_gateways.py run here
too, their two "gateways" being two connections' worth of luck on one port.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support.catalog import catalog_rows
from support.processes import (
    Cluster,
    child_pids,
    gateway_pid,
    private_directory,
    start_cluster,
    stop_cluster,
)
from support.signing import raw_request
from support.waiting import wait_for

# The cross-gateway tests, collected here as well (without that module's PostgreSQL-only mark).
from test_two_gateways import (  # noqa: F401
    GRACE_SECONDS,
    test_a_long_read_through_either_gateway_outlives_an_overwrite,
    test_a_write_through_one_gateway_is_read_through_the_other_at_once,
    test_both_gateways_completing_one_upload_make_one_object,
    test_both_gateways_creating_one_bucket_make_one_bucket,
    test_sixteen_clients_on_two_gateways_read_only_current_versions,
)

WORKERS = 2
LEASE_SECONDS = 2.0


@pytest.fixture(scope="module")
def workers_cluster() -> Iterator[Cluster]:
    """A cluster whose gateway runs 2 workers on one port, with short leases."""
    with private_directory("s3compat-workers-") as root:
        cluster, process = start_cluster(
            root / "data",
            root,
            [
                "--workers",
                str(WORKERS),
                "--lease-seconds",
                str(LEASE_SECONDS),
                "--gc-grace",
                str(GRACE_SECONDS),
                "--servers",
                "6",
            ],
        )
        try:
            wait_for(lambda: len(worker_pids(cluster)) == WORKERS, 30)
            yield cluster
        finally:
            stop_cluster(process)


@pytest.fixture(scope="module")
def pair(workers_cluster: Cluster) -> Cluster:
    """For test_two_gateways' tests: "both gateways" are the one port of the workers."""
    return replace(workers_cluster, endpoints=(workers_cluster.endpoint,) * 2)


def worker_pids(cluster: Cluster) -> list[int]:
    """The gateway's workers (none while the cluster restarts its gateway)."""
    try:
        return child_pids(gateway_pid(cluster))
    except LookupError:
        return []


def worker_tag(request_id: str | None) -> str:
    """The answering process, as the first 4 hex digits of its request ids name it."""
    assert request_id is not None and len(request_id) == 16, request_id
    return request_id[:4]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_connections_spread_over_workers_and_reads_follow_writes(
    workers_cluster: Cluster,
) -> None:
    assert raw_request(workers_cluster, "PUT", "/spread").status == 200
    tags: set[str] = set()
    crossed = 0
    for number in range(60):
        body = os.urandom(100 + number)
        # A new connection for every request (raw_request): the kernel picks the worker.
        put = raw_request(workers_cluster, "PUT", "/spread/key", body=body)
        assert put.status == 200
        got = raw_request(workers_cluster, "GET", "/spread/key")
        assert got.status == 200 and got.body == body
        writer, reader = (
            worker_tag(put.header("x-amz-request-id")),
            worker_tag(got.header("x-amz-request-id")),
        )
        tags |= {writer, reader}
        crossed += writer != reader
    assert len(tags) >= WORKERS, tags
    assert crossed > 0


def test_a_killed_worker_loses_no_acknowledged_write_and_is_replaced(
    workers_cluster: Cluster,
) -> None:
    assert raw_request(workers_cluster, "PUT", "/killed").status == 200
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(number: int) -> None:
        sequence = 0
        while not stop.is_set():
            key = f"w{number}-{sequence}"
            body = os.urandom(2000)
            try:
                answer = raw_request(workers_cluster, "PUT", f"/killed/{key}", body=body)
            except OSError:  # the connection was on the killed worker
                answer = None
            if answer is not None and answer.status == 200:
                with lock:
                    acknowledged[key] = body
            sequence += 1

    before = worker_pids(workers_cluster)
    assert len(before) == WORKERS
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        running = [pool.submit(writer, number) for number in range(4)]
        wait_for(lambda: len(acknowledged) >= 20, 60)
        os.kill(before[0], signal.SIGKILL)
        # The port keeps answering while the worker is replaced.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert raw_request(workers_cluster, "GET", "/killed?max-keys=1").status == 200
        count = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= count + 20, 60)
        stop.set()
        for future in running:
            future.result()
    wait_for(
        lambda: len(now := worker_pids(workers_cluster)) == WORKERS and before[0] not in now,
        30,
    )
    for key, body in acknowledged.items():
        got = raw_request(workers_cluster, "GET", f"/killed/{key}")
        assert got.status == 200 and got.body == body, key


def live_leases(cluster: Cluster) -> dict[str, str]:
    rows = catalog_rows(cluster, "SELECT name, holder, expires_at FROM leases")
    return {str(name): str(holder) for name, holder, expires in rows if expires > time.time()}


def live_processes(cluster: Cluster) -> dict[str, str]:
    rows = catalog_rows(cluster, "SELECT process_id, description, expires_at FROM processes")
    return {str(pid): str(text) for pid, text, expires in rows if expires > time.time()}


def test_each_duty_has_one_holder_among_the_workers(workers_cluster: Cluster) -> None:
    wait_for(lambda: {"gc", "membership"} <= live_leases(workers_cluster).keys(), 30)
    workers = {
        process: text
        for process, text in live_processes(workers_cluster).items()
        if text.startswith("gateway worker")
    }
    assert len(workers) >= WORKERS, workers
    # One row per lease name (its primary key) is one holder each; that holder is a worker.
    for name, holder in live_leases(workers_cluster).items():
        assert holder in workers, (name, holder, workers)


def test_sigterm_to_the_parent_stops_every_worker(workers_cluster: Cluster) -> None:
    parent = gateway_pid(workers_cluster)
    workers = child_pids(parent)
    assert len(workers) == WORKERS
    os.kill(parent, signal.SIGTERM)
    wait_for(lambda: not any(alive(pid) for pid in [parent, *workers]), 30)
    # The cluster restarts its gateway, workers and all.
    wait_for(lambda: len(worker_pids(workers_cluster)) == WORKERS, 60)
    wait_for(lambda: answers(workers_cluster), 30)


def answers(cluster: Cluster) -> bool:
    try:
        return raw_request(cluster, "GET", "/").status == 200
    except OSError:
        return False
