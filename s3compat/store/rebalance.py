"""Rebalancing: move chunks from the fullest servers to the emptiest, and off draining ones.

A move never makes an object unreadable: copy the chunk to the target under a new id (the
target daemon verifies its CRC32C), switch the catalog row in one transaction, and queue the
old copy for deletion after the grace period, so a reader that looked the object up before the
switch still finds the old copy. A chunk never moves to a server that holds another piece of
the same part, so every part stays on 6 distinct servers.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from s3compat.catalog.maintenance import MaintenanceCatalog, PlacedChunk
from s3compat.cluster.errors import ChunkServerError
from s3compat.store.service import ChunkService

CANDIDATES_PER_SERVER = 2000


@dataclass
class ServerFill:
    server_id: str
    capacity_bytes: int
    used_bytes: int
    draining: bool = False

    @property
    def fill(self) -> float:
        return self.used_bytes / max(self.capacity_bytes, 1)


@dataclass(frozen=True)
class Move:
    placed: PlacedChunk
    target: str


@dataclass
class RebalanceReport:
    planned_moves: int = 0
    planned_bytes: int = 0
    moved_chunks: int = 0
    moved_bytes: int = 0
    skipped: int = 0
    fills_before: dict[str, float] = field(default_factory=dict)
    fills_after: dict[str, float] = field(default_factory=dict)


def plan_moves(
    servers: list[ServerFill], candidates: dict[str, list[PlacedChunk]], spread: float
) -> list[Move]:
    """Greedy plan (pure): empty draining servers, then move the largest movable chunk from the
    fullest to the emptiest server while that narrows the fill spread beyond `spread`."""
    fills = {s.server_id: ServerFill(**s.__dict__) for s in servers}
    pools = {server: list(chunks) for server, chunks in candidates.items()}
    # Where each part's pieces are, kept current as moves are planned.
    part_servers: dict[tuple[int, int], set[str]] = {}
    for chunks in candidates.values():
        for placed in chunks:
            part_servers.setdefault(_part_of(placed), set(placed.sibling_servers))
    moves: list[Move] = []
    while True:
        targets = sorted((s for s in fills.values() if not s.draining), key=lambda s: s.fill)
        if not targets:
            return moves
        draining = [s for s in fills.values() if s.draining and pools.get(s.server_id)]
        if draining:
            source = draining[0]
        else:
            source = max(targets, key=lambda s: s.fill)
            if source.fill - targets[0].fill <= spread:
                return moves
        move = _next_move(source, targets, pools.get(source.server_id, []), part_servers)
        if move is None:
            if draining:
                pools[source.server_id] = []  # nothing of it can move: give up on the rest
                continue
            return moves
        pools[source.server_id].remove(move.placed)
        part = part_servers[_part_of(move.placed)]
        part.discard(source.server_id)
        part.add(move.target)
        length = move.placed.chunk.length
        source.used_bytes -= length
        fills[move.target].used_bytes += length
        moves.append(move)


def _part_of(placed: PlacedChunk) -> tuple[int, int]:
    return placed.version_id, placed.chunk.part_number


def _next_move(
    source: ServerFill,
    targets: list[ServerFill],
    pool: list[PlacedChunk],
    part_servers: dict[tuple[int, int], set[str]],
) -> Move | None:
    for target in targets:
        if target.server_id == source.server_id:
            continue
        for placed in pool:
            if target.server_id in part_servers[_part_of(placed)]:
                continue
            length = placed.chunk.length
            after_source = (source.used_bytes - length) / max(source.capacity_bytes, 1)
            after_target = (target.used_bytes + length) / max(target.capacity_bytes, 1)
            if source.draining or after_target <= after_source:
                return Move(placed, target.server_id)
    return None


@dataclass(eq=False)
class Rebalancer(ChunkService):
    maintenance: MaintenanceCatalog

    async def fills(self) -> list[ServerFill]:
        placed = await self.maintenance.bytes_per_server()
        return [
            ServerFill(
                s.server_id, s.capacity_bytes, placed.get(s.server_id, 0), s.state == "draining"
            )
            for s in await self.catalog.list_servers()
            if s.state in ("up", "draining")
        ]

    async def run(
        self,
        *,
        spread: float,
        dry_run: bool,
        progress: Callable[[str], None] | None = None,
    ) -> RebalanceReport:
        await self.membership.refresh()
        servers = await self.fills()
        report = RebalanceReport(fills_before={s.server_id: round(s.fill, 6) for s in servers})
        candidates = {
            s.server_id: await self.maintenance.movable_chunks(s.server_id, CANDIDATES_PER_SERVER)
            for s in servers
        }
        moves = plan_moves(servers, candidates, spread)
        report.planned_moves = len(moves)
        report.planned_bytes = sum(m.placed.chunk.length for m in moves)
        if not dry_run:
            started = time.monotonic()
            for move in moves:
                if await self._execute(move):
                    report.moved_chunks += 1
                    report.moved_bytes += move.placed.chunk.length
                else:
                    report.skipped += 1
                if progress is not None:
                    progress(_progress_line(report, time.monotonic() - started))
        report.fills_after = {s.server_id: round(s.fill, 6) for s in await self.fills()}
        return report

    async def _execute(self, move: Move) -> bool:
        """Copy, verify (the target checks the CRC32C), switch, queue the old copy."""
        old = move.placed.chunk
        copy = replace(old, chunk_id=uuid.uuid4().hex, server_id=move.target)
        await self.catalog.record_intents([copy], self.gateway_id)
        try:
            source_url = self.membership.url_of(old.server_id)
            target_url = self.membership.url_of(move.target)
            blocks = self.client.get_chunk(source_url, old.chunk_id, 0, old.length)
            async with aclosing(blocks):
                await self.client.put_chunk(
                    target_url, copy.chunk_id, old.length, _relay(blocks), crc32c=old.crc32c
                )
            switched = await self.maintenance.move_chunk(
                old, copy.chunk_id, move.target, grace_seconds=self.grace_seconds
            )
        except (ChunkServerError, KeyError):
            await self.catalog.abandon_chunks([copy.chunk_id])
            return False
        if not switched:
            await self.catalog.abandon_chunks([copy.chunk_id])
        return switched


async def _relay(blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for block in blocks:
        yield block


def _progress_line(report: RebalanceReport, elapsed: float) -> str:
    rate = report.moved_bytes / elapsed if elapsed > 0 else 0.0
    left = report.planned_bytes - report.moved_bytes
    eta = left / rate if rate > 0 else 0.0
    return (
        f"\rmoved {report.moved_bytes / 2**20:.1f} of {report.planned_bytes / 2**20:.1f} MiB "
        f"({report.moved_chunks} chunks) at {rate / 2**20:.1f} MiB/s, ETA {eta:.0f} s "
    )


def print_progress(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()
