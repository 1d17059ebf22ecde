"""Two gateways on one PostgreSQL catalog: races between them, and duties done once.

Runs in the PostgreSQL pass (S3COMPAT_TEST_CATALOG=postgresql); a SQLite run skips it.

The journal test: 16 clients, each sending every request to a gateway chosen at random,
overwrite and read the same few keys. Every request is journalled with its start and end time
(one clock: all clients are threads of this process). A read is correct if the version it
returned was written by some client, had started before the read ended, and had not been
overwritten for certain before the read started: no write of that key both started after the
returned write was acknowledged and was acknowledged before the read began. No acknowledged
write is lost: at the end every key holds a write that no later acknowledged write overwrote.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from support.catalog import catalog_backend, catalog_rows
from support.clients import client_for
from support.processes import Cluster, child_pids, private_directory, start_cluster, stop_cluster
from support.signing import raw_request, sign
from support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    catalog_backend() != "postgresql",
    reason="cross-gateway races run in the PostgreSQL pass (S3COMPAT_TEST_CATALOG=postgresql)",
)

CLIENTS = 16
OPERATIONS_PER_CLIENT = 40
KEYS = [f"shared-{n}" for n in range(4)]
LEASE_SECONDS = 2.0
# Longer than the 1 s of other test clusters: a read is only sure to be protected from the
# collector when it starts streaming within half a grace of looking its version up
# (store/reads.py), and the journal's GETs of overwritten keys took up to 3 s on a loaded
# CI machine.
GRACE_SECONDS = 4.0
SETTLE_TIMEOUT_SECONDS = 60.0
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def pair() -> Iterator[Cluster]:
    """Two gateways (and 6 chunk daemons) on a fresh PostgreSQL catalog, short leases."""
    with private_directory("s3compat-two-") as root:
        cluster, process = start_cluster(
            root / "data",
            root,
            ["--lease-seconds", str(LEASE_SECONDS), "--gc-grace", str(GRACE_SECONDS)],
            gateways=2,
        )
        try:
            assert len(cluster.endpoints) == 2
            yield cluster
        finally:
            stop_cluster(process)


def at(cluster: Cluster, gateway: int) -> Cluster:
    """The same cluster, addressed through one of its gateways."""
    return replace(cluster, endpoint=cluster.endpoints[gateway])


def clients(cluster: Cluster, config: Config | None = None) -> list[BaseClient]:
    made = []
    for endpoint in cluster.endpoints:
        client = client_for(replace(cluster, endpoint=endpoint))
        if config is not None:
            client = client_for_config(replace(cluster, endpoint=endpoint), config)
        made.append(client)
    return made


def client_for_config(cluster: Cluster, config: Config) -> BaseClient:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name="us-east-1",
    )
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def settle_and_scrub(cluster: Cluster) -> dict[str, Any]:
    """Wait until nothing is pending (intents, deletions), then scrub: returns its findings."""

    def pending() -> int:
        (row,) = catalog_rows(
            cluster, "SELECT (SELECT count(*) FROM intents) + (SELECT count(*) FROM deletions)"
        )
        return int(row[0])

    wait_for(lambda: pending() == 0, SETTLE_TIMEOUT_SECONDS, interval=0.5)
    answer = subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), "scrub"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings: dict[str, Any] = json.loads(answer.stdout)
    return findings


def logged(cluster: Cluster, lines: int = 20) -> str:
    """The cluster's last warnings and errors (its log is beside its data folder), for a
    failure's message: the folder is gone once the test ends."""
    log = cluster.data_dir.parent / "cluster.stderr.log"
    found = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if " WARNING " in line or " ERROR " in line
    ]
    return "cluster log:\n" + "\n".join(found[-lines:])


def assert_clean(findings: dict[str, Any]) -> None:
    assert not findings["damaged"], findings
    for server, found in findings["servers"].items():
        assert found["orphans"] == [], (server, found)
        assert found["missing"] == [], (server, found)


# ---------------------------------------------------------------------------------------------
# A write acknowledged by one gateway is read by the other at once


def test_a_write_through_one_gateway_is_read_through_the_other_at_once(pair: Cluster) -> None:
    first, second = clients(pair)
    first.create_bucket(Bucket="crossread")
    for round_number in range(20):
        body = os.urandom(1000 + round_number)
        writer, reader = (first, second) if round_number % 2 else (second, first)
        writer.put_object(Bucket="crossread", Key="k", Body=body)
        assert reader.get_object(Bucket="crossread", Key="k")["Body"].read() == body
        listed = reader.list_objects_v2(Bucket="crossread")["Contents"]
        assert [(o["Key"], o["Size"]) for o in listed] == [("k", len(body))]
    first.delete_object(Bucket="crossread", Key="k")
    with pytest.raises(ClientError):
        second.head_object(Bucket="crossread", Key="k")
    second.delete_bucket(Bucket="crossread")
    with pytest.raises(ClientError):
        first.head_bucket(Bucket="crossread")


