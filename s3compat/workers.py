"""`s3compat gateway --workers N`: N gateway processes accepting on one listening socket.

The parent binds the port once and forks the workers; each runs a whole gateway (its own
catalog connections, process lease, chunk client and event loop) and accepts connections from
the shared socket, so the kernel spreads connections over them. On one catalog they are what
several gateways are: a write acknowledged by one is read by every other (every read consults
the catalog), and the cluster's duties (collector, polling, repair) run in whichever process
holds their lease. On SQLite the workers' transactions take turns for the database's one write
lock (`BEGIN IMMEDIATE`, waiting up to the busy timeout); reads never wait.

The parent only supervises: a worker that dies (kill -9, crash) is forked again after a short
pause; SIGTERM or SIGINT to the parent stops every worker (SIGTERM, then SIGKILL after
`STOP_TIMEOUT_SECONDS`). A worker dies with its parent (PR_SET_PDEATHSIG), so a killed parent
leaves no worker holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from s3compat.config import GatewayConfig

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 10.0
WAIT_INTERVAL_SECONDS = 0.1
LISTEN_BACKLOG = 1024
_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def listening_socket(host: str, port: int) -> socket.socket:
    """The one socket every worker accepts on, bound before any worker starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


@dataclass
class Supervisor:
    """The parent: forks `workers` gateway processes on `sock` and keeps them running."""

    config: GatewayConfig
    sock: socket.socket
    workers: int
    _children: dict[int, int] = field(default_factory=dict)  # pid -> worker number
    _stopping: bool = False

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        for number in range(self.workers):
            self._fork(number)
        scheme = "https" if self.config.tls_cert else "http"
        print(
            f"s3compat gateway listening on {scheme}://{self.config.host}:{self.config.port} "
            f"({self.workers} workers)",
            flush=True,
        )
        while not self._stopping:
            time.sleep(WAIT_INTERVAL_SECONDS)
            self._restart_exited()
        self._stop_all()
        return 0

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _fork(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(_worker_main(self.config, self.sock, number))
        self._children[pid] = number

    def _restart_exited(self) -> None:
        for pid, number in list(self._children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            del self._children[pid]
            if self._stopping:
                continue
            log.warning(
                "gateway worker %d (pid %d) exited with status %d; restarting it",
                number,
                pid,
                os.waitstatus_to_exitcode(status),
            )
            time.sleep(RESTART_PAUSE_SECONDS)
            self._fork(number)

    def _stop_all(self) -> None:
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while self._children and time.monotonic() < deadline:
            for pid in list(self._children):
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    del self._children[pid]
            time.sleep(WAIT_INTERVAL_SECONDS)
        for pid in self._children:
            log.warning("gateway worker pid %d did not stop in time: killed", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _worker_main(config: GatewayConfig, sock: socket.socket, number: int) -> int:
    """A forked worker: a whole gateway on the inherited socket. Its exit status."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    _die_with_parent()
    try:
        from s3compat.gateway import serve

        asyncio.run(serve(config, sock=sock, worker=number))
        return 0
    except BaseException:
        log.exception("gateway worker %d failed", number)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere: nothing)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def serve_workers(config: GatewayConfig, workers: int) -> int:
    """Run `workers` gateway processes on config.host:config.port until SIGTERM or SIGINT."""
    sock = listening_socket(config.host, config.port)
    try:
        return Supervisor(config, sock, workers).run()
    finally:
        sock.close()
