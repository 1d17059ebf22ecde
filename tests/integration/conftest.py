"""Fixtures for the integration tier: a real `s3compat cluster` (gateway + 6 chunk daemons) on
loopback, boto3 clients pointed at it, and helpers to look behind the S3 API (admin locate,
chunk daemon stats, raw signed requests for what boto3 cannot send).

Test modules import the plain helpers with ``from conftest import ...``.

The catalog backend is SQLite unless S3COMPAT_TEST_CATALOG=postgresql: then every cluster gets
a fresh database on a throwaway PostgreSQL server, started on first use (initdb + pg_ctl in a
temporary folder, as the `postgres` user when we are root) and stopped at the end of the
session, or on the server that S3COMPAT_TEST_POSTGRES_URL names (a URL of its maintenance
database, e.g. postgresql://postgres@127.0.0.1:5432/postgres). `catalog_rows` reads either.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import datetime
import glob
import http.client
import json
import os
import pwd
import random
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3compat.store.stripes import BLOCK_BYTES, Geometry

REGION = "us-east-1"
CHUNK_SERVERS = 8
# The parity of the default cluster of 8 servers.
DEFAULT_PARITY = 2
PORT_BLOCK = CHUNK_SERVERS + 1
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
HTTP_TIMEOUT_SECONDS = 60.0
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
READY_KEYS = ("S3COMPAT_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
CATALOG_BACKEND_ENV = "S3COMPAT_TEST_CATALOG"
POSTGRES_URL_ENV = "S3COMPAT_TEST_POSTGRES_URL"
POSTGRES_OS_USER = "postgres"
POSTGRES_START_TIMEOUT_SECONDS = 60

T = TypeVar("T")


@dataclass(frozen=True)
class Cluster:
    """A running `s3compat cluster` and what a test needs to reach it."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    cluster_secret: str
    chunk_urls: tuple[str, ...]
    pid: int
    ca_cert: Path | None = None
    # None: the SQLite catalog.db in data_dir.
    catalog_url: str | None = None
    # Every gateway's endpoint (`endpoint` is the first).
    endpoints: tuple[str, ...] = ()

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.endpoint)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    @property
    def chunk_dirs(self) -> list[Path]:
        return [self.data_dir / f"chunkd-{number}" for number in range(1, len(self.chunk_urls) + 1)]


# ---------------------------------------------------------------------------------------------
# Starting and stopping clusters


