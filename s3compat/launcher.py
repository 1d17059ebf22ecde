"""`s3compat cluster`: gateways and N chunk daemons as child processes, all state in one folder
(or the catalog in PostgreSQL, `--catalog postgresql://...`, which several gateways share)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from s3compat.admin import init_cluster
from s3compat.catalog.backend import redact

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
RESTART_PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class ClusterOptions:
    data_dir: Path
    host: str
    port: int
    servers: int
    chunk_port: int
    gateway_args: list[str]
    tls: bool
    capacity: int | None
    gateways: int = 1
    # Parity pieces of new writes (the catalog's setting); None leaves the setting as it is.
    parity: int | None = None
    # None: catalog.db in data_dir.
    catalog_url: str | None = None


def chunk_urls(options: ClusterOptions) -> list[str]:
    return [f"http://{options.host}:{options.chunk_port + n}" for n in range(options.servers)]


@dataclass
class Child:
    """A supervised child process: restarted if it dies while the cluster runs."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


def chunk_daemon_children(options: ClusterOptions, secret: str) -> list[Child]:
    children = []
    for number in range(1, options.servers + 1):
        data = options.data_dir / f"chunkd-{number}"
        command = [
            sys.executable, "-m", "chunkd",
            "--data", str(data),
            "--host", options.host,
            "--port", str(options.chunk_port + number - 1),
        ]  # fmt: skip
        if options.capacity is not None:
            command += ["--capacity", str(options.capacity)]
        # The secret goes by environment, not argv: argv is visible to every local user.
        env = {**os.environ, "CHUNKD_SECRET": secret}
        children.append(Child(f"chunkd-{number}", command, env))
    return children


def gateway_children(options: ClusterOptions, catalog_url: str) -> list[Child]:
    children = []
    for number in range(1, options.gateways + 1):
        command = [
            sys.executable, "-m", "s3compat", "gateway",
            "--host", options.host,
            "--port", str(options.port + number - 1),
            *options.gateway_args,
        ]  # fmt: skip
        if "--spool-dir" not in options.gateway_args:
            command += ["--spool-dir", str(options.data_dir / "spool")]
        if "--sse-key-file" not in options.gateway_args:
            command += ["--sse-key-file", str(options.data_dir / "sse-master.key")]
        if "--kms-keyring" not in options.gateway_args:
            command += ["--kms-keyring", str(options.data_dir / "kms-keyring")]
        # The catalog URL goes by environment too: it may carry a password.
        env = {**os.environ, "S3COMPAT_CATALOG": catalog_url}
        name = "gateway" if options.gateways == 1 else f"gateway-{number}"
        children.append(Child(name, command, env))
    return children


def endpoints(options: ClusterOptions) -> list[str]:
    scheme = "https" if options.tls else "http"
    return [f"{scheme}://{options.host}:{options.port + n}" for n in range(options.gateways)]


def wait_until_healthy(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    """Poll the gateway's health endpoint until it takes writes at full parity: the first
    objects a user writes must not start out under-protected because a daemon was slow to
    start. After READY_TIMEOUT_SECONDS, taking writes at all is enough (said on stderr)."""
    import ssl

    context = ssl._create_unverified_context()  # our own self-signed certificate, on loopback
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    writable = False
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a cluster process exited early: {process.args!r}")
        try:
            with urllib.request.urlopen(f"{url}/-/health", timeout=2, context=context) as answer:
                report = json.loads(answer.read() or b"{}")
                writable = answer.status == 200
                if writable and report.get("full_parity", True):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    if writable:
        print(
            f"{url}: writes work, but not every chunk daemon is up: new objects are "
            "under-protected until the repairer rebuilds their missing pieces",
            file=sys.stderr,
        )
        return
    raise SystemExit(f"the cluster did not become healthy within {READY_TIMEOUT_SECONDS:.0f} s")


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_cluster(options: ClusterOptions) -> int:
    """Start everything, print how to connect, and supervise until SIGINT/SIGTERM.

    A child that dies (crash, kill -9) is restarted after a short pause: the gateway restarts
    to a consistent catalog and a chunk daemon with only its complete chunks.
    """
    root, secret = asyncio.run(
        init_cluster(
            options.data_dir, chunk_urls(options), options.catalog_url, parity=options.parity
        )
    )
    catalog_url = options.catalog_url or str(options.data_dir / "catalog.db")
    children = [*chunk_daemon_children(options, secret), *gateway_children(options, catalog_url)]
    for child in children:
        child.start()
    processes = [child.process for child in children if child.process is not None]
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        urls = endpoints(options)
        for url in urls:
            wait_until_healthy(url, processes)
        endpoint = urls[0]
        gateways = "gateway" if options.gateways == 1 else f"{options.gateways} gateways"
        # Several gateways: every endpoint too (each serves every bucket).
        every = f"S3COMPAT_ENDPOINTS={','.join(urls)}\n" if len(urls) > 1 else ""
        print(
            f"s3compat cluster ready: {gateways} + {options.servers} chunk daemons, "
            f"data in {options.data_dir}, catalog {redact(catalog_url)}\n"
            f"{every}"
            f"S3COMPAT_ENDPOINT={endpoint}\n"
            f"AWS_ACCESS_KEY_ID={root.access_key}\n"
            f"AWS_SECRET_ACCESS_KEY={root.secret_key}\n"
            f"example: aws --endpoint-url {endpoint} s3 ls\n"
            "Ctrl-C stops the cluster.",
            flush=True,
        )
        while not stopping:
            time.sleep(RESTART_PAUSE_SECONDS)
            for child in children:
                if child.exited() and not stopping:
                    assert child.process is not None
                    child.restarts += 1
                    print(
                        f"{child.name} exited with status {child.process.returncode}; "
                        f"restarting it (restart {child.restarts})",
                        file=sys.stderr,
                        flush=True,
                    )
                    child.start()
        return 0
    finally:
        stop_all([child.process for child in children if child.process is not None])
