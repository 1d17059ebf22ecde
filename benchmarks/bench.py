"""s3compat side by side with moto_server and s3rver, plus this machine's limits, in one run.

Usage: benchmarks/run [--quick] [--out DIR] [--systems s3compat,s3compat-p0,moto,s3rver]
                      [--[no-]profile] [--[no-]redundancy] [--[no-]scaling]
                      [--list-keys 1000,10000]
                      [--peer-cap SECONDS]
Writes results.json, table.txt, chart.png and the gateway profiles into DIR (default
benchmarks/out/). See benchmarks/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from s3bench import limits, procs, profiling, redundancy, report, scaling, systems, workloads
from s3bench.limits import MIB
from s3bench.systems import Server, Unavailable
from s3bench.workloads import Outcome

CURL_MIN_VERSION = (7, 75)
BUCKETS = ("bench-big", "bench-small")
STARTED = time.monotonic()
PHASE_SECONDS: dict[str, float] = {}


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase of the run into results.json (meta.phase_seconds)."""
    start = time.monotonic()
    try:
        yield
    finally:
        PHASE_SECONDS[name] = round(time.monotonic() - start, 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="64 MiB objects, 4 KiB GET/HEAD/DELETE of 200 objects (of 1,000 PUT), peers' "
        "big transfers capped at 10 s (< 3 min)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds, not minutes, so that the run cannot rot (the test suite runs it): our "
        "cluster alone, 4 MiB objects, 100 small objects, no peers, redundancy or profile; "
        "the chart only if matplotlib is already installed. Its figures mean nothing.",
    )
    parser.add_argument("--out", type=Path, default=systems.BENCH_DIR / "out")
    parser.add_argument(
        "--systems",
        default="s3compat,s3compat-p0,moto,s3rver",
        help="comma-separated subset of s3compat (8 daemons, parity 2), s3compat-p0 (6 "
        "daemons, parity 0), moto, s3rver",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds of the parity-2 vs parity-0 transfers (interleaved, ABBA) and of the "
        "healthy and degraded GETs; ratios use each figure's best (default 2, --quick 3)",
    )
    parser.add_argument(
        "--redundancy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="degraded GET (2 of 8 daemons stopped) and timed repair on a parity-2 cluster of "
        "its own, after the other systems (default: on)",
    )
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="4 KiB PUT/GET with --workers 1 and --workers <cores>, and the fill evenness of "
        "9 daemons after objects of random sizes, each on a cluster of its own, last "
        "(default: on)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy pass over our gateway (default: on, off with --quick)",
    )
    parser.add_argument(
        "--list-keys",
        default="1000",
        help="comma-separated bucket sizes to list, in thousands of keys as 1000,10000 "
        "(default 1000: filling 10,000 keys takes minutes per system)",
    )
    parser.add_argument(
        "--peer-cap",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a peer's big transfer after this long and report size/cap as its upper "
        "bound (default 30, --quick 10; 0: no cap). Ours are never capped.",
    )
    return parser.parse_args(argv)


def curl_ok() -> str | None:
    """None if curl can sign SigV4 (>= 7.75), else why not."""
    if shutil.which("curl") is None:
        return "curl not found"
    first = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    try:
        version = tuple(int(p) for p in first.split()[1].split(".")[:2])
    except (IndexError, ValueError):
        return f"cannot read curl version from {first[:60]!r}"
    if version < CURL_MIN_VERSION:
        return f"curl {first.split()[1]} < 7.75 has no --aws-sigv4"
    return None


def create_buckets(server: Server) -> None:
    client = workloads.client_for(server)
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)


def peak_mib(server: Server, groups: dict[str, list[int]]) -> dict[str, float]:
    peaks = {role: procs.sum_peak_rss_bytes(pids) / MIB for role, pids in groups.items()}
    return {"total": sum(peaks.values()), **peaks}


