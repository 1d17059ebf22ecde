"""Placement: which chunk servers take the pieces of a write. Pure; no I/O."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """What placement needs to know of one server."""

    server_id: str
    capacity_bytes: int
    used_bytes: int
    free_bytes: int


def choose_servers(
    candidates: Sequence[Candidate],
    count: int,
    *,
    reserved_bytes: Mapping[str, int] | None = None,
    rng: random.Random | None = None,
) -> list[Candidate]:
    """The `count` servers with the most free room, counting bytes reserved by writes in flight.

    Ties (and near-ties within 1 MiB) are broken at random so that concurrent writes of equal
    servers spread instead of all landing on the same six. Raises ValueError if fewer than
    `count` candidates exist.
    """
    if len(candidates) < count:
        raise ValueError(f"need {count} servers, have {len(candidates)}")
    reserved = reserved_bytes or {}
    chooser = rng or random
    tie_break = {c.server_id: chooser.random() for c in candidates}

    def room(candidate: Candidate) -> tuple[int, float]:
        free = candidate.free_bytes - reserved.get(candidate.server_id, 0)
        return (free >> 20, tie_break[candidate.server_id])

    return sorted(candidates, key=room, reverse=True)[:count]
