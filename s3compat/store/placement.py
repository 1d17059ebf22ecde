"""Placement: which chunk servers take the pieces of a write. Pure; no I/O.

Rule: fill levels (used / capacity, counting bytes of writes in flight) stay even. Each of the
6 places is given to the emptier of two servers drawn at random from those not yet chosen
("power of two choices"). Emptier servers win more often, so fills converge; but no server
wins every draw, so concurrent writes spread and a newly added empty server fills gradually
instead of taking every write at once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from s3compat.records import ChunkRecord


@dataclass(frozen=True)
class Candidate:
    """What placement needs to know of one server."""

    server_id: str
    capacity_bytes: int
    used_bytes: int
    free_bytes: int


def fill_ratio(candidate: Candidate, reserved: int = 0) -> float:
    """Used share of the server's room, counting `reserved` bytes about to be written."""
    room = max(candidate.capacity_bytes, candidate.used_bytes + candidate.free_bytes, 1)
    return (candidate.used_bytes + reserved) / room


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
    remaining = list(candidates)
    chosen: list[Candidate] = []
    for _ in range(count):
        if len(remaining) == 1:
            pick = remaining[0]
        else:
            first, second = chooser.sample(remaining, 2)
            pick = min(
                (first, second),
                key=lambda c: fill_ratio(c, reserved.get(c.server_id, 0)),
            )
        chosen.append(pick)
        remaining.remove(pick)
    return chosen


class Reservation:
    """Counts bytes being written to each server, so concurrent writes spread out."""

    def __init__(self, reserved: Counter[str], chunks: Sequence[ChunkRecord]) -> None:
        self._reserved = reserved
        self._amounts = Counter({c.server_id: c.length for c in chunks})

    def __enter__(self) -> None:
        self._reserved.update(self._amounts)

    def __exit__(self, *exc: object) -> None:
        self._reserved.subtract(self._amounts)