def record_rss(outcome: Outcome, phase: str, peaks: dict[str, float], ours: bool) -> None:
    outcome.metrics[f"rss_{phase}_mib"] = peaks["total"]
    if ours:
        outcome.metrics[f"rss_{phase}_gateway_mib"] = peaks.get("gateway", 0.0)
        outcome.metrics[f"rss_{phase}_chunkd_mib"] = peaks.get("chunkd", 0.0)


def measure_big(
    server: Server, plan: dict[str, Any], payload: Path, payload_md5: str, work: Path
) -> Outcome:
    """The big-object transfers of one system, and its peak RSS meanwhile."""
    outcome = Outcome()
    ours = report.is_ours(server.name)
    cap = None if ours or not plan["peer_cap"] else plan["peer_cap"]
    if not procs.reset_peak(procs.tree(server.process.pid)):
        server.notes.append("VmHWM could not be reset: RSS peaks count from process start")
    say(f"{server.name}: {plan['big_mib']} MiB PUT/GET with boto3, aws CLI, curl")
    with phase(f"{server.name}: big objects"):
        workloads.big_objects(
            server, "bench-big", payload, payload_md5, work, plan["transfer_timeout"], outcome, cap
        )
    if outcome.capped:
        server.notes.append(
            f"cut off after {cap:.0f} s (figure = size / {cap:.0f} s, an upper bound): "
            + ", ".join(outcome.capped)
        )
    record_rss(outcome, "big", peak_mib(server, server.groups()), ours)
    return outcome


def measure_big_ours(
    pair: list[Server], plan: dict[str, Any], payload: Path, payload_md5: str, work: Path
) -> tuple[dict[str, Outcome], dict[str, Any]]:
    """The big transfers on our two layouts (parity 2, parity 0), interleaved tool by tool in
    `rounds` rounds, the two in the opposite order every other round (ABBA), so that the load
    of the machine, which drifts, weighs on both alike. The table's figures are round 1's (one
    measurement, as for the peers); the parity ratios take the best of the rounds (other load
    only ever slows a transfer down). Returns the outcomes and results.json's
    "parity_comparison"."""
    rounds = plan["rounds"]
    outcomes = {server.name: Outcome() for server in pair}
    samples: dict[str, dict[str, list[float]]] = {server.name: {} for server in pair}
    for server in pair:
        if not procs.reset_peak(procs.tree(server.process.pid)):
            server.notes.append("VmHWM could not be reset: RSS peaks count from process start")
    names = " and ".join(server.name for server in pair)
    say(f"{names}: {plan['big_mib']} MiB PUT/GET with boto3, aws CLI, curl, {rounds} round(s)")
    with phase(f"{names}: big objects, {rounds} interleaved round(s)"):
        for number in range(rounds):
            order = pair if number % 2 == 0 else pair[::-1]
            for tool in workloads.TOOLS:
                for server in order:
                    found = Outcome()
                    workloads.big_objects(
                        server,
                        "bench-big",
                        payload,
                        payload_md5,
                        work,
                        plan["transfer_timeout"],
                        found,
                        tools=(tool,),
                    )
                    outcome = outcomes[server.name]
                    for key, value in found.metrics.items():
                        samples[server.name].setdefault(key, []).append(value)
                        if number == 0:
                            outcome.metrics[key] = value
                    outcome.errors += [f"round {number + 1}: {e}" for e in found.errors]
    for server in pair:
        record_rss(outcomes[server.name], "big", peak_mib(server, server.groups()), True)
    comparison = {
        "rounds": rounds,
        "order": "ABBA: " + ", ".join(server.name for server in pair) + " then reversed",
        "samples": samples,
        "best": {name: {k: max(v) for k, v in got.items()} for name, got in samples.items()},
    }
    return outcomes, comparison