# ---------------------------------------------------------------------------------------------
# 16 clients, same keys, a journal


@dataclass(frozen=True)
class Entry:
    kind: str  # "put" or "get"
    key: str
    version: str | None  # what was written, or what the read returned (None: no such key)
    start: float
    end: float
    error: str | None = None


def body_of(version: str) -> bytes:
    """The bytes a version holds (sizes vary so that writes take different times)."""
    size = 2000 + int(hashlib.sha256(version.encode()).hexdigest()[:4], 16)
    seed = hashlib.sha256(version.encode()).digest()
    return (version.encode() + b"|" + seed * (size // 32 + 1))[:size]


def version_in(body: bytes) -> str:
    version = body.split(b"|", 1)[0].decode()
    assert body == body_of(version), f"the bytes of {version!r} are not what was written"
    return version


def run_client(
    number: int, cluster: Cluster, bucket: str, start_gate: threading.Barrier
) -> list[Entry]:
    gateways = clients(cluster, NO_RETRIES)
    chooser = random.Random(number)
    journal: list[Entry] = []
    start_gate.wait()
    for sequence in range(OPERATIONS_PER_CLIENT):
        client = chooser.choice(gateways)
        key = chooser.choice(KEYS)
        if chooser.random() < 0.5:
            version = f"c{number}-{sequence}"
            began = time.monotonic()
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body_of(version))
                journal.append(Entry("put", key, version, began, time.monotonic()))
            except ClientError as error:
                journal.append(Entry("put", key, version, began, float("inf"), str(error)))
        else:
            began = time.monotonic()
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                journal.append(Entry("get", key, version_in(body), began, time.monotonic()))
            except ClientError as error:
                journal.append(Entry("get", key, None, began, time.monotonic(), str(error)))
    for client in gateways:
        client.close()
    return journal


def check_read(read: Entry, writes: dict[str, Entry]) -> str | None:
    """Why `read` is wrong, or None."""
    if read.version is None:
        return f"{read.key}: read failed: {read.error}"
    written = writes.get(read.version)
    if written is None or written.key != read.key:
        return f"{read.key}: returned {read.version}, which no client wrote to this key"
    if written.start >= read.end:
        return f"{read.key}: returned {read.version} before it was written"
    for later in writes.values():
        if later.key == read.key and later.start > written.end and later.end < read.start:
            return (
                f"{read.key}: returned {read.version} although {later.version} overwrote it "
                f"{read.start - later.end:.3f} s before the read began"
            )
    return None


def test_sixteen_clients_on_two_gateways_read_only_current_versions(pair: Cluster) -> None:
    setup = clients(pair)[0]
    bucket = "journal"
    setup.create_bucket(Bucket=bucket)
    journal: list[Entry] = []
    for key in KEYS:  # every key exists before the clients start: no read may miss
        version = f"initial-{key}"
        began = time.monotonic()
        setup.put_object(Bucket=bucket, Key=key, Body=body_of(version))
        journal.append(Entry("put", key, version, began, time.monotonic()))
    gate = threading.Barrier(CLIENTS)
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(run_client, n, pair, bucket, gate) for n in range(CLIENTS)]
        for future in futures:
            journal += future.result()
    puts = [e for e in journal if e.kind == "put"]
    reads = [e for e in journal if e.kind == "get"]
    failed = [e for e in journal if e.error is not None]
    assert failed == [], f"{len(failed)} requests failed, e.g. {failed[:3]}; {logged(pair)}"
    writes = {e.version: e for e in puts if e.version is not None}
    wrong = [why for why in (check_read(r, writes) for r in reads) if why]
    assert wrong == [], f"{len(wrong)} of {len(reads)} reads were wrong: {wrong[:5]}"
    # No acknowledged write is lost: each key holds a version no acknowledged write overwrote,
    # and both gateways agree on it.
    for key in KEYS:
        seen = {
            version_in(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            for client in clients(pair)
        }
        assert len(seen) == 1, (key, seen)
        final = writes[seen.pop()]
        overwritten_by = [w.version for w in puts if w.key == key and w.start > final.end]
        assert overwritten_by == [], f"{key}: {final.version} outlived {overwritten_by}"
    print(
        f"\njournal: {len(puts)} writes, {len(reads)} reads over {len(KEYS)} keys, "
        f"{CLIENTS} clients on 2 gateways, 0 wrong reads, 0 lost writes"
    )
    for key in KEYS:
        setup.delete_object(Bucket=bucket, Key=key)
    setup.delete_bucket(Bucket=bucket)
    assert_clean(settle_and_scrub(pair))


# ---------------------------------------------------------------------------------------------
# A long read survives the overwrite of its object, whichever process collects


LONG_READERS = 6
LONG_READ_PARTS = 4
LONG_READ_PART_BYTES = 5 * 1024 * 1024


def put_in_parts(client: BaseClient, bucket: str, key: str, parts: list[bytes]) -> None:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=data
            )["ETag"],
        }
        for n, data in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )


def test_a_long_read_through_either_gateway_outlives_an_overwrite(pair: Cluster) -> None:
    """Slow readers through every gateway hold their version's chunks past the grace period
    while their keys are overwritten and the collector (in one of the processes)
    runs; each read ends with every byte of the version it began, and the chunks go
    afterwards. Each reader has a key of its own, so that no reader is protected by another
    one's read in the collecting process."""
    gateways = clients(pair)
    bucket = "longreads"
    gateways[0].create_bucket(Bucket=bucket)
    bodies = {}
    for n in range(LONG_READERS):
        # Multipart, so that the read opens the later parts' pieces after the overwrite (a
        # piece request already open streams from a file its daemon holds open).
        parts = [os.urandom(LONG_READ_PART_BYTES) for _ in range(LONG_READ_PARTS)]
        bodies[f"big-{n}"] = b"".join(parts)
        put_in_parts(gateways[0], bucket, f"big-{n}", parts)
    readers = []
    for n, key in enumerate(bodies):
        client = gateways[n % len(gateways)]
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
        answer = urllib.request.urlopen(url, timeout=60)
        readers.append((key, answer, answer.read(256 * 1024)))
    for key in bodies:
        gateways[1].put_object(Bucket=bucket, Key=key, Body=b"the next version")
    # The replaced chunks are due after the grace; the collector sweeps every 0.5 s. Reads
    # older than a quarter of the grace are held in the catalog meanwhile.
    wait_for(lambda: catalog_rows(pair, "SELECT count(*) FROM read_holds")[0][0] > 0, 10)
    time.sleep(GRACE_SECONDS + 2.0)
    for key, answer, start in readers:
        with answer:
            got = start + answer.read()
        assert got == bodies[key], f"{key}: read {len(got)} of {len(bodies[key])} bytes"
    for key in bodies:
        assert gateways[0].get_object(Bucket=bucket, Key=key)["Body"].read() == b"the next version"
        gateways[0].delete_object(Bucket=bucket, Key=key)
    gateways[0].delete_bucket(Bucket=bucket)
    wait_for(lambda: catalog_rows(pair, "SELECT count(*) FROM read_holds")[0][0] == 0, 10)
    assert_clean(settle_and_scrub(pair))


# ---------------------------------------------------------------------------------------------
# One winner per race


def test_both_gateways_creating_one_bucket_make_one_bucket(pair: Cluster) -> None:
    statuses = []
    for _ in range(5):
        name = f"race-{random.randrange(10**9)}"
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda g, n=name: raw_request(at(pair, g), "PUT", f"/{n}"), [0, 1])
            )
        statuses.append(sorted((a.status, a.error_code()) for a in answers))
        created = [a for a in answers if a.status == 200]
        refused = [a for a in answers if a.status != 200]
        # The owner creating its own bucket again is answered 200 (us-east-1) or
        # BucketAlreadyOwnedByYou; either way one bucket exists.
        assert len(created) >= 1, statuses
        assert all(a.error_code() == "BucketAlreadyOwnedByYou" for a in refused), statuses
        rows = catalog_rows(pair, "SELECT count(*) FROM buckets WHERE name = ?", name)
        assert rows == [(1,)]
        assert raw_request(pair, "DELETE", f"/{name}").status == 204


