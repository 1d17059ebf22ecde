#!/usr/bin/env python3
"""Small-object PUT/GET throughput with 1 and 2 gateways, SQLite catalog vs PostgreSQL.

    .venv/bin/python benchmarks/gateways.py [--seconds 10] [--clients 32] [--size 4096]

For each setup (SQLite x 1 gateway, SQLite x 2, PostgreSQL x 1, PostgreSQL x 2) it starts
`s3compat cluster` (6 chunk daemons) in a temporary folder, then runs a PUT phase (new keys) and
a GET phase (random keys of those written, bytes checked) for the given seconds each, with
`--clients` concurrent requests spread evenly over the gateways. The load generator is one
asyncio process with a minimal SigV4 signer (UNSIGNED-PAYLOAD), so that it costs far less CPU
than boto3 would. PostgreSQL is the tests' throwaway server (`start_postgres(durable=True)` of
tests/support/postgres.py: initdb + pg_ctl, as the `postgres` user when run as root) with
fsync and synchronous commit on, as durable as the
SQLite catalog (synchronous=FULL). Everything runs on this machine: the figures include the
load generator, the gateways, 6 chunk daemons and the database competing for its cores.
Prints a Markdown table; `--out FILE` also writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import hmac
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def postgres_support() -> Any:
    """The tests' throwaway PostgreSQL servers (tests/support/postgres.py) as a module."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import support.postgres

    return support.postgres


REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 90.0
SETUPS = [("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- SigV4 (header auth, UNSIGNED-PAYLOAD), enough for path-style PUT/GET ------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str, host: str, path: str, access_key: str, secret_key: str
) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": stamp}
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{n}:{headers[n]}" for n in sorted(headers)), "", names]
    )
    canonical += "\nUNSIGNED-PAYLOAD"
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), REGION), "s3"), "aws4_request"
    )
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, "
        f"Signature={signature}"
    )
    del headers["host"]  # aiohttp sends it
    return headers


# --- a cluster ---------------------------------------------------------------------------


@dataclass
class Cluster:
    process: subprocess.Popen[bytes]
    endpoints: list[str]
    access_key: str
    secret_key: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_cluster(work: Path, gateways: int, catalog: str | None) -> Cluster:
    port = 20000 + random.randrange(10000)
    command = [
        sys.executable, "-m", "s3compat", "cluster", "--data", str(work / "data"),
        "--port", str(port), "--gateways", str(gateways),
    ]  # fmt: skip
    if catalog is not None:
        command += ["--catalog", catalog]
    with open(work / "cluster.log", "wb") as log:  # the child keeps its own descriptor
        # Unbuffered: select() below must see every line that is not read yet.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, bufsize=0)
    assert process.stdout is not None
    found: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    wanted = ("S3COMPAT_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    while not all(name in found for name in wanted):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit(f"cluster did not start; see {work / 'cluster.log'}")
        if select.select([process.stdout], [], [], 1.0)[0]:
            name, _, value = process.stdout.readline().decode().strip().partition("=")
            found[name] = value
    return Cluster(
        process,
        found.get("S3COMPAT_ENDPOINTS", found["S3COMPAT_ENDPOINT"]).split(","),
        found["AWS_ACCESS_KEY_ID"],
        found["AWS_SECRET_ACCESS_KEY"],
    )


# --- the load ------------------------------------------------------------------------------


@dataclass
class Phase:
    ops: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, float]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "ops_per_s": round(self.ops / seconds, 1),
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
            "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 2),
            "errors": self.errors,
        }


async def request(
    session: aiohttp.ClientSession, cluster: Cluster, endpoint: str, method: str, path: str,
    body: bytes | None = None,
) -> bytes:  # fmt: skip
    host = endpoint.split("//", 1)[1]
    headers = signed_headers(method, host, path, cluster.access_key, cluster.secret_key)
    async with session.request(method, endpoint + path, data=body, headers=headers) as answer:
        data = await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:200]!r}")
        return data


async def run_load(cluster: Cluster, seconds: float, clients: int, size: int) -> dict[str, Any]:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    connector = aiohttp.TCPConnector(limit=clients * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await request(session, cluster, cluster.endpoints[0], "PUT", f"/{bucket}")
        written: list[tuple[str, bytes]] = []

        async def worker(number: int, phase: Phase, kind: str, stop_at: float) -> None:
            endpoint = cluster.endpoints[number % len(cluster.endpoints)]
            sequence = 0
            chooser = random.Random(number)
            while time.monotonic() < stop_at:
                began = time.monotonic()
                try:
                    if kind == "put":
                        key, body = f"k{number}-{sequence}", os.urandom(size)
                        sequence += 1
                        await request(session, cluster, endpoint, "PUT", f"/{bucket}/{key}", body)
                        written.append((key, hashlib.md5(body).digest()))
                    else:
                        key, digest = chooser.choice(written)
                        got = await request(session, cluster, endpoint, "GET", f"/{bucket}/{key}")
                        if hashlib.md5(got).digest() != digest:
                            raise RuntimeError(f"GET {key}: wrong bytes")
                except Exception as error:  # counted, and the first few shown
                    phase.errors += 1
                    if phase.errors <= 3:
                        say(f"  {kind} error: {error}")
                    continue
                phase.ops += 1
                phase.latencies.append(time.monotonic() - began)

        results: dict[str, Any] = {}
        for kind in ("put", "get"):
            phase = Phase()
            began = time.monotonic()
            stop_at = began + seconds
            await asyncio.gather(*(worker(n, phase, kind, stop_at) for n in range(clients)))
            results[kind] = phase.summary(time.monotonic() - began)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent requests (32)")
    parser.add_argument("--size", type=int, default=4096, help="object bytes (default 4096)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--setups", default="all", help="comma-separated sqlite:1,postgresql:2,... (default all)"
    )
    args = parser.parse_args()
    setups = SETUPS
    if args.setups != "all":
        setups = [(b, int(g)) for b, g in (item.split(":") for item in args.setups.split(","))]
    postgres = None
    if any(b == "postgresql" for b, _ in setups):
        # The tests' throwaway server, with fsync on (the tests turn it off).
        postgres = postgres_support().start_postgres(durable=True)
    rows = []
    try:
        for backend, gateways in setups:
            work = Path(tempfile.mkdtemp(prefix="s3compat-bench-gw-"))
            catalog = None
            if backend == "postgresql" and postgres is not None:
                catalog = postgres_support().create_database(postgres, "bench_")
            say(f"{backend}, {gateways} gateway(s): starting")
            cluster = start_cluster(work, gateways, catalog)
            try:
                result = asyncio.run(run_load(cluster, args.seconds, args.clients, args.size))
            finally:
                cluster.stop()
                shutil.rmtree(work, ignore_errors=True)
            say(f"  {result}")
            rows.append({"catalog": backend, "gateways": gateways, **result})
    finally:
        if postgres is not None:
            postgres.stop()
    print(
        f"\n{args.size}-byte objects, {args.clients} concurrent clients, {args.seconds:.0f} s per "
        f"phase, {os.cpu_count()} cores shared by everything\n"
    )
    print(
        "| catalog | gateways | PUT ops/s | PUT p50/p99 ms | GET ops/s | GET p50/p99 ms | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        put, get = row["put"], row["get"]
        print(
            f"| {row['catalog']} | {row['gateways']} | {put['ops_per_s']} | "
            f"{put['p50_ms']}/{put['p99_ms']} | {get['ops_per_s']} | "
            f"{get['p50_ms']}/{get['p99_ms']} | {put['errors'] + get['errors']} |"
        )
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