def measure_small(
    server: Server,
    plan: dict[str, Any],
    outcome: Outcome,
    after_listing: Callable[[], None] | None = None,
) -> None:
    """4 KiB objects and listing on one system, and its peak RSS meanwhile."""
    procs.reset_peak(procs.tree(server.process.pid))
    clients = [workloads.client_for(server) for _ in range(workloads.THREADS)]
    say(
        f"{server.name}: 4 KiB PUT x {plan['small_count']}, ListObjectsV2 over "
        f"{plan['list_sizes']} keys, 4 KiB GET/HEAD/DELETE x {plan['small_read_count']}; "
        "16 clients"
    )
    with phase(f"{server.name}: 4 KiB objects and listing"):
        workloads.small_objects(server, clients, "bench-small", plan, outcome, after_listing)
    record_rss(outcome, "small", peak_mib(server, server.groups()), report.is_ours(server.name))


def profile_ours(
    server: Server,
    plan: dict[str, Any],
    payload: Path,
    payload_md5: str,
    work: Path,
    out: Path,
    slugs: tuple[str, ...],
) -> dict[str, Any]:
    """py-spy on the gateway and on one chunk daemon during the phases named by `slugs`:
    boto3 and curl PUT of the big object, curl GET of it, 4 KiB PUTs and GETs, full listings
    of the (filled) list bucket. The profiled objects stay: deleting them would queue
    collector work that could land in the measured phases."""
    spy = profiling.py_spy()
    groups = server.groups()
    if spy is None or not groups["gateway"]:
        return {"error": "py-spy could not be installed" if spy is None else "no gateway pid"}
    targets = {"gateway": groups["gateway"][0]}
    if groups["chunkd"]:
        targets["chunkd"] = groups["chunkd"][0]
    size = payload.stat().st_size
    clients = [workloads.client_for(server) for _ in range(workloads.THREADS)]
    copy = work / "download-profile.bin"
    small_keys = [f"profile/{n:06d}" for n in range(plan["profile_small_count"])]
    small_body = b"p" * workloads.SMALL_OBJECT_BYTES

    def big_put(tool: str) -> float:
        seconds = workloads.transfer(
            server,
            tool,
            "put",
            "bench-big",
            f"profile/{tool}.bin",
            payload,
            plan["transfer_timeout"],
        )
        return size / MIB / seconds

    def curl_get() -> float:
        seconds = workloads.transfer(
            server, "curl", "get", "bench-big", "profile/curl.bin", copy, plan["transfer_timeout"]
        )
        if workloads.file_md5(copy) != payload_md5:
            raise RuntimeError("MD5 mismatch")
        copy.unlink()
        return size / MIB / seconds

    def small(action: str) -> float:
        def put(client: Any, key: str) -> None:
            client.put_object(Bucket="bench-small", Key=key, Body=small_body)

        def get(client: Any, key: str) -> None:
            if client.get_object(Bucket="bench-small", Key=key)["Body"].read() != small_body:
                raise RuntimeError(f"{key}: wrong body")

        run = workloads.parallel(
            clients,
            small_keys,
            put if action == "put" else get,
            time.monotonic() + plan["phase_timeout"],
        )
        if run.errors:
            raise RuntimeError(run.errors[0])
        return run.done / run.seconds

    def list_walks() -> float:
        # the bucket holds the largest listed size by now; 1,000 keys a page either way
        size = plan["list_sizes"][-1]
        return workloads.list_pages_per_s(server, "bench-small", size, min_seconds=5.0)

    big = f"{plan['big_mib']} MiB"
    count = f"{plan['profile_small_count']}, 16 clients"
    phases = [
        ("list", f"ListObjectsV2 walks, {plan['list_sizes'][-1]:,} keys", list_walks, "pages/s"),
        ("boto3_put", f"boto3 PUT {big}", lambda: big_put("boto3"), "MiB/s"),
        ("curl_put", f"curl PUT {big}", lambda: big_put("curl"), "MiB/s"),
        ("curl_get", f"curl GET {big}", curl_get, "MiB/s"),
        ("small_put", f"4 KiB PUT x {count}", lambda: small("put"), "ops/s"),
        ("small_get", f"4 KiB GET x {count}", lambda: small("get"), "ops/s"),
    ]
    found: dict[str, Any] = {}
    texts = []
    for slug, title, run, unit in phases:
        if slug not in slugs:
            continue
        say(f"profiling the gateway during {title}")
        recordings = {
            role: profiling.start(spy, pid, out / f"profile-{slug}-{role}.txt")
            for role, pid in targets.items()
        }
        figure: float | None = None
        error = None
        try:
            figure = run()
        except Exception as failure:
            error = f"{failure}"[:300]
        entry: dict[str, Any] = {"title": title, "figure_under_profiler": figure, "unit": unit}
        if error:
            entry["error"] = error
            texts.append(f"== {title}: the workload failed under the profiler: {error}")
            say(f"profiled workload failed: {error}")
        elif figure is not None:
            texts.append(f"== {title}: {figure:,.1f} {unit} under the profiler")
        for role, recording in recordings.items():
            seconds = recording.stop()
            if recording.output.exists():
                summary = profiling.summarise(recording.output, seconds)
                entry[role] = summary
                texts.append(profiling.render(f"{title} — {role}", summary))
            else:
                entry[role] = {"error": recording.log.read_text(errors="replace")[-300:]}
        found[slug] = entry
    with (out / "profile-summary.txt").open("a") as summary_file:
        summary_file.write("\n\n".join(texts) + "\n\n")
    return found


