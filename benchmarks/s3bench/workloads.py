"""The workloads, each run the same way against every system.

Big objects: one PUT and one GET per client tool (boto3 default TransferConfig, aws CLI
`s3 cp`, curl single stream), each GET checked byte-exact by MD5. A peer's transfer may be cut
off after a time cap: its figure is then an upper bound (size / cap), marked as capped. Small
objects: 4 KiB PUT, GET (MD5-checked), HEAD, DELETE with 16 threads, one boto3 client each.
Listing: full ListObjectsV2 walks over a bucket of N keys (raw signed HTTP), pages per second.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from s3bench import procs
from s3bench.limits import MIB, mib_per_s
from s3bench.systems import BENCH_DIR, PROJECT_BIN, Server

REGION = "us-east-1"
SMALL_OBJECT_BYTES = 4096
THREADS = 16
MD5_BLOCK_BYTES = 4 * MIB
# A full listing loop runs at least this long (or this many walks), then stops.
LIST_MIN_SECONDS = 2.0
LIST_MAX_WALKS = 500
LIST_TIMEOUT_SECONDS = 60.0
TOOLS = ("boto3", "cli", "curl")


@dataclass
class Outcome:
    """Figures of one system and what went wrong while measuring them."""

    metrics: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # metrics that are upper bounds: the transfer was cut off at the time cap
    capped: list[str] = field(default_factory=list)

    def fail(self, what: str, error: BaseException | str) -> None:
        self.errors.append(f"{what}: {error}"[:500])


_SESSIONS: dict[int, boto3.session.Session] = {}


def client_for(server: Server, pool: int = 10) -> Any:
    """A boto3 client of its own (one per thread). Clients are made from one session per
    creating thread: a fresh session reloads botocore's models, about a second under load."""
    session = _SESSIONS.setdefault(threading.get_ident(), boto3.session.Session())
    return session.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=REGION,
        config=Config(max_pool_connections=pool),
    )


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        while block := source.read(MD5_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def credentials_env(server: Server) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": REGION,
        # Nobody's ~/.aws settings may change what is measured.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PYTHONPATH": str(BENCH_DIR),
    }


