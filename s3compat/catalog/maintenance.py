"""Catalog queries for cluster maintenance: where bytes are per server, chunk moves, orphans."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from s3compat.catalog.backend import Queries, Transaction
from s3compat.catalog.chunkrows import CHUNK_COLUMNS, id_batches, select_chunks
from s3compat.records import ChunkRecord


@dataclass(frozen=True)
class PlacedChunk:
    """A committed chunk with what a move must respect: the other pieces of its part."""

    chunk: ChunkRecord
    version_id: int
    sibling_servers: frozenset[str]


@dataclass(frozen=True)
class StoredTotals:
    """How much the cluster holds: current objects and their bytes, and the bytes their
    committed pieces (of every version) take, data pieces and all pieces with parity."""

    objects: int
    object_bytes: int
    data_bytes: int
    stored_bytes: int


class MaintenanceCatalog(Queries):
    async def stored_totals(self) -> StoredTotals:
        """The cluster's totals (two scans: callers cache the answer)."""
        async with self.db.snapshot() as tx:
            objects = await tx.one("SELECT count(*), sum(size) FROM objects")
            pieces = await tx.one(
                # Striped pieces 6.. are parity (DATA_PIECES of store/stripes.py); contiguous
                # pieces are all data.
                "SELECT sum(length), sum(CASE WHEN layout = 2 AND piece >= 6 THEN 0 "
                "ELSE length END) FROM chunks WHERE version_id IS NOT NULL"
            )
        return StoredTotals(
            objects=int(objects[0] or 0) if objects else 0,
            object_bytes=int(objects[1] or 0) if objects else 0,
            data_bytes=int(pieces[1] or 0) if pieces else 0,
            stored_bytes=int(pieces[0] or 0) if pieces else 0,
        )

    async def bytes_per_server(self) -> dict[str, int]:
        """Bytes the catalog places on each server (committed and in open uploads)."""
        async with self.db.snapshot() as tx:
            rows = await tx.all("SELECT server_id, sum(length) FROM chunks GROUP BY server_id")
        return {row[0]: int(row[1] or 0) for row in rows}

    async def movable_chunks(self, server_id: str, limit: int) -> list[PlacedChunk]:
        """Committed chunks on `server_id`, largest first, with their part's other servers."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                f"SELECT {CHUNK_COLUMNS}, version_id FROM chunks "
                "WHERE server_id = ? AND version_id IS NOT NULL ORDER BY length DESC LIMIT ?",
                (server_id, limit),
            )
            placed = []
            for row in rows:
                siblings = await tx.all(
                    "SELECT server_id FROM chunks WHERE version_id = ? AND part_number = ?",
                    (row["version_id"], row["part_number"]),
                )
                placed.append(
                    PlacedChunk(
                        ChunkRecord(*tuple(row)[:11]),
                        row["version_id"],
                        frozenset(s[0] for s in siblings),
                    )
                )
        return placed

    async def move_chunk(
        self, old: ChunkRecord, new_chunk_id: str, target: str, *, grace_seconds: float
    ) -> bool:
        """Point the catalog at the copy on `target` and queue the old copy for deletion, in one
        transaction. False if the chunk changed meanwhile (deleted, or moved by someone else):
        the caller then deletes its copy. Also False if the copy's intent was collected (this
        process was taken for dead): the copy is queued for deletion then."""

        async def body(tx: Transaction) -> bool:
            if not await tx.execute("DELETE FROM intents WHERE chunk_id = ?", (new_chunk_id,)):
                return False
            changed = await tx.execute(
                "UPDATE chunks SET chunk_id = ?, server_id = ? "
                "WHERE chunk_id = ? AND server_id = ?",
                (new_chunk_id, target, old.chunk_id, old.server_id),
            )
            if changed == 0:
                await tx.execute(
                    "INSERT INTO deletions (chunk_id, server_id, not_before) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (new_chunk_id, target, time.time()),
                )
                return False
            await tx.execute(
                "INSERT INTO deletions (chunk_id, server_id, not_before) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (old.chunk_id, old.server_id, time.time() + grace_seconds),
            )
            return True

        return await self.db.retrying(body)

    async def known_chunk_ids(self, chunk_ids: Iterable[str]) -> set[str]:
        """Which of these ids the catalog knows (as chunks, intents or pending deletions)."""
        ids = list(chunk_ids)
        known: set[str] = set()
        async with self.db.snapshot() as tx:
            for batch, marks in id_batches(ids):
                for table in ("chunks", "intents", "deletions"):
                    rows = await tx.all(
                        f"SELECT chunk_id FROM {table} WHERE chunk_id IN ({marks})", batch
                    )
                    known.update(row[0] for row in rows)
        return known

    async def chunks_on(self, server_id: str) -> dict[str, ChunkRecord]:
        """Every chunk the catalog places on a server, by id."""
        async with self.db.snapshot() as tx:
            chunks = await select_chunks(tx, "server_id = ?", (server_id,), order_by=None)
        return {chunk.chunk_id: chunk for chunk in chunks}