BEFORE = ("boto3_put", "curl_put", "curl_get", "small_put", "small_get")
AFTER = ("list",)


def guarded_profile(*args: Any) -> dict[str, Any]:
    """profile_ours, whose failure costs the profile only, never the measurements."""
    try:
        return profile_ours(*args)
    except Exception as error:
        say(f"profiling failed: {error!r}")
        return {f"error {args[-1]}": repr(error)[:500]}


def measure_all(
    started: dict[str, Server],
    results: dict[str, Any],
    plan: dict[str, Any],
    payload: Path,
    payload_md5: str,
    work: Path,
    out: Path,
    profile: bool,
) -> dict[str, Outcome]:
    """Every workload on every system, one system at a time, a workload on all systems before
    the next workload: the machine's load (shared with others) drifts less between the figures
    that are compared. Every system is stopped at the end."""
    outcomes: dict[str, Outcome] = {}
    live = dict(started)

    def attempt(name: str, work_on: Callable[[Server], None]) -> None:
        try:
            work_on(live[name])
        except Exception as error:
            results["systems"][name]["status"] = f"failed: {error!r}"[:500]
            say(f"{name}: FAILED: {error!r}")
            live.pop(name).stop()

    try:
        for name in list(live):
            attempt(name, create_buckets)
        if profile and report.OURS in live:
            # First, on the fresh cluster, so that no collector work from the measured phases'
            # deletes (after --gc-grace) lands in it; it deletes nothing.
            def profile_first(server: Server) -> None:
                with phase(f"{report.OURS}: profile pass"):
                    results["profile"] = guarded_profile(
                        server, plan, payload, payload_md5, work, out, BEFORE
                    )

            attempt(report.OURS, profile_first)
        for name in list(live):
            if name == report.OURS_P0 and report.OURS in outcomes:
                continue  # measured with ours, interleaved

            def big(server: Server) -> None:
                if server.name == report.OURS and report.OURS_P0 in live:
                    pair = [server, live[report.OURS_P0]]
                    found, results["parity_comparison"] = measure_big_ours(
                        pair, plan, payload, payload_md5, work
                    )
                    outcomes.update(found)
                else:
                    outcomes[server.name] = measure_big(server, plan, payload, payload_md5, work)

            attempt(name, big)
        for name in list(live):

            def small(server: Server) -> None:
                after_listing = None
                if profile and server.name == report.OURS:  # while the listed bucket is full
                    after_listing = functools.partial(
                        profile_listing, results, server, plan, payload, payload_md5, work, out
                    )
                measure_small(server, plan, outcomes[server.name], after_listing)

            attempt(name, small)
    finally:
        for server in live.values():
            server.stop()
            say(f"{server.name}: stopped")
    return outcomes


