"""A throwaway PostgreSQL server for the tests (initdb + pg_ctl in a temporary folder, as the
`postgres` user when we are root), or the one S3COMPAT_TEST_POSTGRES_URL names (a URL of its
maintenance database, e.g. postgresql://postgres@127.0.0.1:5432/postgres), and fresh databases
on it. benchmarks/gateways.py uses it too.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from support.ports import free_port_block
from support.waiting import run_async

POSTGRES_URL_ENV = "S3COMPAT_TEST_POSTGRES_URL"
POSTGRES_OS_USER = "postgres"
POSTGRES_START_TIMEOUT_SECONDS = 60


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
    # The server's command-line options, for `resume`.
    options: str = ""

    def url_for(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    def halt(self) -> None:
        """Shut the server down (fast: clients are disconnected), keeping its data."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start a halted server again, on the same port."""
        assert self.data_dir is not None
        self._pg_ctl("-l", str(self.data_dir / "server.log"), "-o", self.options, "-w", "start")

    def freeze(self, stop: bool = True) -> None:
        """SIGSTOP the server and its backends (a hung server: connections stay open but
        nothing answers); `stop=False` sends SIGCONT."""
        assert self.data_dir is not None, "only a server started here can be frozen"
        postmaster = int((self.data_dir / "data" / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in [postmaster, *map(int, children)]:
            os.kill(pid, signal.SIGSTOP if stop else signal.SIGCONT)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        if self.data_dir is None or self.bin_dir is None:
            raise RuntimeError("only a server started here can be halted and resumed")
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir / "data")]
        # stdout to /dev/null: a started server would keep a pipe open.
        subprocess.run(
            [*(self.run_as or []), *pg_ctl, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=POSTGRES_START_TIMEOUT_SECONDS,
            check=check,
        )

    def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        self._pg_ctl("-m", "immediate", "-w", "stop", check=False)
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
        f"postgresql://postgres@127.0.0.1:{port}/postgres", root, bin_dir, run_as, options
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
