"""Two phases on clusters of their own, started once the compared systems are stopped:

- workers scaling: 4 KiB PUT and GET with 16 clients on the default layout with
  `--workers 1` and `--workers <cores>` (gateway processes sharing one port and one catalog);
- evenness: objects of log-uniform random sizes written to 9 chunk daemons with 16 clients,
  then each daemon's fill as the catalog records it; max/min fill is the figure.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s3bench import systems
from s3bench.systems import PROJECT_BIN, Server
from s3bench.workloads import SMALL_OBJECT_BYTES, THREADS, client_for, parallel

KIB = 1024
MIB = 1024 * KIB
# Evenness objects: sizes log-uniform in this range (a 64 MiB top would write ~10 GiB for
# 2,000 objects; 4 MiB keeps the phase under a minute and still spans 1 to 4,096 KiB).
EVEN_MIN_BYTES = KIB
EVEN_MAX_BYTES = 4 * MIB
# The gateway learns each daemon's usage from its heartbeat; wait this long for the last one.
HEARTBEAT_WAIT_SECONDS = 6.0

Say = Callable[[str], None]


def workers_counts() -> list[int]:
    """1, and the machine's cores (the gateway's default) when that is more."""
    cores = os.cpu_count() or 1
    return [1] if cores == 1 else [1, cores]


def measure_workers(work: Path, plan: dict[str, Any], say: Say) -> list[dict[str, Any]]:
    """4 KiB PUT then GET of `small_count` objects at each workers count, one cluster each."""
    rows: list[dict[str, Any]] = []
    body = os.urandom(SMALL_OBJECT_BYTES)
    keys = [f"w/{n:06d}" for n in range(plan["small_count"])]
    for workers in workers_counts():
        say(f"workers scaling: --workers {workers}, 4 KiB PUT/GET x {len(keys)}, 16 clients")
        row: dict[str, Any] = {"workers": workers}
        server = systems.start_s3compat(work, "s3compat-workers", workers=workers)
        try:
            clients = [client_for(server) for _ in range(THREADS)]
            clients[0].create_bucket(Bucket="bench-workers")

            def put(client: Any, key: str) -> None:
                client.put_object(Bucket="bench-workers", Key=key, Body=body)

            def get(client: Any, key: str) -> None:
                if client.get_object(Bucket="bench-workers", Key=key)["Body"].read() != body:
                    raise RuntimeError(f"{key}: wrong body")

            for name, action in (("put", put), ("get", get)):
                run = parallel(clients, keys, action, time.monotonic() + plan["phase_timeout"])
                if run.errors or run.done != len(keys):
                    row["error"] = f"{name}: {run.done} of {len(keys)}; {run.errors[:1]}"
                    break
                row[f"{name}_ops"] = len(keys) / run.seconds
                row[f"{name}_p50_ms"] = run.percentile_ms(0.50)
                row[f"{name}_p99_ms"] = run.percentile_ms(0.99)
        finally:
            server.stop()
        rows.append(row)
    return rows


def measure_evenness(work: Path, plan: dict[str, Any], say: Say) -> dict[str, Any]:
    """Write `even_count` objects of random sizes to a fresh 9-daemon cluster; the daemons'
    fills afterwards and max/min."""
    count = plan["even_count"]
    rng = random.Random(17)
    low, high = math.log(EVEN_MIN_BYTES), math.log(EVEN_MAX_BYTES)
    sizes = {f"e/{n:06d}": int(math.exp(rng.uniform(low, high))) for n in range(count)}
    source = os.urandom(EVEN_MAX_BYTES)
    say(f"evenness: {count} objects of 1 KiB..4 MiB (log-uniform) on 9 chunk daemons")
    server = systems.start_s3compat(work, "s3compat-9")
    try:
        clients = [client_for(server) for _ in range(THREADS)]
        clients[0].create_bucket(Bucket="bench-even")

        def put(client: Any, key: str) -> None:
            client.put_object(Bucket="bench-even", Key=key, Body=source[: sizes[key]])

        run = parallel(clients, list(sizes), put, time.monotonic() + 4 * plan["phase_timeout"])
        if run.errors or run.done != count:
            return {"error": f"{run.done} of {count} written; {run.errors[:1]}"}
        time.sleep(HEARTBEAT_WAIT_SECONDS)
        fills = server_fills(server)
    finally:
        server.stop()
    return {
        "servers": len(fills),
        "objects": count,
        "bytes": sum(sizes.values()),
        "fill_percent": fills,
        "max_over_min": max(fills.values()) / min(fills.values()),
    }


def server_fills(server: Server) -> dict[str, float]:
    """Each up chunk server's fill (percent of its capacity) from `s3compat admin server list`
    (its used and capacity bytes, not its rounded fill_percent: these fills are small)."""
    listed = subprocess.run(
        [str(PROJECT_BIN / "s3compat"), "admin", "--data", str(server.data_dir), "server", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = json.loads(listed.stdout)
    return {
        row["server_id"]: 100 * row["used_bytes"] / row["capacity_bytes"]
        for row in rows
        if row["state"] == "up"
    }


def table_lines(results: dict[str, Any]) -> list[str]:
    """The two phases' lines for the printed table."""
    lines: list[str] = []
    rows = results.get("workers_scaling")
    if isinstance(rows, dict):  # the phase failed as a whole
        lines += ["", f"workers scaling: {rows.get('error')}"]
    elif rows:
        lines += ["", "workers scaling (default layout, 4 KiB x16, ops/s and p50/p99 ms):"]
        for row in rows:
            if "error" in row:
                lines.append(f"  --workers {row['workers']}: {row['error']}")
                continue
            lines.append(
                f"  --workers {row['workers']}: PUT {row['put_ops']:,.0f} "
                f"({row['put_p50_ms']:.1f}/{row['put_p99_ms']:.1f}), GET {row['get_ops']:,.0f} "
                f"({row['get_p50_ms']:.1f}/{row['get_p99_ms']:.1f})"
            )
    even = results.get("evenness")
    if even:
        if "error" in even:
            lines += ["", f"evenness: {even['error']}"]
        else:
            lines += [
                "",
                f"evenness: {even['objects']:,} objects ({even['bytes'] / MIB:,.0f} MiB) on "
                f"{even['servers']} daemons: max/min fill {even['max_over_min']:.3f}",
            ]
    return lines
