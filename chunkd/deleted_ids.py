"""The memory of recently deleted chunk ids, so that a late commit of one answers 410.

A DELETE can arrive while a PUT of the same id is still being received (the gateway's collector
removes the chunks of a write that failed). Invariant: an id deleted less than
``DELETED_MEMORY_SECONDS`` ago is remembered, so that PUT cannot make it visible afterwards as an
orphan nothing tracks; older ids are forgotten, so the memory stays small.
"""

from __future__ import annotations

import threading
import time

# How long a deleted id is remembered: a PUT of it still being received when the DELETE came
# (its write failed and the collector already removed it) must not make it visible afterwards.
DELETED_MEMORY_SECONDS = 120.0


class DeletedIds:
    """Chunk ids deleted in the last ``memory_seconds``; thread-safe."""

    def __init__(self, memory_seconds: float = DELETED_MEMORY_SECONDS) -> None:
        self.memory_seconds = memory_seconds
        self._lock = threading.Lock()
        # chunk id -> time.monotonic() of its DELETE, oldest first
        self._deleted_at: dict[str, float] = {}

    def remember(self, chunk_id: str) -> None:
        """Record that ``chunk_id`` was deleted now, and forget ids deleted too long ago."""
        now = time.monotonic()
        with self._lock:
            self._deleted_at.pop(chunk_id, None)  # a repeated DELETE moves the id to the end
            self._deleted_at[chunk_id] = now
            # Oldest first (insertion order): forget ids while they are old enough.
            while self._deleted_at:
                oldest_id, deleted_at = next(iter(self._deleted_at.items()))
                if now - deleted_at < self.memory_seconds:
                    break
                del self._deleted_at[oldest_id]

    def __contains__(self, chunk_id: str) -> bool:
        """Whether ``chunk_id`` was deleted less than ``memory_seconds`` ago."""
        with self._lock:
            deleted_at = self._deleted_at.get(chunk_id)
        return deleted_at is not None and time.monotonic() - deleted_at < self.memory_seconds