def measure_redundancy(
    plan: dict[str, Any], payload: Path, payload_md5: str, work: Path
) -> dict[str, Any]:
    """Degraded GETs and a timed repair on a fresh parity-2 cluster, started once the other
    systems are stopped (s3bench/redundancy.py)."""
    found: dict[str, Any] = {"status": "ok", "errors": []}
    say("redundancy: starting a parity-2 cluster of its own (8 chunk daemons)")
    with phase("s3compat-repair: degraded GET and repair"):
        try:
            server = systems.START_REPAIR_CLUSTER(work)
        except Exception as error:
            found["status"] = f"not run: {error}"[:500]
            say(f"redundancy: NOT RUN: {error}")
            return found
        try:
            found["notes"] = server.notes
            redundancy.measure(server, plan, payload, payload_md5, work, say, found)
        except Exception as error:
            found["status"] = f"failed: {error!r}"[:500]
            say(f"redundancy: FAILED: {error!r}")
        finally:
            server.stop()
            say("s3compat-repair: stopped")
    return found


def guarded(measure: Callable[..., Any], work: Path, plan: dict[str, Any]) -> Any:
    """A phase on a cluster of its own; its failure is recorded, not the run's end."""
    try:
        return measure(work, plan, say)
    except Exception as error:
        say(f"{measure.__name__}: FAILED: {error!r}")
        return {"error": f"failed: {error!r}"[:500]}


def profile_listing(results: dict[str, Any], *args: Any) -> None:
    with phase(f"{report.OURS}: profile pass (listing)"):
        results["profile"].update(guarded_profile(*args, AFTER))


def start_all(names: list[str], work: Path) -> dict[str, Future[Server]]:
    pool = ThreadPoolExecutor(len(names))
    futures = {name: pool.submit(systems.STARTERS[name], work) for name in names}
    pool.shutdown(wait=False)
    return futures


