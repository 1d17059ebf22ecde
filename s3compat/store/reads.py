"""The reads this process is streaming, and the holds that keep their chunks from collection.

The invariant: a chunk is not deleted while a read that looked its version up before it was
queued still streams it, whichever process does the read and whichever runs the collector.

- A replaced chunk is queued with `not_before` = queueing time + grace, and a read looked its
  version up before the queueing; so every reader has at least `grace` seconds.
- A read is entered here when it starts streaming. The collector of this process skips its
  chunks at once (`__contains__`).
- The collector may run in another process (another worker or gateway), so reads that last
  are also published as read holds in the catalog, which every collector honours for as long
  as the holding process is alive. `publish_holds` (duties.py) runs every `grace / 4` seconds
  and publishes the reads older than `grace / 4`: every read is held by the catalog at most
  `grace / 2` after it started, half a grace before any of its chunks may be collected. Short
  reads, nearly all of them, never cost a catalog write.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# With no grace (or almost none) there is no time to publish in: reads are not protected.
MIN_HOLD_INTERVAL_SECONDS = 0.05


def hold_interval(grace_seconds: float) -> float:
    """How often holds are published, and the age from which a read is held in the catalog."""
    return max(grace_seconds / 4, MIN_HOLD_INTERVAL_SECONDS)


@dataclass(eq=False)
class OpenReads:
    """The chunk ids this process's reads are streaming, with when each read began."""

    _reads: dict[int, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    _counts: Counter[str] = field(default_factory=Counter)
    _tokens: Iterator[int] = field(default_factory=itertools.count)

    @contextmanager
    def streaming(self, chunk_ids: Iterable[str]) -> Iterator[None]:
        """Hold `chunk_ids` for the body (one read of them)."""
        ids = tuple(chunk_ids)
        token = next(self._tokens)
        self._reads[token] = (time.monotonic(), ids)
        self._counts.update(ids)
        try:
            yield
        finally:
            del self._reads[token]
            self._counts.subtract(ids)
            for chunk_id in ids:
                if self._counts[chunk_id] <= 0:
                    del self._counts[chunk_id]

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._counts

    def older_than(self, seconds: float) -> set[str]:
        """The chunk ids of the reads that began more than `seconds` ago."""
        cutoff = time.monotonic() - seconds
        return {i for began, ids in self._reads.values() if began < cutoff for i in ids}
