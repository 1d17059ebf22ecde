"""Placement: which chunk servers take the pieces of a write. Pure; no I/O (the clock only).

Rule: fill levels (used / room, counting bytes of writes in flight) stay even, and no server
takes much more than its share of the writes.

1. A server whose stored fill is more than `BEHIND` below the mean fill (a newly added one)
   is catching up: it is eligible for this write only with probability `STORM_FACTOR` x its
   fair share of the places (`count` x its room / all the room, capped at 1), so it is in at
   most 1.3 times its share of the writes until it has caught up, not in every write (a
   "write storm"). Every other server is eligible.
2. The eligible servers, emptiest first (counting bytes in flight), take the places; fills
   within `TIE_BAND` of the mean fill of each other count as equal and are ordered at random,
   so concurrent writes (and writes between two polls of the servers' usage) spread out.
3. If fewer servers are eligible than there are places, the emptiest of the others fill up.
4. The chosen servers take the pieces in random order, so data and parity pieces (only data
   pieces are read) land on every server alike.

Measured by tests/unit/test_placement_choice.py (2,000 objects, log-uniform 1 KiB..64 MiB):
max/min fill 1.004-1.014 on 9 or 12 servers of equal or unequal room; the rule it replaces
(each place to the emptier of two random servers) reached 1.12-1.18 on 9 servers of which 3
are 1.8 times larger, because the emptiest server lost every draw it was not in.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from s3compat.records import ChunkRecord

# How many times its fair share of the writes a server may be in, at most.
STORM_FACTOR = 1.3
# A server this far (a fraction of the mean fill) below the mean is catching up.
BEHIND = 0.05
# Fills within this fraction of the mean fill are equal: their order is random.
TIE_BAND = 0.01
# A write is counted as unreported for at most this long (a server that stopped reporting
# is not a placement candidate long after).
RECENT_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class Candidate:
    """What placement needs to know of one server."""

    server_id: str
    capacity_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def room_bytes(self) -> int:
        return max(self.capacity_bytes, self.used_bytes + self.free_bytes, 1)


def fill_ratio(candidate: Candidate, reserved: int = 0) -> float:
    """Used share of the server's room, counting `reserved` bytes about to be written."""
    return (candidate.used_bytes + reserved) / candidate.room_bytes


def choose_servers(
    candidates: Sequence[Candidate],
    count: int,
    *,
    reserved_bytes: Mapping[str, int] | None = None,
    rng: random.Random | None = None,
) -> list[Candidate]:
    """`count` distinct servers for one write, in piece order. Raises ValueError if fewer than
    `count` candidates exist."""
    if len(candidates) < count:
        raise ValueError(f"need {count} servers, have {len(candidates)}")
    reserved = reserved_bytes or {}
    chooser = rng or random.Random()
    fills = {c.server_id: fill_ratio(c, reserved.get(c.server_id, 0)) for c in candidates}
    total_room = sum(c.room_bytes for c in candidates)
    mean_fill = sum(fills[c.server_id] * c.room_bytes for c in candidates) / total_room
    stored_mean = sum(c.used_bytes for c in candidates) / total_room
    eligible: list[Candidate] = []
    others: list[Candidate] = []
    for candidate in candidates:
        behind = fill_ratio(candidate) < stored_mean * (1 - BEHIND)
        share = count * candidate.room_bytes / total_room
        if behind and chooser.random() >= STORM_FACTOR * share:
            others.append(candidate)
        else:
            eligible.append(candidate)

    def emptiest_first(group: list[Candidate]) -> list[Candidate]:
        band = TIE_BAND * mean_fill
        keyed = [(fills[c.server_id] + chooser.uniform(0, band), c) for c in group]
        keyed.sort(key=lambda pair: pair[0])
        return [c for _, c in keyed]

    chosen = (emptiest_first(eligible) + emptiest_first(others))[:count]
    chooser.shuffle(chosen)
    return chosen


class RecentWrites:
    """Bytes this process wrote to each server that the server's last report (its used
    bytes, recorded at its `last_seen`) does not count yet, so that writes between two
    reports do not all go to the servers that looked emptiest at the first."""

    def __init__(self) -> None:
        # per server: (when, bytes) in the order written, and their sum; every placement
        # asks, so the reported ones are dropped from the front, never searched for
        self._writes: dict[str, deque[tuple[float, int]]] = {}
        self._totals: Counter[str] = Counter()

    def add(self, amounts: Mapping[str, int], when: float) -> None:
        for server_id, length in amounts.items():
            self._writes.setdefault(server_id, deque()).append((when, length))
            self._totals[server_id] += length

    def unreported(self, server_id: str, last_seen: float | None) -> int:
        """Bytes written to the server after `last_seen` (forgetting the older ones)."""
        writes = self._writes.get(server_id)
        if not writes:
            return 0
        since = max(last_seen or 0.0, time.time() - RECENT_MAX_SECONDS)
        while writes and writes[0][0] <= since:
            self._totals[server_id] -= writes.popleft()[1]
        return self._totals[server_id]


class Reservation:
    """Counts bytes being written to each server, so concurrent writes spread out; once the
    write has succeeded, its bytes count in `recent` until the servers report them."""

    def __init__(
        self,
        reserved: Counter[str],
        chunks: Sequence[ChunkRecord],
        recent: RecentWrites | None = None,
    ) -> None:
        self._reserved = reserved
        self._amounts = Counter({c.server_id: c.length for c in chunks})
        self._recent = recent

    def __enter__(self) -> None:
        self._reserved.update(self._amounts)

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._reserved.subtract(self._amounts)
        if kind is None and self._recent is not None:
            self._recent.add(self._amounts, time.time())