def _ports_free(first: int, count: int) -> bool:
    sockets: list[socket.socket] = []
    try:
        for port in range(first, first + count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(probe)
            probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for probe in sockets:
            probe.close()


def free_port_block(count: int = PORT_BLOCK) -> int:
    """First port of `count` consecutive loopback ports that nobody listens on right now."""
    chooser = random.Random()
    for _ in range(200):
        first = chooser.randrange(20_000, 32_000)  # below the ephemeral range
        if _ports_free(first, count):
            return first
    raise RuntimeError(f"no block of {count} free loopback ports found")


# ---------------------------------------------------------------------------------------------
# The catalog backend: SQLite, or a database on a throwaway PostgreSQL server


def catalog_backend() -> str:
    """ "sqlite" or "postgresql", from S3COMPAT_TEST_CATALOG."""
    backend = os.environ.get(CATALOG_BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if backend in ("postgres", "pg"):
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{CATALOG_BACKEND_ENV}={backend!r}: use sqlite or postgresql")
    return backend


def postgres_binaries() -> Path | None:
    """The folder of initdb/pg_ctl (PATH first, then Debian's versioned folders)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_order)
    return Path(candidates[-1]).parent if candidates else None


def _version_order(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split("/") if part.isdigit())


@dataclass
class PostgresServer:
    """A PostgreSQL server for the tests: its maintenance URL, and how to stop it."""

    admin_url: str
    data_dir: Path | None = None
    bin_dir: Path | None = None
    run_as: list[str] | None = None

    def url_for(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir / "data")]
        subprocess.run(
            [*(self.run_as or []), *pg_ctl, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """A throwaway server: initdb in a temporary folder, listening on a free loopback port
    (fsync off unless `durable`: the data lives as long as the test session; benchmarks/
    gateways.py measures with it on). As root, the server runs as the `postgres` OS user
    (PostgreSQL refuses to run as root)."""
    bin_dir = postgres_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb): apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="s3compat-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam(POSTGRES_OS_USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", POSTGRES_OS_USER, "--"]
    data = root / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run(
        [*run_as, *initdb, "-E", "UTF8", "--locale=C", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=POSTGRES_START_TIMEOUT_SECONDS,
    )
    port = free_port_block(1)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=400"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
    wait = ["-w", "-t", str(POSTGRES_START_TIMEOUT_SECONDS)]
    started = subprocess.run(
        [*run_as, *pg_ctl, "-o", options, *wait, "start"],
        capture_output=True,
        text=True,
        timeout=POSTGRES_START_TIMEOUT_SECONDS + 10,
    )
    server = PostgresServer(
        f"postgresql://postgres@127.0.0.1:{port}/postgres", root, bin_dir, run_as
    )
    if started.returncode != 0:
        log = (
            (root / "server.log").read_text(errors="replace")[-3000:]
            if (root / "server.log").exists()
            else ""
        )
        server.stop()
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
    return server


_postgres: PostgresServer | None = None
_postgres_lock = threading.Lock()


def postgres_server() -> PostgresServer:
    """The session's PostgreSQL server (S3COMPAT_TEST_POSTGRES_URL, or one started now and
    stopped when the test process exits)."""
    global _postgres
    with _postgres_lock:
        if _postgres is None:
            given = os.environ.get(POSTGRES_URL_ENV)
            _postgres = PostgresServer(given) if given else start_postgres()
            atexit.register(_postgres.stop)
        return _postgres


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def new_postgres_catalog() -> str:
    """A fresh, empty database on the session's server; its URL."""
    return create_database(postgres_server())


def create_database(server: PostgresServer, prefix: str = "s3c_") -> str:
    """A fresh, empty database on `server`; its URL."""
    import asyncpg

    name = f"{prefix}{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        conn = await asyncpg.connect(server.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_async(create())
    return server.url_for(name)


def catalog_url_for(cluster: Cluster) -> str:
    return cluster.catalog_url or str(cluster.data_dir / "catalog.db")


def catalog_rows(cluster: Cluster, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the cluster's catalog directly (`?` placeholders; cheaper than an admin process
    per poll), whichever backend holds it."""
    if cluster.catalog_url is None:
        with sqlite3.connect(f"file:{cluster.data_dir / 'catalog.db'}?mode=ro", uri=True) as db:
            return [tuple(row) for row in db.execute(sql, params).fetchall()]
    import asyncpg

    from s3compat.catalog.pg import dollar_params

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(cluster.catalog_url)
        try:
            return [tuple(row) for row in await conn.fetch(dollar_params(sql), *params)]
        finally:
            await conn.close()

    result: list[tuple[Any, ...]] = run_async(fetch())
    return result


def catalog_dicts(cluster: Cluster, sql: str, *params: object) -> list[dict[str, Any]]:
    """`catalog_rows` as dicts by column name."""
    if cluster.catalog_url is None:
        with sqlite3.connect(f"file:{cluster.data_dir / 'catalog.db'}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params).fetchall()]
    import asyncpg

    from s3compat.catalog.pg import dollar_params

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(cluster.catalog_url)
        try:
            return [dict(row) for row in await conn.fetch(dollar_params(sql), *params)]
        finally:
            await conn.close()

    result: list[dict[str, Any]] = run_async(fetch())
    return result


def _read_cluster_secret(cluster: Cluster) -> str:
    rows = catalog_rows(cluster, "SELECT value FROM meta WHERE name = 'cluster_secret'")
    assert rows, "no cluster_secret in the catalog's meta table"
    return str(rows[0][0])


def _child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the cluster (it stops its children); SIGKILL it and them if it hangs."""
    children = _child_pids(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def start_cluster(
    data_dir: Path,
    log_dir: Path,
    extra_args: Iterable[str] = (),
    *,
    gateways: int = 1,
    backend: str | None = None,
) -> tuple[Cluster, subprocess.Popen[bytes]]:
    """Run `s3compat cluster` on a free port block and wait for its ready lines on stdout.

    The catalog is `backend` ("sqlite" or "postgresql"; default: S3COMPAT_TEST_CATALOG); a
    PostgreSQL catalog is a new database. `gateways` gateways take the first ports of the block.
    """
    backend = backend or catalog_backend()
    catalog_url = new_postgres_catalog() if backend == "postgresql" else None
    extra_args = list(extra_args)
    servers = _servers_in(extra_args)
    port = free_port_block(servers + gateways)
    command = [
        sys.executable, "-m", "s3compat", "cluster",
        "--data", str(data_dir),
        "--port", str(port),
        "--gc-grace", "1",
        "--sweep-interval", "0.5",
        *extra_args,
    ]  # fmt: skip
    if gateways != 1:
        command += ["--gateways", str(gateways)]
    if catalog_url is not None:
        command += ["--catalog", catalog_url]
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / "cluster.stderr.log"
    # stderr goes to a file: the gateway logs every request, and an unread pipe would fill up
    # and block it.
    with open(stderr_path, "wb") as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, bufsize=0)
    assert process.stdout is not None
    found: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    try:
        while not all(name in found for name in READY_KEYS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no ready lines within {READY_TIMEOUT_SECONDS:.0f} s")
            readable, _, _ = select.select([process.stdout], [], [], min(remaining, 1.0))
            if not readable:
                if process.poll() is not None:
                    raise RuntimeError(f"cluster exited with status {process.returncode}")
                continue
            line = process.stdout.readline().decode("utf-8", "replace")
            if not line:
                process.wait(timeout=5)
                raise RuntimeError(f"cluster closed stdout (status {process.returncode})")
            name, sep, value = line.strip().partition("=")
            if sep and name in (*READY_KEYS, "S3COMPAT_ENDPOINTS"):
                found[name] = value
    except Exception as error:
        _stop(process)
        stderr_tail = stderr_path.read_text(errors="replace")[-6000:]
        raise RuntimeError(
            f"`{' '.join(command)}` did not become ready: {error}\n--- stderr ---\n{stderr_tail}"
        ) from error
    endpoint = found["S3COMPAT_ENDPOINT"]
    cluster = Cluster(
        endpoint=endpoint,
        access_key=found["AWS_ACCESS_KEY_ID"],
        secret_key=found["AWS_SECRET_ACCESS_KEY"],
        data_dir=data_dir,
        cluster_secret="",
        chunk_urls=tuple(
            f"http://127.0.0.1:{port + gateways - 1 + n}" for n in range(1, servers + 1)
        ),
        pid=process.pid,
        catalog_url=catalog_url,
        endpoints=tuple(found.get("S3COMPAT_ENDPOINTS", endpoint).split(",")),
    )
    return Cluster(**{**cluster.__dict__, "cluster_secret": _read_cluster_secret(cluster)}), process


def make_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (IP SAN): (cert path, key path)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
    except ImportError:
        options = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
        san = "subjectAltName=IP:127.0.0.1"
        command = ["openssl", *options.split(), "-addext", san]
        command += ["-keyout", str(key), "-out", str(cert)]
        subprocess.run(command, check=True, capture_output=True)
    return cert, key


def _certificate_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextlib.contextmanager
def private_directory(prefix: str) -> Iterator[Path]:
    """A temporary folder outside pytest's numbered ones, which a concurrent pytest run may
    prune while our cluster still uses it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _servers_in(arguments: Iterable[str]) -> int:
    """The chunk daemons a `cluster` command line asks for (`--servers N`, else the default)."""
    words = list(arguments)
    for index, word in enumerate(words):
        if word == "--servers":
            return int(words[index + 1])
        if word.startswith("--servers="):
            return int(word.split("=", 1)[1])
    return CHUNK_SERVERS


@contextlib.contextmanager
def running_cluster(prefix: str, options: Iterable[str] = ()) -> Iterator[Cluster]:
    """A cluster (default settings, or `s3compat cluster` `options`) in a private folder
    named `prefix...`, stopped and removed on exit."""
    with private_directory(prefix) as root:
        running, process = start_cluster(root / "data", root, options)
        try:
            yield running
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with running_cluster("s3compat-it-") as running:
        yield running


@pytest.fixture(scope="session")
def tls_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-it-tls-") as root:
        cert, key = make_self_signed_certificate(root)
        running, process = start_cluster(
            root / "data", root, ["--tls-cert", str(cert), "--tls-key", str(key)]
        )
        try:
            assert running.endpoint.startswith("https://"), running.endpoint
            yield Cluster(**{**running.__dict__, "ca_cert": cert})
        finally:
            _stop(process)


# ---------------------------------------------------------------------------------------------
# boto3 clients and buckets


def client_for(
    cluster: Cluster,
    access_key: str | None = None,
    secret_key: str | None = None,
    *,
    signature_version: str | None = None,
) -> BaseClient:
    """A boto3 S3 client with the default configuration (https: verified with our cert), or
    with the given signature version ("s3v4", or "s3" for SigV2)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key or cluster.access_key,
        aws_secret_access_key=secret_key or cluster.secret_key,
        region_name=REGION,
    )
    config = Config(signature_version=signature_version) if signature_version else None
    if cluster.ca_cert is not None:
        return session.client(
            "s3", endpoint_url=cluster.endpoint, verify=str(cluster.ca_cert), config=config
        )
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


@pytest.fixture(scope="session")
def s3(cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(cluster)
    yield client
    client.close()


@pytest.fixture(scope="session")
def s3_tls(tls_cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(tls_cluster)
    yield client
    client.close()


def unique_bucket_name(prefix: str = "it") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def empty_and_delete_bucket(client: BaseClient, name: str) -> None:
    """Best-effort cleanup: delete every key, then the bucket."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)
    except ClientError:
        pass


def make_bucket(client: BaseClient) -> Iterator[str]:
    name = unique_bucket_name()
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_and_delete_bucket(client, name)


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    """A fresh, empty bucket of the root user; emptied and deleted after the test."""
    yield from make_bucket(s3)


@pytest.fixture
def tls_bucket(s3_tls: BaseClient) -> Iterator[str]:
    yield from make_bucket(s3_tls)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


# ---------------------------------------------------------------------------------------------
# Looking behind the API


def admin(cluster: Cluster, *arguments: str) -> Any:
    """Run `s3compat admin --data DIR ...` and parse its JSON output."""
    completed = subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, (
        f"admin {arguments} failed ({completed.returncode}): {completed.stderr[-3000:]}"
    )
    return json.loads(completed.stdout)


def locate(cluster: Cluster, bucket: str, key: str) -> dict[str, Any]:
    """Where an object's bytes are (the JSON of `s3compat admin locate`)."""
    found = admin(cluster, "locate", bucket, key)
    assert isinstance(found, dict)
    return found


def chunk_stats(cluster: Cluster, url: str) -> dict[str, int]:
    request = urllib.request.Request(
        f"{url}/stats", headers={"Authorization": f"Bearer {cluster.cluster_secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        stats = json.loads(answer.read())
    assert isinstance(stats, dict)
    return stats


def stored_bytes(size: int, parity: int = DEFAULT_PARITY) -> int:
    """Bytes the chunk daemons hold for one segment (a body or a part) of `size` bytes: its 6
    data pieces and `parity` parity pieces."""
    geometry = Geometry(size, BLOCK_BYTES, parity)
    return sum(geometry.piece_length(role) for role in range(geometry.roles))


def used_bytes(cluster: Cluster) -> int:
    """Bytes the chunk daemons report as used, summed over all of them."""
    return sum(int(chunk_stats(cluster, url)["used_bytes"]) for url in cluster.chunk_urls)


def read_chunk(cluster: Cluster, url: str, chunk_id: str) -> tuple[int, bytes]:
    """GET a chunk straight from a chunk daemon: (status, body)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "GET",
            f"/chunks/{chunk_id}",
            headers={"Authorization": f"Bearer {cluster.cluster_secret}"},
        )
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; return that, or fail at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Raw requests, for what boto3 will not send


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def xml(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.body)

    def error_code(self) -> str | None:
        """The <Code> of an S3 error body, if the body is one."""
        if not self.body:
            return None
        root = self.xml()
        return root.findtext("Code")


def connection_for(
    cluster: Cluster, timeout: float = HTTP_TIMEOUT_SECONDS
) -> http.client.HTTPConnection:
    host, port = cluster.host_port
    if cluster.endpoint.startswith("https://"):
        assert cluster.ca_cert is not None
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


class FixedTimeSigV4(S3SigV4Auth):
    """SigV4 as botocore does it, but at a chosen time (to test clock skew)."""

    def __init__(self, credentials: Credentials, at: datetime.datetime) -> None:
        super().__init__(credentials, "s3", REGION)
        self.at = at

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self.at.strftime("%Y%m%dT%H%M%SZ")
        super()._modify_request_before_signing(request)


class FixedTimeSigV2(HmacV1Auth):
    """SigV2 (HMAC-SHA1 header auth) with a chosen Date."""

    def __init__(self, credentials: Credentials, at: datetime.datetime) -> None:
        super().__init__(credentials)
        self.at = at

    def _get_date(self) -> str:
        from email.utils import format_datetime

        return format_datetime(self.at, usegmt=True)


def sign(
    cluster: Cluster,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    signer: str | SigV4Auth | HmacV1Auth = "sigv4",
    access_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """Headers for `method target` signed like botocore would sign them.

    `signer` is "sigv4" (the payload's SHA-256 unless X-Amz-Content-SHA256 is given),
    "sigv2", or a signer object. `target` is the encoded path with its query string.
    """
    credentials = Credentials(access_key or cluster.access_key, secret_key or cluster.secret_key)
    request = AWSRequest(
        method=method, url=cluster.endpoint + target, data=body, headers=dict(headers)
    )
    if signer == "sigv4":
        if any(name.lower() == "x-amz-content-sha256" for name in headers):
            # Keep the caller's payload hash: the plain SigV4 signer signs whatever it says.
            SigV4Auth(credentials, "s3", REGION).add_auth(request)
        else:
            S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    elif signer == "sigv2":
        HmacV1Auth(credentials).add_auth(request)
    elif isinstance(signer, str):
        raise ValueError(signer)
    else:
        signer.add_auth(request)
    return {name: value for name, value in request.headers.items()}


def raw_request(
    cluster: Cluster,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    signer: str | SigV4Auth | HmacV1Auth | None = "sigv4",
    access_key: str | None = None,
    secret_key: str | None = None,
) -> RawResponse:
    """Send one request to the gateway (signed unless `signer` is None) and read the answer."""
    all_headers = dict(headers or {})
    if signer is not None:
        all_headers = sign(
            cluster, method, target, all_headers, body, signer, access_key, secret_key
        )
    connection = connection_for(cluster)
    try:
        connection.request(
            method,
            target,
            body=body if method not in ("GET", "HEAD") or body else None,
            headers=all_headers,
        )
        answer = connection.getresponse()
        return RawResponse(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


def gateway_pid(cluster: Cluster) -> int:
    """The pid of the cluster's gateway process (a child of the `s3compat cluster` process)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent) == cluster.pid and b"gateway" in command:
            return int(entry.name)
    raise LookupError("no gateway process")


def peak_rss_bytes(pid: int) -> int:
    """A process's peak resident set (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise LookupError("no VmHWM line")
