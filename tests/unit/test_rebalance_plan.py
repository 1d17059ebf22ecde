"""The rebalance plan: narrows the fill spread, keeps every part on distinct servers, moves
close to the minimum, and empties draining servers."""

from __future__ import annotations

import random

from s3compat.catalog.maintenance import PlacedChunk
from s3compat.records import ChunkRecord
from s3compat.store.rebalance import ServerFill, plan_moves

CAPACITY = 10_000_000


def cluster(parts: int, seed: int) -> tuple[list[ServerFill], dict[str, list[PlacedChunk]]]:
    """Six servers holding `parts` parts of 6 pieces each, and three empty ones."""
    rng = random.Random(seed)
    old = [f"old{i}" for i in range(6)]
    candidates: dict[str, list[PlacedChunk]] = {s: [] for s in [*old, "new0", "new1", "new2"]}
    for part in range(parts):
        length = rng.randint(1_000, 20_000)
        servers = frozenset(old)
        for piece, server in enumerate(rng.sample(old, 6)):
            chunk = ChunkRecord(f"{part:028d}{piece:04d}", server, 1, piece, 0, length, "0")
            candidates[server].append(PlacedChunk(chunk, part, servers))
    used = {s: sum(p.chunk.length for p in chunks) for s, chunks in candidates.items()}
    fills = [ServerFill(s, CAPACITY, used[s]) for s in candidates]
    return fills, candidates


def apply(
    fills: list[ServerFill], candidates: dict[str, list[PlacedChunk]], moves: list
) -> dict[int, list[str]]:
    where = {}
    for server, chunks in candidates.items():
        for placed in chunks:
            where[placed.chunk.chunk_id] = (placed.version_id, server)
    for move in moves:
        part, _ = where[move.placed.chunk.chunk_id]
        where[move.placed.chunk.chunk_id] = (part, move.target)
    parts: dict[int, list[str]] = {}
    for part, server in where.values():
        parts.setdefault(part, []).append(server)
    return parts


def test_plan_evens_fills_and_keeps_parts_on_distinct_servers() -> None:
    fills, candidates = cluster(300, seed=1)
    moves = plan_moves(fills, candidates, spread=0.005)
    for servers in apply(fills, candidates, moves).values():
        assert len(set(servers)) == 6
    used = {f.server_id: f.used_bytes for f in fills}
    for move in moves:
        used[move.placed.chunk.server_id] -= move.placed.chunk.length
        used[move.target] += move.placed.chunk.length
    fill = [u / CAPACITY for u in used.values()]
    assert max(fill) - min(fill) <= 0.005 + 20_000 / CAPACITY
    total = sum(f.used_bytes for f in fills)
    minimum = sum(max(0.0, f.used_bytes - total / 9) for f in fills)
    moved = sum(m.placed.chunk.length for m in moves)
    assert moved <= 1.2 * minimum


def test_draining_server_is_emptied() -> None:
    fills, candidates = cluster(100, seed=2)
    fills[0].draining = True
    moves = plan_moves(fills, candidates, spread=1.0)
    moved_off = {m.placed.chunk.chunk_id for m in moves if m.placed.chunk.server_id == "old0"}
    assert moved_off == {p.chunk.chunk_id for p in candidates["old0"]}
    assert all(m.target != "old0" for m in moves)
    for servers in apply(fills, candidates, moves).values():
        assert len(set(servers)) == 6


def test_balanced_cluster_moves_nothing() -> None:
    fills = [ServerFill(f"s{i}", CAPACITY, 1_000_000) for i in range(6)]
    assert plan_moves(fills, {f.server_id: [] for f in fills}, spread=0.01) == []
