"""Processes and leases: what lets several gateways share one catalog.

Every process that records write intents (a gateway, an admin command) keeps a row in
`processes` alive by renewing it; when a process dies its row expires, and only then are its
intents collected (turned into deletions). A process that lost its row while alive (paused
longer than its lifetime) is safe too: a commit needs every intent of its chunks to still be
there (`chunkrows.attach_chunks`), so its write fails instead of committing collected chunks.

A process also holds, in `read_holds`, the chunks its long reads stream (store/reads.py): no
collector deletes them while the process's row is alive.

A lease names the one process that does a background duty (the collector, polling the chunk
servers, rebalancing) until it expires; its holder renews it on every round. Times come from
the database's clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from s3compat.catalog.backend import DATABASE_NOW, CatalogDatabase, Queries, Transaction
from s3compat.catalog.chunkrows import queue_deletions

# A process row expired this long ago is forgotten (its intents were collected long before).
FORGET_PROCESSES_AFTER_SECONDS = 24 * 3600.0


class LeaseCatalog(Queries):
    def __init__(self, db: CatalogDatabase) -> None:
        super().__init__(db)
        self._now_sql = f"SELECT {DATABASE_NOW[db.dialect]}"

    async def _now(self, tx: Transaction) -> float:
        row = await tx.one(self._now_sql)
        return float(row[0])

    async def keep_alive(self, process_id: str, description: str, ttl_seconds: float) -> bool:
        """Register the process, or extend its life by `ttl_seconds` from now. Returns False if
        it had expired (or was never registered): its intents may have been collected."""

        async def body(tx: Transaction) -> bool:
            now = await self._now(tx)
            row = await tx.one(
                "SELECT expires_at FROM processes WHERE process_id = ?", (process_id,)
            )
            await tx.execute(
                "INSERT INTO processes (process_id, description, started_at, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (process_id) "
                "DO UPDATE SET expires_at = excluded.expires_at",
                (process_id, description, now, now + ttl_seconds),
            )
            return row is not None and float(row[0]) > now

        return await self.db.retrying(body)

    async def retire(self, process_id: str) -> None:
        """The process ends: its leases are free and its leftover intents collectable now."""

        async def body(tx: Transaction) -> None:
            await tx.execute("DELETE FROM leases WHERE holder = ?", (process_id,))
            await tx.execute("DELETE FROM read_holds WHERE holder = ?", (process_id,))
            await tx.execute("DELETE FROM processes WHERE process_id = ?", (process_id,))

        await self.db.retrying(body)

    async def hold_reads(
        self, process_id: str, held: Iterable[str], released: Iterable[str]
    ) -> None:
        """The process's reads now also hold the chunks `held`, and no longer `released`."""
        new = [(process_id, chunk_id) for chunk_id in held]
        gone = [(process_id, chunk_id) for chunk_id in released]

        async def body(tx: Transaction) -> None:
            await tx.many("DELETE FROM read_holds WHERE holder = ? AND chunk_id = ?", gone)
            await tx.many(
                "INSERT INTO read_holds (holder, chunk_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                new,
            )

        await self.db.retrying(body)

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease `name` (free, expired, or already ours) for `ttl_seconds` from now.
        False if another holder has it."""

        async def body(tx: Transaction) -> bool:
            now = await self._now(tx)
            changed = await tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
                (name, holder, now + ttl_seconds, now),
            )
            return changed > 0

        return await self.db.retrying(body)

    async def release(self, name: str, holder: str) -> None:
        await self.write("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now (None if nobody, or it expired)."""

        async def body(tx: Transaction) -> str | None:
            now = await self._now(tx)
            row = await tx.one(
                "SELECT holder FROM leases WHERE name = ? AND expires_at >= ?", (name, now)
            )
            return None if row is None else str(row[0])

        return await self.db.retrying(body)

    async def collect_dead_intents(self) -> int:
        """Intents of processes that are no longer alive become deletions due now."""

        async def body(tx: Transaction) -> int:
            now = await self._now(tx)
            gone = await tx.all(
                "DELETE FROM intents WHERE gateway_id NOT IN "
                "(SELECT process_id FROM processes WHERE expires_at > ?) "
                "RETURNING chunk_id, server_id",
                (now,),
            )
            await queue_deletions(tx, gone, now)
            await tx.execute(
                "DELETE FROM read_holds WHERE holder NOT IN "
                "(SELECT process_id FROM processes WHERE expires_at > ?)",
                (now,),
            )
            await tx.execute(
                "DELETE FROM processes WHERE expires_at < ?",
                (now - FORGET_PROCESSES_AFTER_SECONDS,),
            )
            return len(gone)

        return await self.db.retrying(body)
