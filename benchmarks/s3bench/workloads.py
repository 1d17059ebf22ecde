"""The workloads, each run the same way against every system.

Big objects: one PUT and one GET per client tool (boto3 default TransferConfig, aws CLI
`s3 cp`, curl single stream), each GET checked byte-exact by MD5. Small objects: 4 KiB PUT, GET
(MD5-checked), HEAD, DELETE with 16 threads, one boto3 client each. Listing: full
ListObjectsV2 walks over a bucket of N keys (raw signed HTTP), pages per second.
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

    def fail(self, what: str, error: BaseException | str) -> None:
        self.errors.append(f"{what}: {error}"[:500])


def client_for(server: Server, pool: int = 10) -> Any:
    session = boto3.session.Session()
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


def big_objects(
    server: Server,
    bucket: str,
    payload: Path,
    payload_md5: str,
    work: Path,
    timeout: float,
    outcome: Outcome,
) -> None:
    size = payload.stat().st_size
    client = client_for(server)
    for tool in TOOLS:
        key = f"big/{tool}.bin"
        copy = work / f"download-{tool}.bin"
        try:
            seconds = transfer(server, tool, "put", bucket, key, payload, timeout)
            outcome.metrics[f"{tool}_put_mibps"] = mib_per_s(size, seconds)
        except Exception as error:
            outcome.fail(f"{tool} PUT", error)
            continue
        try:
            seconds = transfer(server, tool, "get", bucket, key, copy, timeout)
            got = file_md5(copy)
            if got != payload_md5:
                raise RuntimeError(f"MD5 mismatch: got {got}, sent {payload_md5}")
            outcome.metrics[f"{tool}_get_mibps"] = mib_per_s(size, seconds)
        except Exception as error:
            outcome.fail(f"{tool} GET", error)
        finally:
            copy.unlink(missing_ok=True)
        try:  # keep every system's footprint to one big object at a time
            client.delete_object(Bucket=bucket, Key=key)
        except Exception as error:
            outcome.fail(f"{tool} cleanup DELETE", error)


def parallel(
    clients: list[Any], items: list[Any], work: Callable[[Any, Any], None], deadline: float
) -> tuple[float, int, list[str]]:
    """Run `work(client, item)` over items with one thread per client; wall seconds, done count,
    first errors. Threads stop taking items at `deadline` (monotonic)."""
    lock = threading.Lock()
    queue = iter(items)
    done = [0]
    errors: list[str] = []

    def worker(client: Any) -> None:
        while time.monotonic() < deadline:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            try:
                work(client, item)
            except Exception as error:
                with lock:
                    if len(errors) < 5:
                        errors.append(repr(error)[:300])
                continue
            with lock:
                done[0] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(worker, clients))
    return time.perf_counter() - start, done[0], errors


def small_objects(
    clients: list[Any], bucket: str, count: int, phase_timeout: float, outcome: Outcome
) -> None:
    bodies = {f"small/{n:06d}": os.urandom(SMALL_OBJECT_BYTES) for n in range(count)}
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

    for name, work in (("put", put), ("get", get), ("head", head), ("delete", delete)):
        seconds, done, errors = parallel(clients, keys, work, time.monotonic() + phase_timeout)
        for error in errors:
            outcome.fail(f"4 KiB {name.upper()}", error)
        if done == count:
            outcome.metrics[f"small_{name}_ops"] = count / seconds
        else:
            outcome.fail(f"4 KiB {name.upper()}", f"only {done} of {count} succeeded")


def populate(clients: list[Any], bucket: str, first: int, last: int, timeout: float) -> int:
    """Empty objects list/000000 .. list/<last-1>; how many were written."""
    keys = [f"list/{n:06d}" for n in range(first, last)]

    def put(client: Any, key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=b"")

    _, done, _ = parallel(clients, keys, put, time.monotonic() + timeout)
    return done


def _list_page(
    connection: http.client.HTTPConnection, server: Server, bucket: str, token: str | None
) -> tuple[int, str | None]:
    """One signed ListObjectsV2 request; (keys on the page, continuation token or None)."""
    query = {"list-type": "2", "prefix": "list/"}
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
    sizes: list[int],
    phase_timeout: float,
    outcome: Outcome,
) -> None:
    have = 0
    for size in sizes:
        written = populate(clients, bucket, have, size, phase_timeout)
        have += written
        if have != size:
            outcome.fail(f"list {size}", f"could only create {have} of {size} keys")
            return
        try:
            outcome.metrics[f"list_{size // 1000}k_pages"] = list_pages_per_s(server, bucket, size)
        except Exception as error:
            outcome.fail(f"list {size}", error)
            return