def draw_chart(results_path: Path, chart_path: Path, install: bool = True) -> str | None:
    try:
        python = systems.ensure_matplotlib(install)
    except Unavailable as error:
        return f"no chart: matplotlib unavailable ({error})"
    script = Path(__file__).resolve().parent / "s3bench" / "chart.py"
    done = subprocess.run(
        [str(python), str(script), str(results_path), str(chart_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return None if done.returncode == 0 else f"no chart: {done.stderr.strip()[-300:]}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    quick = args.quick
    profile = (not quick) if args.profile is None else args.profile
    names = [n.strip() for n in args.systems.split(",") if n.strip() in systems.STARTERS]
    if report.OURS not in names:
        raise SystemExit("the run needs s3compat among --systems")
    list_sizes = sorted({int(n) for n in args.list_keys.split(",") if n.strip()})
    if not list_sizes or any(n <= 0 or n % 1000 for n in list_sizes):
        raise SystemExit("--list-keys takes multiples of 1000, as 1000,10000")
    peer_cap = args.peer_cap if args.peer_cap is not None else (10.0 if quick else 30.0)
    if args.smoke:
        names, quick, profile, args.redundancy = [report.OURS], True, False, False
    plan = {
        "mode": "quick" if quick else "full",
        "big_mib": 64 if quick else 1024,
        # PUT this many (the listed bucket), GET/HEAD/DELETE the first small_read_count
        "small_count": 1000,
        "small_read_count": 200 if quick else 1000,
        "profile_small_count": 300,
        # objects of random sizes written to 9 daemons for the evenness figure
        "even_count": 500 if quick else 2000,
        "list_sizes": list_sizes,
        "peer_cap": peer_cap or None,
        "rounds": max(1, args.rounds if args.rounds is not None else (3 if quick else 2)),
        "transfer_timeout": 120.0 if quick else 300.0,
        "phase_timeout": 60.0 if quick else 180.0,
        # Filling the list bucket is set-up, not measured.
        "populate_timeout": 90.0 if quick else 300.0,
    }
    if args.smoke:
        plan.update(
            mode="smoke", big_mib=4, small_count=100, small_read_count=50, list_sizes=[100],
            even_count=30,
            rounds=1, transfer_timeout=60.0, phase_timeout=60.0, populate_timeout=60.0,
        )  # fmt: skip
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    (out / "profile-summary.txt").unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    results: dict[str, Any] = {
        "meta": {
            **plan,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{platform.node()} {platform.machine()}, "
            f"{__import__('os').cpu_count()} cores, python {platform.python_version()}",
        },
        "systems": {},
    }
    futures: dict[str, Future[Server]] = {}
    try:
        say(f"{plan['mode']} run; machine limits with {plan['big_mib']} MiB on {work}")
        with phase("machine limits"):
            results["limits"] = limits.measure(work, plan["big_mib"] * MIB)
        say("limits: " + ", ".join(f"{k} {v:,.0f}" for k, v in results["limits"].items()))
        futures = start_all(names, work)
        payload = work / "payload.bin"
        payload_md5 = limits.make_payload(payload, plan["big_mib"] * MIB)
        curl_problem = curl_ok()
        if curl_problem:
            workloads.TOOLS = tuple(t for t in workloads.TOOLS if t != "curl")
            results["meta"]["curl"] = curl_problem
        started: dict[str, Server] = {}
        with phase("starting the systems (peers installed if missing)"):
            for name in names:  # nothing is measured while any system is still starting
                results["systems"][name] = {"status": "ok"}
                try:
                    started[name] = futures[name].result(
                        timeout=systems.READY_TIMEOUT_SECONDS + 660
                    )
                except Exception as error:
                    results["systems"][name]["status"] = f"not run: {error}"
                    say(f"{name}: NOT RUN: {error}")
        measured = measure_all(started, results, plan, payload, payload_md5, work, out, profile)
        for name, outcome in measured.items():
            results["systems"][name].update(
                metrics=outcome.metrics,
                capped=outcome.capped,
                errors=outcome.errors,
                notes=started[name].notes,
            )
        if args.redundancy:
            results["redundancy"] = measure_redundancy(plan, payload, payload_md5, work)
        if args.scaling:
            with phase("s3compat-workers: workers scaling"):
                results["workers_scaling"] = guarded(scaling.measure_workers, work, plan)
            with phase("s3compat-9: evenness"):
                results["evenness"] = guarded(scaling.measure_evenness, work, plan)
    finally:
        for future in futures.values():  # stopping twice is harmless
            try:
                future.result(timeout=systems.READY_TIMEOUT_SECONDS + 660).stop()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)
    results["ratios"] = report.ratios(results["systems"], results["limits"])
    results["targets"] = report.targets(results["systems"], results["limits"], results["ratios"])
    results["ratios_p0"] = report.ratios(results["systems"], results["limits"], report.OURS_P0)
    results["targets"] += report.targets(
        results["systems"], results["limits"], results["ratios_p0"], " [parity 0]"
    )
    results["targets"].append(report.evenness_target(results.get("evenness")))
    results["redundancy_goals"] = redundancy.ratios(results)
    results_path = out / "results.json"
    with phase("chart"):
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        problem = draw_chart(results_path, out / "chart.png", install=not args.smoke)
    results["meta"]["phase_seconds"] = PHASE_SECONDS
    results["meta"]["seconds"] = round(time.monotonic() - STARTED, 1)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    text = report.table(results)
    if problem:
        text += "\n" + problem
    (out / "table.txt").write_text(text + "\n")
    print(text)
    if (out / "profile-summary.txt").exists():
        print(f"\nprofiles: {out / 'profile-summary.txt'}")
    say(f"done: {results_path}, {out / 'chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
