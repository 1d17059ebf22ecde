"""What this machine can do at best: disk write with fsync, page-cache read, loopback TCP, MD5."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

MIB = 1024 * 1024
BLOCK_BYTES = MIB
MD5_BYTES = 256 * MIB
SOCKET_TIMEOUT_SECONDS = 60.0


def mib_per_s(size: int, seconds: float) -> float:
    return size / MIB / max(seconds, 1e-9)


def make_payload(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` (not fsynced); return their MD5 hex digest."""
    digest = hashlib.md5()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(BLOCK_BYTES, remaining))
            digest.update(block)
            out.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def fsync_write(path: Path, size: int) -> float:
    """Sequential write of `size` bytes in 1 MiB blocks then one fsync, MiB/s."""
    block = os.urandom(BLOCK_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        remaining = size
        while remaining:
            remaining -= os.write(fd, block[: min(BLOCK_BYTES, remaining)])
        os.fsync(fd)
        return mib_per_s(size, time.perf_counter() - start)
    finally:
        os.close(fd)


def page_cache_read(path: Path) -> float:
    """Read a file that is in the page cache (just written) in 1 MiB blocks, MiB/s."""
    buffer = bytearray(BLOCK_BYTES)
    total = 0
    with path.open("rb", buffering=0) as source:
        start = time.perf_counter()
        while count := source.readinto(buffer):
            total += count
        return mib_per_s(total, time.perf_counter() - start)


def loopback_tcp(path: Path) -> float:
    """`sendfile` of a cached file to a Python receiver over 127.0.0.1, MiB/s."""
    size = path.stat().st_size
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(SOCKET_TIMEOUT_SECONDS)
    received = [0]

    def receive() -> None:
        connection, _ = listener.accept()
        connection.settimeout(SOCKET_TIMEOUT_SECONDS)
        buffer = bytearray(BLOCK_BYTES)
        with connection:
            while received[0] < size:
                count = connection.recv_into(buffer)
                if not count:
                    break
                received[0] += count

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        start = time.perf_counter()
        with socket.create_connection(listener.getsockname(), timeout=SOCKET_TIMEOUT_SECONDS) as s:
            with path.open("rb") as source:
                s.sendfile(source)
            receiver.join(SOCKET_TIMEOUT_SECONDS)
        elapsed = time.perf_counter() - start
    finally:
        listener.close()
        receiver.join(SOCKET_TIMEOUT_SECONDS)
    if received[0] != size:
        raise RuntimeError(f"loopback received {received[0]} of {size} bytes")
    return mib_per_s(size, elapsed)


def md5_one_core() -> float:
    """MD5 over 256 MiB in 1 MiB blocks on one thread, MiB/s."""
    block = os.urandom(BLOCK_BYTES)
    digest = hashlib.md5()
    start = time.perf_counter()
    for _ in range(MD5_BYTES // BLOCK_BYTES):
        digest.update(block)
    return mib_per_s(MD5_BYTES, time.perf_counter() - start)


def measure(work: Path, size: int) -> dict[str, float]:
    """All machine limits, measured on the disk that holds `work` (the data folders' disk)."""
    probe = work / "limits.bin"
    try:
        write = fsync_write(probe, size)
        read = page_cache_read(probe)
        tcp = loopback_tcp(probe)
    finally:
        probe.unlink(missing_ok=True)
    return {
        "fsync_write_mibps": write,
        "page_cache_read_mibps": read,
        "loopback_tcp_mibps": tcp,
        "md5_one_core_mibps": md5_one_core(),
    }
