"""Running `s3compat cluster` (gateways and chunk daemons as child processes) for the tests:
start and wait for its ready lines, stop it, find its processes and their memory."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from support.catalog import catalog_backend, new_postgres_catalog, read_cluster_secret
from support.ports import free_port_block

# The chunk daemons of a default cluster.
CHUNK_SERVERS = 8
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
READY_KEYS = ("S3COMPAT_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


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


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def stop_cluster(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the cluster (it stops its children); SIGKILL it and them if it hangs."""
    children = child_pids(process.pid)
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


# Port blocks tried before a cluster that cannot bind is a failure.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """A port of the block was bound by another process before the cluster bound it."""


def start_cluster(
    data_dir: Path,
    log_dir: Path,
    extra_args: Iterable[str] = (),
    *,
    gateways: int = 1,
    backend: str | None = None,
    catalog_url: str | None = None,
) -> tuple[Cluster, subprocess.Popen[bytes]]:
    """Run `s3compat cluster` on a free port block and wait for its ready lines on stdout.

    The catalog is `backend` ("sqlite" or "postgresql"; default: S3COMPAT_TEST_CATALOG); a
    PostgreSQL catalog is a new database, unless `catalog_url` names one. `gateways` gateways
    take the first ports of the block.
    """
    backend = backend or catalog_backend()
    if catalog_url is None and backend == "postgresql":
        catalog_url = new_postgres_catalog()
    extra_args = list(extra_args)
    servers = _servers_in(extra_args)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port_block(servers + gateways)
        try:
            process, found = _launch(
                data_dir, log_dir, port, extra_args, gateways=gateways, catalog_url=catalog_url
            )
            break
        except PortTaken:
            # Another test's process took a port of the block between the probe and the bind
            # (the passes run side by side): the cluster moves its servers to a new block.
            if attempt == PORT_ATTEMPTS:
                raise
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
    try:
        secret = read_cluster_secret(cluster)
    except BaseException:  # a cluster that started but cannot be read is not left running
        stop_cluster(process)
        raise
    return Cluster(**{**cluster.__dict__, "cluster_secret": secret}), process


def _launch(
    data_dir: Path,
    log_dir: Path,
    port: int,
    extra_args: list[str],
    *,
    gateways: int,
    catalog_url: str | None,
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start `s3compat cluster` on the port block at `port`; the process and its ready lines.
    PortTaken if a port of the block was taken meanwhile."""
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
    # One process per gateway unless a test asks for workers (tests/integration/test_workers.py):
    # tests find, stop and kill "the gateway" by its pid.
    if "--workers" not in extra_args:
        command += ["--workers", "1"]
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
        stop_cluster(process)
        stderr_tail = stderr_path.read_text(errors="replace")[-6000:]
        if "address already in use" in stderr_tail:
            raise PortTaken(
                f"`{' '.join(command)}` found a port taken\n--- stderr ---\n{stderr_tail}"
            ) from error
        raise RuntimeError(
            f"`{' '.join(command)}` did not become ready: {error}\n--- stderr ---\n{stderr_tail}"
        ) from error
    return process, found


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
            stop_cluster(process)


def child_pid(cluster: Cluster, *needles: str) -> int:
    """The pid of the cluster's child process whose command line holds every `needle`."""
    for pid in child_pids(cluster.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if all(any(needle == word or needle in word for word in words) for needle in needles):
            return pid
    raise AssertionError(f"no child of {cluster.pid} with {needles}")


def chunkd_pid(cluster: Cluster, url: str) -> int:
    """The pid of the chunk daemon serving `url`."""
    port = url.rsplit(":", 1)[1]
    return child_pid(cluster, "chunkd", port)


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