def _timed_run(command: list[str], env: dict[str, str], timeout: float) -> tuple[float, str]:
    """Run a command; return its wall time and stdout, or raise with its stderr."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")
    return elapsed, done.stdout


def transfer_command(
    server: Server, tool: str, action: str, bucket: str, key: str, path: Path
) -> list[str]:
    url = f"{server.endpoint}/{bucket}/{key}"
    if tool == "boto3":
        return [
            sys.executable,
            "-m",
            "s3bench.transfer",
            action,
            server.endpoint,
            bucket,
            key,
            str(path),
        ]
    if tool == "cli":
        s3_url = f"s3://{bucket}/{key}"
        source, target = (str(path), s3_url) if action == "put" else (s3_url, str(path))
        return [
            str(PROJECT_BIN / "aws"),
            "--endpoint-url",
            server.endpoint,
            "s3",
            "cp",
            "--only-show-errors",
            source,
            target,
        ]
    curl = [
        "curl",
        "--silent",
        "--show-error",
        "--fail",
        "--aws-sigv4",
        f"aws:amz:{REGION}:s3",
        "--user",
        f"{server.access_key}:{server.secret_key}",
        # curl 7.x does not send the payload hash S3 requires; a large upload must not
        # wait a second for "100 Continue" either.
        "--header",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
    ]
    if action == "put":
        return [
            *curl,
            "--header",
            "Expect:",
            "--upload-file",
            str(path),
            "--output",
            os.devnull,
            url,
        ]
    return [*curl, "--output", str(path), url]


def transfer(
    server: Server, tool: str, action: str, bucket: str, key: str, path: Path, timeout: float
) -> float:
    """One big PUT or GET; seconds (boto3: the transfer alone, the others: the whole command)."""
    command = transfer_command(server, tool, action, bucket, key, path)
    elapsed, stdout = _timed_run(command, credentials_env(server), timeout)
    return float(stdout.strip()) if tool == "boto3" else elapsed


class Capped(Exception):
    """The transfer did not end within its time cap."""


def capped_transfer(
    server: Server,
    tool: str,
    action: str,
    bucket: str,
    key: str,
    path: Path,
    timeout: float,
    cap: float | None,
) -> float:
    """`transfer`, cut off after `cap` seconds (if given) with Capped."""
    try:
        return transfer(server, tool, action, bucket, key, path, min(timeout, cap or timeout))
    except subprocess.TimeoutExpired:
        if cap is not None and cap < timeout:
            raise Capped() from None
        raise


def big_objects(
    server: Server,
    bucket: str,
    payload: Path,
    payload_md5: str,
    work: Path,
    timeout: float,
    outcome: Outcome,
    cap: float | None = None,
    tools: tuple[str, ...] | None = None,
) -> None:
    """PUT and GET the payload with every tool (or those of `tools`). With `cap`, a transfer
    still running after `cap` seconds is stopped and its figure recorded as the upper bound
    size / cap."""
    size = payload.stat().st_size
    client = client_for(server)
    for tool in tools or TOOLS:
        key = f"big/{tool}.bin"
        copy = work / f"download-{tool}.bin"
        try:
            seconds = capped_transfer(server, tool, "put", bucket, key, payload, timeout, cap)
            outcome.metrics[f"{tool}_put_mibps"] = mib_per_s(size, seconds)
        except Capped:
            outcome.metrics[f"{tool}_put_mibps"] = mib_per_s(size, cap or timeout)
            outcome.capped.append(f"{tool}_put_mibps")
            outcome.fail(f"{tool} GET", "not run: the PUT was cut off")
            quiesce(server)
            continue
        except Exception as error:
            outcome.fail(f"{tool} PUT", error)
            continue
        try:
            seconds = capped_transfer(server, tool, "get", bucket, key, copy, timeout, cap)
            got = file_md5(copy)
            if got != payload_md5:
                raise RuntimeError(f"MD5 mismatch: got {got}, sent {payload_md5}")
            outcome.metrics[f"{tool}_get_mibps"] = mib_per_s(size, seconds)
        except Capped:
            outcome.metrics[f"{tool}_get_mibps"] = mib_per_s(size, cap or timeout)
            outcome.capped.append(f"{tool}_get_mibps")
            quiesce(server)
        except Exception as error:
            outcome.fail(f"{tool} GET", error)
        finally:
            for leftover in work.glob(f"download-{tool}.bin*"):  # boto3's temporary names too
                leftover.unlink(missing_ok=True)
        try:  # keep every system's footprint to one big object at a time
            client.delete_object(Bucket=bucket, Key=key)
        except Exception as error:
            outcome.fail(f"{tool} cleanup DELETE", error)


def quiesce(server: Server, idle_share: float = 0.1, max_seconds: float = 10.0) -> None:
    """Wait until the server's processes use under `idle_share` of a core (a server may go on
    working on requests whose client was stopped), so that the next figure is not disturbed."""
    deadline = time.monotonic() + max_seconds
    before = procs.cpu_seconds(server.all_pids())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = procs.cpu_seconds(server.all_pids())
        if now - before < 0.5 * idle_share:
            return
        before = now


@dataclass
class Phase:
    """What one parallel run over its items did."""

    seconds: float
    done: int
    errors: list[str]
    # seconds of each successful item, in completion order
    latencies: list[float]

    def percentile_ms(self, share: float) -> float:
        """The latency under which `share` of the successful items stayed (nearest rank)."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def parallel(
    clients: list[Any], items: list[Any], work: Callable[[Any, Any], None], deadline: float
) -> Phase:
    """Run `work(client, item)` over items with one thread per client, timing each item.
    Threads stop taking items at `deadline` (monotonic)."""
    lock = threading.Lock()
    queue = iter(items)
    done = [0]
    errors: list[str] = []
    latencies: list[float] = []

    def worker(client: Any) -> None:
        while time.monotonic() < deadline:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            began = time.perf_counter()
            try:
                work(client, item)
            except Exception as error:
                with lock:
                    if len(errors) < 5:
                        errors.append(repr(error)[:300])
                continue
            took = time.perf_counter() - began
            with lock:
                done[0] += 1
                latencies.append(took)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(worker, clients))
    return Phase(time.perf_counter() - start, done[0], errors, latencies)


def small_objects(
    server: Server,
    clients: list[Any],
    bucket: str,
    plan: dict[str, Any],
    outcome: Outcome,
    after_listing: Callable[[], None] | None = None,
) -> None:
    """4 KiB objects: PUT `small_count` of them; walk the bucket (which they fill) with
    ListObjectsV2 at each of `list_sizes` (a size above `small_count` is reached with empty
    objects, which stay), then call `after_listing`; GET, HEAD and DELETE the first
    `small_read_count`."""
    count, read_count = plan["small_count"], plan["small_read_count"]
    bodies = {small_key(n): os.urandom(SMALL_OBJECT_BYTES) for n in range(count)}
    digests = {key: hashlib.md5(body).hexdigest() for key, body in bodies.items()}
    keys = list(bodies)

    def put(client: Any, key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=bodies[key])

    def get(client: Any, key: str) -> None:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.md5(body).hexdigest() != digests[key]:
            raise RuntimeError(f"{key}: MD5 mismatch ({len(body)} bytes)")

    def head(client: Any, key: str) -> None:
        length = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if length != SMALL_OBJECT_BYTES:
            raise RuntimeError(f"{key}: HEAD says {length} bytes")

    def delete(client: Any, key: str) -> None:
        client.delete_object(Bucket=bucket, Key=key)

    timeout = plan["phase_timeout"]
    if not _timed_phase(server, outcome, "put", clients, keys, put, timeout):
        return
    listing(server, clients, bucket, count, plan["list_sizes"], plan["populate_timeout"], outcome)
    if after_listing is not None:
        after_listing()
    for name, work in (("get", get), ("head", head), ("delete", delete)):
        _timed_phase(server, outcome, name, clients, keys[:read_count], work, timeout)


