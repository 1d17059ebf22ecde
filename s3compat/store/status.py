"""What the cluster looks like right now, for people: servers, totals, background work.

`admin` commands print this as JSON from their own process; the console asks the gateway's
own view (its membership, its repairer) and the catalog, through `ClusterStatus`. Work that
shrinks towards zero (repair, drain, garbage collection, rebalance) is sampled at each look,
so its rate and an ETA come from how fast the remaining amount went down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from s3compat.catalog.catalog import Catalog
from s3compat.catalog.leases import LeaseCatalog
from s3compat.catalog.maintenance import MaintenanceCatalog, StoredTotals
from s3compat.catalog.repairs import RepairCatalog
from s3compat.cluster.membership import Membership
from s3compat.records import ChunkRecord, ServerRecord
from s3compat.store.stripes import DATA_PIECES, LAYOUT_STRIPED

T = TypeVar("T")

# Totals and repair counts are scans of the catalog: recount at most this often.
RECOUNT_SECONDS = 5.0
# Rates are measured over the samples of this last stretch of time.
RATE_WINDOW_SECONDS = 120.0
# Rebalance aims at fills within this spread (`admin rebalance --spread`'s default).
REBALANCE_SPREAD = 0.02


def piece_role(chunk: ChunkRecord) -> str:
    """`data i` or `parity j`: what a piece holds of its segment."""
    if chunk.layout == LAYOUT_STRIPED and chunk.piece >= DATA_PIECES:
        return f"parity {chunk.piece - DATA_PIECES}"
    return f"data {chunk.piece}"


def fill_ratio(server: ServerRecord) -> float:
    return server.used_bytes / server.capacity_bytes if server.capacity_bytes else 0.0


@dataclass(frozen=True)
class Placed:
    """One piece of an object, where `admin locate` shows it."""

    part_number: int
    role: str
    server_id: str
    state: str
    length: int
    chunk_id: str


def placement_map(chunks: Sequence[ChunkRecord], servers: Sequence[ServerRecord]) -> list[Placed]:
    """Every piece of an object with its server's state, in part then piece order."""
    states = {s.server_id: s.state for s in servers}
    return [
        Placed(c.part_number, piece_role(c), c.server_id, states.get(c.server_id, "unknown"),
               c.length, c.chunk_id)
        for c in sorted(chunks, key=lambda c: (c.part_number, c.piece))
    ]  # fmt: skip


@dataclass(frozen=True)
class Progress:
    """Background work that counts down: how much is left, how fast it goes, when it ends."""

    kind: str
    remaining: float
    unit: str
    active: bool
    rate_per_second: float | None
    eta_seconds: float | None


@dataclass
class _Samples:
    """(time, remaining) pairs of one kind of work, over the rate window."""

    points: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, now: float, remaining: float) -> tuple[float | None, float | None]:
        """Record a sample; the rate at which the remaining amount fell, and the ETA."""
        if self.points and remaining > self.points[-1][1]:
            self.points.clear()  # new work arrived: the old pace says nothing about it
        self.points.append((now, remaining))
        while self.points and now - self.points[0][0] > RATE_WINDOW_SECONDS:
            self.points.popleft()
        first_time, first_remaining = self.points[0]
        if now - first_time <= 0 or first_remaining <= remaining:
            return None, None
        rate = (first_remaining - remaining) / (now - first_time)
        return rate, remaining / rate


@dataclass
class ClusterStatus:
    """The cluster as this gateway sees it; every method only reads."""

    catalog: Catalog
    maintenance: MaintenanceCatalog
    repairs: RepairCatalog
    membership: Membership
    leases: LeaseCatalog
    rebalance_lease: str
    parity_of: Callable[[], int]
    clock: Callable[[], float] = time.monotonic
    _samples: dict[str, _Samples] = field(default_factory=dict, init=False)
    _cache: dict[str, tuple[float, object]] = field(default_factory=dict, init=False)

    def servers(self) -> list[ServerRecord]:
        return sorted(self.membership.servers(), key=lambda s: s.server_id)

    async def totals(self) -> StoredTotals:
        return await self._cached("totals", self.maintenance.stored_totals)

    async def under_protected(self) -> tuple[int, int]:
        """(segments, objects) short of pieces now."""
        return await self._cached("short", self.repairs.count_short_segments)

    async def progress(self) -> list[Progress]:
        """Repair, drain, garbage collection and rebalance: what is left of each."""
        now = self.clock()
        servers = self.servers()
        short_segments, _ = await self.under_protected()
        _, deletions = await self._cached("pending", self.catalog.count_pending)
        draining = sum(s.chunk_count for s in servers if s.state == "draining")
        fills = [fill_ratio(s) for s in servers if s.state == "up" and s.capacity_bytes]
        spread = max(fills) - min(fills) if fills else 0.0
        rebalancing = await self._cached("rebalance", lambda: self._holds(self.rebalance_lease))
        work = (
            ("repair", float(short_segments), "segments", short_segments > 0),
            ("drain", float(draining), "pieces", draining > 0),
            ("gc", float(deletions), "chunks", deletions > 0),
            ("rebalance", max(0.0, spread - REBALANCE_SPREAD) * 100, "% fill spread",
             rebalancing),
        )  # fmt: skip
        found = []
        for kind, remaining, unit, active in work:
            rate, eta = self._samples.setdefault(kind, _Samples()).add(now, remaining)
            found.append(Progress(kind, remaining, unit, active, rate, eta))
        return found

    async def _holds(self, lease: str) -> bool:
        return await self.leases.holder(lease) is not None

    async def _cached(self, name: str, compute: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        found = self._cache.get(name)
        if found is not None and now - found[0] < RECOUNT_SECONDS:
            return cast(T, found[1])
        value = await compute()
        self._cache[name] = (now, value)
        return value
