"""Run real chunk daemons for tests: ``python -m chunkd`` on a free loopback port."""

from __future__ import annotations

import http.client
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from chunkd import layout
from chunkd.packs import PUT, scan_pack

SECRET = "test-cluster-secret"
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
READY_PREFIX = "chunkd listening on "


def new_chunk_id() -> str:
    """A fresh, valid chunk id."""
    return uuid.uuid4().hex


class ChunkDaemon:
    """One ``chunkd`` process over ``data_dir``; ``start`` again after ``kill`` to restart."""

    def __init__(
        self, data_dir: Path, capacity_bytes: int | None = None, secret: str = SECRET
    ) -> None:
        self.data_dir = data_dir
        self.capacity_bytes = capacity_bytes
        self.secret = secret
        self.log_path = data_dir.with_name(data_dir.name + ".log")
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    @property
    def port(self) -> int:
        port = urlsplit(self.base_url).port
        assert port is not None
        return port

    def start(self) -> str:
        """Start the daemon and wait for its readiness line; returns its base URL."""
        command = [sys.executable, "-m", "chunkd", "--data", str(self.data_dir), "--port", "0"]
        if self.capacity_bytes is not None:
            command += ["--capacity", str(self.capacity_bytes)]
        environment = dict(os.environ, CHUNKD_SECRET=self.secret)
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=environment
            )
        self.base_url = self._read_ready_line()
        return self.base_url

    def _read_ready_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = self.process.stdout.readline() if readable else ""
        if not line.startswith(READY_PREFIX):
            self.kill()
            raise RuntimeError(f"chunkd did not start: {line!r}; see {self.log_path}")
        return line[len(READY_PREFIX) :].strip()

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self._reap()

    def kill(self) -> None:
        """SIGKILL: no chance to clean anything up."""
        assert self.process is not None
        self.process.kill()
        self._reap()

    def _reap(self) -> int:
        assert self.process is not None
        returncode = self.process.wait(STOP_TIMEOUT_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return returncode

    def close(self) -> None:
        """Stop the daemon if it still runs (fixture teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    # -- looking at the disk ------------------------------------------------------------------

    def chunk_path(self, chunk_id: str) -> Path:
        return layout.chunk_path(self.data_dir / "chunks", chunk_id)

    def flip_byte(self, chunk_id: str, offset: int) -> None:
        """Corrupt one data byte on disk, as bit rot would (in its file or its pack)."""
        flip_in_place(*data_place(self.data_dir, chunk_id, offset), 0x01)

    def tmp_files(self) -> list[str]:
        return sorted(os.listdir(self.data_dir / "tmp"))

    # -- plain HTTP ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        secret: str | None = SECRET,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a fresh connection; returns status, headers and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            all_headers = dict(headers or {})
            if secret is not None:
                all_headers["Authorization"] = f"Bearer {secret}"
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def raw_connection_with_partial_put(
        self, chunk_id: str, declared_length: int, sent_length: int
    ) -> http.client.HTTPConnection:
        """Open a connection and send a PUT that stops after ``sent_length`` body bytes."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.putrequest("PUT", f"/chunks/{chunk_id}")
        connection.putheader("Authorization", f"Bearer {SECRET}")
        connection.putheader("Content-Length", str(declared_length))
        connection.endheaders()
        connection.send(b"\xab" * sent_length)
        return connection


def wait_until(condition: Callable[[], bool], timeout_seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or the timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def data_place(data_dir: Path, chunk_id: str, offset: int = 0) -> tuple[Path, int]:
    """Where byte `offset` of a chunk's data is on a daemon's disk: (its file, offset) or, for
    a small chunk, (its pack, the offset in the pack) (chunkd.packs)."""
    path = layout.chunk_path(data_dir / "chunks", chunk_id)
    if path.is_file():
        return path, offset
    found: tuple[Path, int] | None = None
    packs = sorted((data_dir / "packs").glob("*.pack"))
    for pack in packs:
        for kind, record_id, where in scan_pack(pack, int(pack.stem)):
            if record_id == chunk_id:
                assert offset < where.length, f"byte {offset} is past chunk {chunk_id}"
                found = (pack, where.offset + offset) if kind == PUT else None
    assert found is not None, f"chunk {chunk_id} is neither a file nor packed in {data_dir}"
    return found


def flip_in_place(path: Path, offset: int, mask: int = 0xFF) -> None:
    """XOR one byte of a file with `mask`, in place (a pack's other records and the daemon's
    appends to it are left alone; flipping again restores it)."""
    mode = path.stat().st_mode
    path.chmod(mode | 0o200)
    try:
        with open(path, "r+b") as stored:
            stored.seek(offset)
            original = stored.read(1)
            stored.seek(offset)
            stored.write(bytes([original[0] ^ mask]))
    finally:
        path.chmod(mode)