def small_key(number: int) -> str:
    return f"small/{number:06d}"


def _timed_phase(
    server: Server,
    outcome: Outcome,
    name: str,
    clients: list[Any],
    keys: list[str],
    work: Callable[[Any, Any], None],
    timeout: float,
) -> bool:
    """One 4 KiB phase over `keys`; records its ops/s, the p50 and p99 of its requests'
    latencies, the CPU milliseconds per request of the server's processes (all of them: a
    gateway and its chunk daemons) and of the client (this process, boto3 in threads), and
    whether every key succeeded."""
    pids = server.all_pids()
    server_cpu, client_cpu = procs.cpu_seconds(pids), time.process_time()
    run = parallel(clients, keys, work, time.monotonic() + timeout)
    server_cpu, client_cpu = procs.cpu_seconds(pids) - server_cpu, time.process_time() - client_cpu
    for error in run.errors:
        outcome.fail(f"4 KiB {name.upper()}", error)
    if run.done != len(keys):
        outcome.fail(f"4 KiB {name.upper()}", f"only {run.done} of {len(keys)} succeeded")
        return False
    outcome.metrics[f"small_{name}_ops"] = len(keys) / run.seconds
    outcome.metrics[f"small_{name}_p50_ms"] = run.percentile_ms(0.50)
    outcome.metrics[f"small_{name}_p99_ms"] = run.percentile_ms(0.99)
    outcome.metrics[f"small_{name}_cpu_ms"] = 1000 * server_cpu / len(keys)
    outcome.metrics[f"small_{name}_client_cpu_ms"] = 1000 * client_cpu / len(keys)
    return True


def populate(clients: list[Any], bucket: str, first: int, last: int, timeout: float) -> int:
    """Empty objects small/<first> .. small/<last-1>; how many were written."""
    keys = [small_key(n) for n in range(first, last)]

    def put(client: Any, key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=b"")

    return parallel(clients, keys, put, time.monotonic() + timeout).done


def _list_page(
    connection: http.client.HTTPConnection, server: Server, bucket: str, token: str | None
) -> tuple[int, str | None]:
    """One signed ListObjectsV2 request; (keys on the page, continuation token or None)."""
    query = {"list-type": "2", "prefix": "small/"}
    if token is not None:
        query["continuation-token"] = token
    target = f"/{bucket}?" + urllib.parse.urlencode(sorted(query.items()), quote_via=_quote)
    request = AWSRequest(method="GET", url=server.endpoint + target)
    credentials = Credentials(server.access_key, server.secret_key)
    S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    connection.request("GET", target, headers=dict(request.headers.items()))
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"ListObjectsV2 answered {answer.status}: {body[:200]!r}")
    root = ElementTree.fromstring(body)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    keys = len(root.findall(f"{namespace}Contents"))
    truncated = root.findtext(f"{namespace}IsTruncated") == "true"
    return keys, root.findtext(f"{namespace}NextContinuationToken") if truncated else None


def _quote(
    value: str, safe: str = "", encoding: str | None = None, errors: str | None = None
) -> str:
    return urllib.parse.quote(value, safe="-_.~")


def list_pages_per_s(
    server: Server, bucket: str, expected: int, min_seconds: float = LIST_MIN_SECONDS
) -> float:
    """Walk the whole bucket (up to 1,000 keys a page) again and again over one keep-alive
    connection; pages per second. Raw signed HTTP with a C XML parser, so that the figure is
    the server's, not botocore's response parsing."""
    address = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(
        address.hostname or "127.0.0.1", address.port, timeout=LIST_TIMEOUT_SECONDS
    )
    pages = 0
    walks = 0
    try:
        start = time.perf_counter()
        while walks < LIST_MAX_WALKS and (walks == 0 or time.perf_counter() - start < min_seconds):
            seen = 0
            token: str | None = None
            while True:
                keys, token = _list_page(connection, server, bucket, token)
                pages += 1
                seen += keys
                if token is None or pages > 10 * LIST_MAX_WALKS:
                    break
            if seen != expected:
                raise RuntimeError(f"listing saw {seen} keys, expected {expected}")
            walks += 1
        return pages / (time.perf_counter() - start)
    finally:
        connection.close()


def listing(
    server: Server,
    clients: list[Any],
    bucket: str,
    have: int,
    sizes: list[int],
    populate_timeout: float,
    outcome: Outcome,
) -> None:
    """Walk the bucket, which holds `have` keys under small/, at each of `sizes` (filling it
    with empty objects up to each size first)."""
    for size in sizes:
        if size > have:
            have += populate(clients, bucket, have, size, populate_timeout)
        if have != size:
            outcome.fail(f"list {size}", f"the bucket holds {have} keys, not {size}")
            return
        try:
            outcome.metrics[f"list_{size // 1000}k_pages"] = list_pages_per_s(server, bucket, size)
        except Exception as error:
            outcome.fail(f"list {size}", error)
            return
