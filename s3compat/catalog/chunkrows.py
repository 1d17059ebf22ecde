"""Chunk bookkeeping: intents become chunk rows at a commit, chunk rows become deletions when
their version or part is replaced, and the deletion queue and damage reports that follow.

The module functions are steps inside another query's transaction (objects, uploads, repairs,
bucket configuration and leases share them); `ChunkQueries` is the part of `Catalog` that runs
the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from s3compat.catalog.backend import DATABASE_NOW, Queries, Transaction
from s3compat.records import ChunkRecord

CHUNK_COLUMNS = (
    'chunk_id, server_id, part_number, piece, "offset", length, crc32c, '
    "layout, segment_length, block_bytes, parity"
)
# Ids per IN (...) list: well under both backends' limits on parameters.
BATCH = 500


class IntentsLost(RuntimeError):
    """A commit found some of its chunks' intents gone: the collector took them for a dead
    process's (this process was paused longer than its lifetime), so the chunks are queued
    for deletion and the write cannot commit."""


@dataclass(frozen=True)
class PendingDeletion:
    chunk_id: str
    server_id: str


def id_batches(ids: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """`ids` in batches of at most BATCH, each with the `?, ?, ...` of its IN list."""
    for start in range(0, len(ids), BATCH):
        batch = list(ids[start : start + BATCH])
        yield batch, ", ".join("?" * len(batch))


async def select_chunks(
    tx: Transaction,
    condition: str,
    params: Sequence[object],
    *,
    order_by: str | None = '"offset", piece',
) -> list[ChunkRecord]:
    """The chunk rows matching `condition` (a WHERE clause of `?` placeholders), in
    `order_by` order (None: any)."""
    sql = f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE {condition}"
    if order_by is not None:
        sql += f" ORDER BY {order_by}"
    return [ChunkRecord(*row) for row in await tx.all(sql, params)]


async def queue_deletions(tx: Transaction, chunks: Sequence[Any], not_before: float) -> None:
    """Queue (chunk_id, server_id) rows for deletion once `not_before` has passed.

    Callers take the rows with DELETE ... RETURNING: what one transaction deleted, no other
    transaction also deleted (or changed meanwhile, as a rebalancing move would)."""
    await tx.many(
        "INSERT INTO deletions (chunk_id, server_id, not_before) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(row[0], row[1], not_before) for row in chunks],
    )


async def retire_chunks(
    tx: Transaction, where: str, params: Sequence[Any], not_before: float
) -> None:
    """Delete the chunk rows matching `where` and queue their pieces for deletion."""
    gone = await tx.all(f"DELETE FROM chunks WHERE {where} RETURNING chunk_id, server_id", params)
    await queue_deletions(tx, gone, not_before)


async def attach_chunks(
    tx: Transaction,
    chunks: Sequence[ChunkRecord],
    *,
    version_id: int | None = None,
    upload_id: str | None = None,
) -> None:
    """Turn intents into chunk rows of an object version or of an upload's part.

    Every chunk's intent must still be there: one that is gone was collected (its chunk is
    queued for deletion), and committing it would point the catalog at bytes about to vanish.
    """
    for batch, marks in id_batches([c.chunk_id for c in chunks]):
        removed = await tx.execute(f"DELETE FROM intents WHERE chunk_id IN ({marks})", batch)
        if removed != len(batch):
            raise IntentsLost(f"{len(batch) - removed} of {len(batch)} intents were collected")
    await tx.many(
        "INSERT INTO chunks (chunk_id, server_id, version_id, upload_id, part_number, piece, "
        '"offset", length, crc32c, layout, segment_length, block_bytes, parity) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c.chunk_id,
                c.server_id,
                version_id,
                upload_id,
                c.part_number,
                c.piece,
                c.offset,
                c.length,
                c.crc32c,
                c.layout,
                c.segment_length,
                c.block_bytes,
                c.parity,
            )
            for c in chunks
        ],
    )


class ChunkQueries(Queries):
    """Intents of writes in progress, the deletion queue, damage reports."""

    async def record_intents(self, chunks: Iterable[ChunkRecord], gateway_id: str) -> None:
        """Write down which chunks are about to be written where, before writing them."""
        now = time.time()
        rows = [(c.chunk_id, c.server_id, gateway_id, now) for c in chunks]

        async def body(tx: Transaction) -> None:
            await tx.many(
                "INSERT INTO intents (chunk_id, server_id, gateway_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )

        await self.db.retrying(body)

    async def abandon_chunks(self, chunk_ids: Iterable[str]) -> None:
        """A write failed: its chunks (still only intents) are due for deletion now."""
        ids = list(chunk_ids)
        if not ids:
            return

        async def body(tx: Transaction) -> None:
            for batch, marks in id_batches(ids):
                gone = await tx.all(
                    f"DELETE FROM intents WHERE chunk_id IN ({marks}) "
                    "RETURNING chunk_id, server_id",
                    batch,
                )
                await queue_deletions(tx, gone, time.time())

        await self.db.retrying(body)

    async def expire_intents(self, older_than: float) -> int:
        """Intents older than `older_than` become deletions (a write that old cannot still be
        running; dead processes' intents go earlier, see `leases.LeaseCatalog`)."""

        async def body(tx: Transaction) -> int:
            gone = await tx.all(
                "DELETE FROM intents WHERE created_at < ? RETURNING chunk_id, server_id",
                (older_than,),
            )
            await queue_deletions(tx, gone, time.time())
            return len(gone)

        return await self.db.retrying(body)

    async def due_deletions(self, now: float, limit: int) -> list[PendingDeletion]:
        """Deletions due at `now`, but for chunks a live process holds for a read."""
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT chunk_id, server_id FROM deletions WHERE not_before <= ? "
                "AND NOT EXISTS (SELECT 1 FROM read_holds JOIN processes "
                "ON processes.process_id = read_holds.holder "
                "WHERE read_holds.chunk_id = deletions.chunk_id "
                f"AND processes.expires_at > {DATABASE_NOW[self.db.dialect]}) "
                "ORDER BY not_before LIMIT ?",
                (now, limit),
            )
        return [PendingDeletion(row[0], row[1]) for row in rows]

    async def forget_deletions(self, chunk_ids: Iterable[str]) -> None:
        rows = [(c,) for c in chunk_ids]

        async def body(tx: Transaction) -> None:
            await tx.many("DELETE FROM deletions WHERE chunk_id = ?", rows)

        await self.db.retrying(body)

    async def note_damaged(self, chunk_id: str, reason: str) -> None:
        """Queue a piece found missing or corrupt for the repairer."""
        await self.write(
            "INSERT INTO damaged_chunks (chunk_id, reason, noted_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (chunk_id, reason, time.time()),
        )

    async def count_pending(self) -> tuple[int, int]:
        """(intents, deletions) still outstanding."""
        async with self.db.snapshot() as tx:
            intents = await tx.one("SELECT count(*) FROM intents")
            deletions = await tx.one("SELECT count(*) FROM deletions")
        return int(intents[0] if intents else 0), int(deletions[0] if deletions else 0)
