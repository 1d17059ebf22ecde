"""A chunk store's capacity and usage: what it holds, what writes in progress have reserved,
and the free room it reports to the gateway. In memory, counted at start-up and kept by the
store as chunks come and go; one lock guards the counters."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chunkd.errors import StoreFull
from chunkd.footer import chunk_file_bytes


@dataclass(frozen=True)
class StoreStats:
    """Capacity and usage figures, all in bytes of chunk data (tables and footers excluded)."""

    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    free_bytes: int


class Usage:
    """The counters of one data directory; ``capacity_bytes`` None means the whole device."""

    def __init__(self, root: Path, capacity_bytes: int | None) -> None:
        self._root = root
        self._requested_capacity = capacity_bytes
        self.capacity_bytes = 0
        self._lock = threading.Lock()
        self._used_bytes = 0
        self._chunk_count = 0
        self._reserved_bytes = 0

    def start(self, used_bytes: int, chunk_count: int) -> None:
        """Set the capacity and what the store found at start-up."""
        if self._requested_capacity is None:
            fs = os.statvfs(self._root)
            self.capacity_bytes = fs.f_blocks * fs.f_frsize
        else:
            self.capacity_bytes = self._requested_capacity
        with self._lock:
            self._used_bytes, self._chunk_count = used_bytes, chunk_count

    @contextlib.contextmanager
    def reserve(self, length: int) -> Iterator[None]:
        """Hold ``length`` bytes of capacity while a chunk is received, or raise StoreFull."""
        with self._lock:
            wanted = self._used_bytes + self._reserved_bytes + length
            if wanted > self.capacity_bytes:
                raise StoreFull("chunk would exceed the configured capacity")
            if self._reserved_bytes + chunk_file_bytes(length) > self._disk_free_bytes():
                raise StoreFull("not enough free space on the device")
            self._reserved_bytes += length
        try:
            yield
        finally:
            with self._lock:
                self._reserved_bytes -= length

    def _disk_free_bytes(self) -> int:
        fs = os.statvfs(self._root)
        return fs.f_bavail * fs.f_frsize

    def stats(self) -> StoreStats:
        """Capacity, usage and the free space left for new chunks."""
        with self._lock:
            used_bytes, chunk_count = self._used_bytes, self._chunk_count
        free_bytes = min(self.capacity_bytes - used_bytes, self._disk_free_bytes())
        return StoreStats(self.capacity_bytes, used_bytes, chunk_count, max(free_bytes, 0))

    def added(self, length: int) -> None:
        with self._lock:
            self._used_bytes += length
            self._chunk_count += 1

    def removed(self, length: int) -> None:
        with self._lock:
            self._used_bytes -= length
            self._chunk_count -= 1
