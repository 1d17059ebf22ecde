"""Degraded reads and repair on a parity-2 cluster of its own (8 chunk daemons, 6+2 pieces).

One pass, on a fresh `s3compat-repair` cluster (the default layout, background repair passes
held off so that the timed `admin repair` does the work):

1. the big object PUT twice: with curl (one request, so one striped segment: its pieces are
   on 8 known daemons) and with boto3 (multipart, 8 MiB parts: a segment per part, spread over
   the 8 daemons), for the repair to rebuild both kinds;
2. healthy GET of the curl object with every tool (MD5 checked), and a no-op `admin repair`
   (what the command costs with nothing to do), right before:
3. two daemons holding *data* pieces of that object stopped with SIGSTOP (hung, not dead: the
   launcher would restart a dead one), and a wait until the gateway has marked both `down`
   (`admin server list`), so that reads skip them from the start instead of hedging;
4. degraded GET with every tool (MD5 checked): 2 of the 6 data pieces of every stripe rebuilt
   from parity;
5. the two declared lost (`admin server lost`), two fresh daemons started and registered (6
   survivors cannot hold 8 distinct pieces: repair would wait for servers), then
   `admin repair --wait` timed, the stopped daemons still hung: MB/s = bytes_rebuilt / its
   seconds (10^6 bytes a MB);
6. the stopped daemons continued (SIGCONT), healthy GETs again with every tool (MD5 checked:
   the repaired pieces are read), and `admin locate` must show no piece left on the lost
   daemons.

Steps 2 and 6 bracket step 4 (A B A), as the machine's load drifts: the degraded/healthy ratio
is over the best healthy figure of the two. Each GET step makes `plan["rounds"]` GETs per tool
and keeps the best.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from s3bench import procs, workloads
from s3bench.limits import mib_per_s
from s3bench.systems import PROJECT_BIN, Server, free_port_block, stop_process

BUCKET = "bench-degraded"
SINGLE_KEY = "redundancy/single.bin"  # curl PUT: one segment
MULTIPART_KEY = "redundancy/multipart.bin"  # boto3 PUT: a segment per 8 MiB part
STOPPED = 2
DOWN_TIMEOUT_SECONDS = 90.0
SPARE_UP_TIMEOUT_SECONDS = 60.0
ADMIN_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.5


def admin(server: Server, *arguments: str, timeout: float = ADMIN_TIMEOUT_SECONDS) -> Any:
    """`s3compat admin --data DIR ...`; its JSON output (raises with stderr if it failed)."""
    command = [str(PROJECT_BIN / "s3compat"), "admin", "--data", str(server.data_dir)]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"admin {' '.join(arguments)} exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-400:]}"
        )
    text = done.stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def states(server: Server) -> dict[str, str]:
    return {row["server_id"]: row["state"] for row in admin(server, "server", "list")}


def wait_for_states(server: Server, wanted: dict[str, str], timeout: float) -> float:
    """Seconds until every server in `wanted` is in its state (raises after `timeout`)."""
    start = time.monotonic()
    while True:
        now = states(server)
        if all(now.get(sid) == state for sid, state in wanted.items()):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"after {timeout:.0f} s the servers are {now}, not {wanted}")
        time.sleep(POLL_SECONDS)


def chunkd_pid(server: Server, url: str) -> int:
    """The pid of the launcher's chunk daemon that listens on `url`'s port."""
    port = url.rsplit(":", 1)[1].rstrip("/")
    for pid in procs.children_of(server.process.pid):
        args = procs.cmdline(pid)
        if "chunkd" in args and "--port" in args and args[args.index("--port") + 1] == port:
            return pid
    raise RuntimeError(f"no chunk daemon of the cluster listens on {url}")


def start_spare(server: Server, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """A chunk daemon outside the launcher that registers with the gateway (a new server)."""
    command = [
        sys.executable, "-m", "chunkd",
        "--data", str(data_dir),
        "--host", "127.0.0.1",
        "--port", str(free_port_block(1)),
        "--gateway", server.endpoint,
        "--heartbeat", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "CHUNKD_SECRET": server.cluster_secret}
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def timed_get(
    server: Server, tool: str, key: str, copy: Path, payload_md5: str, timeout: float
) -> float:
    """One GET of `key` with `tool`, MD5-checked; MiB/s."""
    try:
        seconds = workloads.transfer(server, tool, "get", BUCKET, key, copy, timeout)
        size = copy.stat().st_size
        got = workloads.file_md5(copy)
        if got != payload_md5:
            raise RuntimeError(f"MD5 mismatch: got {got}, sent {payload_md5}")
        return mib_per_s(size, seconds)
    finally:
        for leftover in copy.parent.glob(copy.name + "*"):  # boto3's temporary names too
            leftover.unlink(missing_ok=True)


def gets(
    server: Server, plan: dict[str, Any], payload_md5: str, work: Path, found: dict[str, Any],
    what: str,
) -> None:  # fmt: skip
    """GETs of the single-segment object with every tool, `plan["rounds"]` times: each tool's
    best into found[what], every figure into found[what + "_samples"]; errors noted."""
    samples: dict[str, list[float]] = found.setdefault(f"{what}_samples", {})
    for number in range(plan["rounds"]):
        for tool in workloads.TOOLS:
            try:
                figure = timed_get(
                    server,
                    tool,
                    SINGLE_KEY,
                    work / f"download-{what}-{tool}.bin",
                    payload_md5,
                    plan["transfer_timeout"],
                )
            except Exception as error:
                found["errors"].append(f"{what} {tool} GET, round {number + 1}: {error}"[:500])
                continue
            samples.setdefault(f"{tool}_get_mibps", []).append(figure)
    found[what] = {key: max(values) for key, values in samples.items()}


def measure(
    server: Server,
    plan: dict[str, Any],
    payload: Path,
    payload_md5: str,
    work: Path,
    say: Any,
    found: dict[str, Any],
) -> None:
    """The pass described in the module docstring, into `found` (results.json["redundancy"];
    what was measured before a failure stays)."""
    found.setdefault("errors", [])
    found.update(servers=server.servers, parity=2)
    timeout = plan["transfer_timeout"]
    size = payload.stat().st_size
    workloads.client_for(server).create_bucket(Bucket=BUCKET)
    put_seconds = {}
    for tool, key in (("curl", SINGLE_KEY), ("boto3", MULTIPART_KEY)):
        put_seconds[tool] = workloads.transfer(server, tool, "put", BUCKET, key, payload, timeout)
    found["put_mibps"] = {f"{t}_put_mibps": mib_per_s(size, s) for t, s in put_seconds.items()}
    located = admin(server, "locate", BUCKET, SINGLE_KEY)
    holders = sorted({c["server"] for c in located["chunks"] if c["role"].startswith("data")})
    urls = {c["server"]: c["url"] for c in located["chunks"]}
    victims = holders[:STOPPED]
    found["stopped"] = victims
    say(f"redundancy: healthy GET of {plan['big_mib']} MiB with {', '.join(workloads.TOOLS)}")
    gets(server, plan, payload_md5, work, found, "healthy")
    # What any `admin repair` costs with nothing to do (interpreter, catalog, one pass).
    start = time.perf_counter()
    admin(server, "repair")
    found["noop_repair_seconds"] = round(time.perf_counter() - start, 2)
    pids = [chunkd_pid(server, urls[victim]) for victim in victims]
    spares: list[subprocess.Popen[bytes]] = []
    stopped: list[int] = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        say(f"redundancy: {' and '.join(victims)} stopped (SIGSTOP); waiting until marked down")
        found["seconds_until_down"] = round(
            wait_for_states(server, dict.fromkeys(victims, "down"), DOWN_TIMEOUT_SECONDS), 1
        )
        say(f"redundancy: down after {found['seconds_until_down']} s; degraded GETs")
        gets(server, plan, payload_md5, work, found, "degraded")
        for victim in victims:
            if admin(server, "server", "lost", victim) != "lost":
                raise RuntimeError(f"admin server lost {victim} did not say lost")
        before = set(states(server))
        for number in range(1, STOPPED + 1):
            spares.append(
                start_spare(server, work / f"spare-{number}", work / f"spare-{number}.log")
            )
        deadline = time.monotonic() + SPARE_UP_TIMEOUT_SECONDS
        while True:
            now = states(server)
            added = sorted(sid for sid, state in now.items() if sid not in before and state == "up")
            if len(added) >= STOPPED:
                break
            if time.monotonic() > deadline or any(s.poll() is not None for s in spares):
                raise RuntimeError(f"the spare daemons did not come up: servers {now}")
            time.sleep(POLL_SECONDS)
        found["added"] = added
        say(f"redundancy: {' and '.join(victims)} declared lost, {len(added)} daemons added; "
            "timing admin repair --wait")  # fmt: skip
        start = time.perf_counter()
        repaired = admin(server, "repair", "--wait", timeout=max(timeout, 300.0))
        seconds = time.perf_counter() - start
        rebuilt = int(repaired.get("bytes_rebuilt", 0))
        found["repair"] = {
            **{k: repaired.get(k) for k in ("repaired", "pieces_rebuilt", "bytes_rebuilt")},
            "segments_to_repair": repaired.get("to_repair"),
            "deferred": repaired.get("deferred"),
            "under_protected_segments": repaired.get("under_protected_segments"),
            "seconds": round(seconds, 2),
            "mb_per_s": rebuilt / 1e6 / seconds,
            "mib_per_s": mib_per_s(rebuilt, seconds),
        }
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    try:
        if "repair" in found:
            say("redundancy: healthy GETs again, after the repair")
            gets(server, plan, payload_md5, work, found, "healthy_after")
            for key in (SINGLE_KEY, MULTIPART_KEY):
                left = sorted(
                    {c["server"] for c in admin(server, "locate", BUCKET, key)["chunks"]}
                    & set(victims)
                )
                if left:
                    found["errors"].append(f"after repair, {key} still has pieces on {left}")
    finally:
        for spare in spares:
            stop_process(spare)


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The redundancy goals: parity 2 over parity 0 (PUT >= 0.8, GET >= 0.9), degraded over
    healthy GET (>= 0.5), per tool."""
    systems = results.get("systems", {})
    best = results.get("parity_comparison", {}).get("best", {})  # else one measurement each
    two = best.get("s3compat") or systems.get("s3compat", {}).get("metrics", {})
    zero = best.get("s3compat-p0") or systems.get("s3compat-p0", {}).get("metrics", {})
    found = results.get("redundancy", {})
    rows = []
    for tool in workloads.TOOLS:
        for action, goal in (("put", 0.8), ("get", 0.9)):
            key = f"{tool}_{action}_mibps"
            rows.append(_row(f"{tool} {action.upper()} parity 2 / parity 0", two.get(key),
                             zero.get(key), goal))  # fmt: skip
    for tool in workloads.TOOLS:
        key = f"{tool}_get_mibps"
        healthy = [
            found.get(what, {}).get(key)
            for what in ("healthy", "healthy_after")
            if found.get(what, {}).get(key) is not None
        ]
        rows.append(_row(f"{tool} GET degraded / healthy", found.get("degraded", {}).get(key),
                         max(healthy, default=None), 0.5))  # fmt: skip
    return rows


def _row(label: str, top: float | None, bottom: float | None, goal: float) -> dict[str, Any]:
    ratio = top / bottom if top is not None and bottom else None
    return {
        "ratio_of": label,
        "numerator_mibps": top,
        "denominator_mibps": bottom,
        "ratio": ratio,
        "goal": goal,
        "met": None if ratio is None else ratio >= goal,
    }