def test_both_gateways_completing_one_upload_make_one_object(pair: Cluster) -> None:
    first, second = clients(pair)
    first.create_bucket(Bucket="mpu-race")
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    for attempt in range(3):
        key = f"big-{attempt}"
        upload = first.create_multipart_upload(Bucket="mpu-race", Key=key)["UploadId"]
        etags = [
            (first if number % 2 else second).upload_part(
                Bucket="mpu-race", Key=key, UploadId=upload, PartNumber=number, Body=data
            )["ETag"]
            for number, data in enumerate(parts, start=1)
        ]
        document = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]}

        def complete(
            client: BaseClient, key: str = key, upload: str = upload, document: Any = document
        ) -> Any:
            try:
                return client.complete_multipart_upload(
                    Bucket="mpu-race", Key=key, UploadId=upload, MultipartUpload=document
                )["ETag"]
            except ClientError as error:
                return error.response["Error"]["Code"]

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(complete, [first, second]))
        # The same request twice: the loser either sees the winner's object (a retried
        # Complete succeeds again) or that the upload is gone; never a second object.
        etags_returned = {o for o in outcomes if o.startswith('"')}
        assert len(etags_returned) == 1, outcomes
        assert all(o.startswith('"') or o == "NoSuchUpload" for o in outcomes), outcomes
        got = second.get_object(Bucket="mpu-race", Key=key)
        assert got["ETag"] == etags_returned.pop()
        assert got["Body"].read() == b"".join(parts)
    versions = catalog_rows(pair, "SELECT count(*) FROM objects WHERE bucket = 'mpu-race'")
    assert versions == [(3,)]
    for attempt in range(3):
        first.delete_object(Bucket="mpu-race", Key=f"big-{attempt}")
    first.delete_bucket(Bucket="mpu-race")
    assert_clean(settle_and_scrub(pair))


# ---------------------------------------------------------------------------------------------
# Duties: once per cluster, taken over when a gateway dies


def gateway_pids(cluster: Cluster) -> dict[int, int]:
    """{port: pid} of the cluster's gateway processes."""
    found = {}
    for pid in child_pids(cluster.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gateway" in argv and b"--port" in argv:
            found[int(argv[argv.index(b"--port") + 1])] = pid
    return found


def leases(cluster: Cluster) -> dict[str, str]:
    rows = catalog_rows(
        cluster,
        "SELECT name, holder FROM leases WHERE expires_at > "
        "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)",
    )
    return {str(name): str(holder) for name, holder in rows}


def answers(cluster: Cluster) -> bool:
    try:
        return raw_request(cluster, "GET", "/").status == 200
    except OSError:
        return False


def live_processes(cluster: Cluster) -> dict[str, str]:
    rows = catalog_rows(
        cluster,
        "SELECT process_id, description FROM processes WHERE expires_at > "
        "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)",
    )
    return {str(process): str(description) for process, description in rows}


def test_each_duty_has_one_holder_and_moves_when_its_gateway_dies(pair: Cluster) -> None:
    wait_for(lambda: {"gc", "membership"} <= leases(pair).keys(), 30)
    processes = live_processes(pair)
    gateways = {p: d for p, d in processes.items() if d.startswith("gateway")}
    assert len(gateways) == 2, processes
    holder = leases(pair)["gc"]
    assert holder in gateways
    holder_pid = int(gateways[holder].split()[2])  # "gateway pid N on HOST"
    holder_port = next(port for port, pid in gateway_pids(pair).items() if pid == holder_pid)
    # A write to the holder, left hanging mid-body: its intents are in the catalog.
    client = clients(pair)[0]
    client.create_bucket(Bucket="takeover")
    body_size = 4 * 1024 * 1024
    target = "/takeover/hanging"
    headers = sign(
        replace(pair, endpoint=f"http://127.0.0.1:{holder_port}"),
        "PUT",
        target,
        {"Content-Length": str(body_size), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        b"",
    )
    request = f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{holder_port}\r\n"
    request += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", holder_port), timeout=10) as hanging:
        hanging.sendall(request.encode() + os.urandom(body_size // 2))

        def holder_intents() -> int:
            rows = catalog_rows(pair, "SELECT count(*) FROM intents WHERE gateway_id = ?", holder)
            return int(rows[0][0])

        wait_for(holder_intents, 20)
        os.kill(holder_pid, signal.SIGKILL)
    # The other gateway takes both duties over once the dead holder's leases expire, and
    # collects the dead process's intents.
    wait_for(lambda: leases(pair).get("gc") not in (None, holder), LEASE_SECONDS * 10)
    wait_for(lambda: holder_intents() == 0, LEASE_SECONDS * 10)
    wait_for(lambda: leases(pair).get("membership") not in (None, holder), LEASE_SECONDS * 10)
    assert holder not in live_processes(pair)
    for gateway in range(2):  # the cluster restarts the killed gateway
        wait_for(lambda g=gateway: answers(at(pair, g)), 60, interval=0.5)
    client.delete_bucket(Bucket="takeover")
    assert_clean(settle_and_scrub(pair))
