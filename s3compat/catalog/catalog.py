"""Catalog queries for users, servers, buckets, objects and chunk bookkeeping.

Every method is one transaction. The catalog knows nothing about HTTP or S3 errors: where a
request cannot be carried out it returns a value that says why, and the store decides.

The SQL runs on SQLite and on PostgreSQL alike (`?` placeholders, `ON CONFLICT`, `RETURNING`,
the reserved word `offset` quoted). A write transaction is a function of its `Transaction`,
run by `db.retrying`, which may run it again if it lost a race with another gateway (so it does
nothing but catalog work). Where gateways can race, it takes `Locks` (empty on SQLite, where
one write transaction runs at a time) and moves rows between tables with DELETE ... RETURNING.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from s3compat.catalog.backend import CatalogDatabase, Locks, Transaction
from s3compat.catalog.records import (
    INSERT_OBJECT,
    OBJECT_COLUMNS,
    BucketRecord,
    ChunkRecord,
    ObjectRecord,
    ServerRecord,
    UserRecord,
)

CHUNK_COLUMNS = (
    'chunk_id, server_id, part_number, piece, "offset", length, crc32c, '
    "layout, segment_length, block_bytes, parity"
)


class IntentsLost(RuntimeError):
    """A commit found some of its chunks' intents gone: the collector took them for a dead
    process's (this process was paused longer than its lifetime), so the chunks are queued
    for deletion and the write cannot commit."""


class ServerUrlTaken(Exception):
    """Another server is registered at that URL."""


@dataclass(frozen=True)
class PendingDeletion:
    chunk_id: str
    server_id: str


class Catalog:
    """The single source of truth: what exists and where its bytes are."""

    def __init__(self, db: CatalogDatabase) -> None:
        self.db = db
        self.locks = Locks(db.dialect)

    # --- meta and users -------------------------------------------------------------------

    async def get_meta(self, name: str) -> str | None:
        async with self.db.single() as tx:
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
        return None if row is None else str(row["value"])

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store `value` under `name` unless a value is there already; return the stored one."""

        async def body(tx: Transaction) -> str:
            await tx.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, value),
            )
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
            assert row is not None
            return str(row["value"])

        return await self.db.retrying(body)

    async def set_meta(self, name: str, value: str) -> None:
        """Store `value` under `name`, replacing any value there."""

        async def body(tx: Transaction) -> None:
            await tx.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

        await self.db.retrying(body)

    async def put_user(self, user: UserRecord) -> None:
        """Add a user, or replace the secret of the user with that name."""

        async def body(tx: Transaction) -> None:
            await tx.execute("DELETE FROM users WHERE name = ?", (user.name,))
            await tx.execute(
                "INSERT INTO users (access_key, secret_key, name, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (access_key) DO UPDATE SET "
                "secret_key = excluded.secret_key, name = excluded.name, "
                "created_at = excluded.created_at",
                (user.access_key, user.secret_key, user.name, time.time()),
            )

        await self.db.retrying(body)

    async def get_user(self, access_key: str) -> UserRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(
                "SELECT access_key, secret_key, name FROM users WHERE access_key = ?", (access_key,)
            )
        return None if row is None else UserRecord(row[0], row[1], row[2])

    async def get_user_by_name(self, name: str) -> UserRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(
                "SELECT access_key, secret_key, name FROM users WHERE name = ?", (name,)
            )
        return None if row is None else UserRecord(row[0], row[1], row[2])

    # --- servers --------------------------------------------------------------------------

    async def add_server(self, server_id: str, url: str) -> None:
        """Register a server (or move it to a new URL). Raises ServerUrlTaken if another
        server has that URL."""

        async def body(tx: Transaction) -> None:
            other = await tx.one(
                "SELECT server_id FROM servers WHERE url = ? AND server_id != ?", (url, server_id)
            )
            if other is not None:
                raise ServerUrlTaken(f"{url} belongs to server {other[0]}")
            await tx.execute(
                "INSERT INTO servers (server_id, url, state) VALUES (?, ?, 'up') "
                "ON CONFLICT (server_id) DO UPDATE SET url = excluded.url",
                (server_id, url),
            )

        await self.db.retrying(body)

    async def list_servers(self) -> list[ServerRecord]:
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT server_id, url, state, capacity_bytes, used_bytes, free_bytes, "
                "chunk_count, last_seen FROM servers ORDER BY server_id"
            )
        return [ServerRecord(*row) for row in rows]

    async def record_server_stats(
        self, server_id: str, capacity: int, used: int, free: int, chunk_count: int, seen: float
    ) -> None:
        async def body(tx: Transaction) -> None:
            await tx.execute(
                "UPDATE servers SET capacity_bytes = ?, used_bytes = ?, free_bytes = ?, "
                "chunk_count = ?, last_seen = ?, state = CASE WHEN state = 'down' THEN 'up' "
                "ELSE state END WHERE server_id = ?",
                (int(capacity), int(used), int(free), int(chunk_count), float(seen), server_id),
            )

        await self.db.retrying(body)

    async def chunks_on_server(self, server_id: str) -> int:
        """Chunks the catalog places on a server (committed, in uploads, or being written)."""
        async with self.db.snapshot() as tx:
            chunks = await tx.one("SELECT count(*) FROM chunks WHERE server_id = ?", (server_id,))
            intents = await tx.one("SELECT count(*) FROM intents WHERE server_id = ?", (server_id,))
            pending = await tx.one(
                "SELECT count(*) FROM deletions WHERE server_id = ?", (server_id,)
            )
        return sum(int(row[0]) if row else 0 for row in (chunks, intents, pending))

    async def set_server_state(self, server_id: str, state: str) -> None:
        async def body(tx: Transaction) -> None:
            await tx.execute("UPDATE servers SET state = ? WHERE server_id = ?", (state, server_id))

        await self.db.retrying(body)

    # --- buckets --------------------------------------------------------------------------

    async def create_bucket(self, bucket: BucketRecord) -> str | None:
        """Create the bucket; if the name is taken return the owner's access key instead."""

        async def body(tx: Transaction) -> str | None:
            created = await tx.execute(
                "INSERT INTO buckets (name, owner, created_at, region, acl) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (bucket.name, bucket.owner, bucket.created_at, bucket.region, bucket.acl),
            )
            if created:
                return None
            row = await tx.one("SELECT owner FROM buckets WHERE name = ?", (bucket.name,))
            assert row is not None
            return str(row["owner"])

        return await self.db.retrying(body)

    async def get_bucket(self, name: str) -> BucketRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(
                "SELECT name, owner, created_at, region, acl FROM buckets WHERE name = ?", (name,)
            )
        return None if row is None else BucketRecord(*row)

    async def list_buckets(self, owner: str) -> list[BucketRecord]:
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT name, owner, created_at, region, acl FROM buckets WHERE owner = ? "
                "ORDER BY name",
                (owner,),
            )
        return [BucketRecord(*row) for row in rows]

    async def set_bucket_acl(self, name: str, acl: str | None) -> None:
        async def body(tx: Transaction) -> None:
            await tx.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name))

        await self.db.retrying(body)

    async def delete_bucket(self, name: str) -> str:
        """Delete a bucket that holds no object. Returns "deleted", "missing" or "not-empty".

        Unfinished multipart uploads do not keep a bucket alive (as on S3): they are aborted in
        the same transaction and their parts' chunks queued for deletion.
        """

        async def body(tx: Transaction) -> str:
            # The bucket row locked: commits into it wait (they hold it FOR SHARE), then see
            # it gone. The uploads locked: parts being committed land before we look.
            locked = f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_update}"
            if await tx.one(locked, (name,)) is None:
                return "missing"
            if await tx.one("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)):
                return "not-empty"
            uploads = "SELECT upload_id FROM uploads WHERE bucket = ?"
            await tx.all(uploads + self.locks.for_update, (name,))
            gone = await tx.all(
                f"DELETE FROM chunks WHERE upload_id IN ({uploads}) RETURNING chunk_id, server_id",
                (name,),
            )
            await queue_deletions(tx, gone, time.time())
            await tx.execute(f"DELETE FROM upload_parts WHERE upload_id IN ({uploads})", (name,))
            await tx.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
            await tx.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return "deleted"

        return await self.db.retrying(body)

    # --- objects --------------------------------------------------------------------------

    async def get_object(
        self, bucket: str, key: str
    ) -> tuple[ObjectRecord, list[ChunkRecord]] | None:
        """The current version of a key and its chunks in object order, read together."""
        async with self.db.snapshot() as tx:
            row = await tx.one(
                f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key),
            )
            if row is None:
                return None
            chunks = await _chunks_of_version(tx, row["version_id"])
        return ObjectRecord.from_row(row), chunks

    async def head_object(self, bucket: str, key: str) -> ObjectRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(
                f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key),
            )
        return None if row is None else ObjectRecord.from_row(row)

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

    async def commit_object(
        self,
        record: ObjectRecord,
        chunks: Sequence[ChunkRecord],
        *,
        grace_seconds: float,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Make `record` the current version of its key, in one transaction.

        The replaced version's chunks are queued for deletion after the grace period. Returns
        "committed", "no-bucket" or "precondition" (If-None-Match: * on an existing key, or an
        If-Match ETag that is not the current one); raises IntentsLost if the collector took
        the chunks.
        """

        async def body(tx: Transaction) -> str:
            bucket = f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_share}"
            if await tx.one(bucket, (record.bucket,)) is None:
                return "no-bucket"
            await self.locks.key(tx, record.bucket, record.key)
            old = await tx.one(
                "SELECT version_id, etag FROM objects WHERE bucket = ? AND key = ?",
                (record.bucket, record.key),
            )
            if (if_none_match and old is not None) or (
                if_match is not None and (old is None or old["etag"] != if_match)
            ):
                return "precondition"
            if old is not None:
                await _retire_version(tx, old["version_id"], time.time() + grace_seconds)
            version_id = await insert_object(tx, record)
            await attach_chunks(tx, chunks, version_id=version_id)
            return "committed"

        return await self.db.retrying(body)

    async def update_object(
        self,
        bucket: str,
        key: str,
        *,
        acl: str | None = None,
        tags: str | None = None,
        set_tags: bool = False,
    ) -> bool:
        """Change an object's ACL or tags in place (not its bytes). False if the key is absent."""
        column, value = ("tags", tags) if set_tags else ("acl", acl)

        async def body(tx: Transaction) -> int:
            await self.locks.key(tx, bucket, key)
            return await tx.execute(
                f"UPDATE objects SET {column} = ? WHERE bucket = ? AND key = ?",
                (value, bucket, key),
            )

        return await self.db.retrying(body) > 0

    async def delete_object(self, bucket: str, key: str, *, grace_seconds: float) -> bool:
        """Remove the key's current version; its chunks go to the deletion queue."""

        async def body(tx: Transaction) -> bool:
            await self.locks.key(tx, bucket, key)
            old = await tx.one(
                "SELECT version_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            )
            if old is None:
                return False
            await _retire_version(tx, old["version_id"], time.time() + grace_seconds)
            return True

        return await self.db.retrying(body)

    async def list_objects(
        self, bucket: str, *, start: str, inclusive: bool, end: str | None, limit: int
    ) -> list[ObjectRecord]:
        """Up to `limit` keys of `bucket` from `start` (inclusive or not) to `end` (exclusive).

        Keys compare bytewise over UTF-8, which is S3's order: SQLite compares TEXT with memcmp,
        and the PostgreSQL schema gives keys the "C" collation.
        """
        lower = "key >= ?" if inclusive else "key > ?"
        sql = f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND {lower}"
        params: list[object] = [bucket, start]
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key LIMIT ?"
        params.append(limit)
        async with self.db.single() as tx:
            rows = await tx.all(sql, params)
        return [ObjectRecord.from_row(row) for row in rows]

    # --- chunk bookkeeping ----------------------------------------------------------------

    async def abandon_chunks(self, chunk_ids: Iterable[str]) -> None:
        """A write failed: its chunks (still only intents) are due for deletion now."""
        ids = list(chunk_ids)
        if not ids:
            return

        async def body(tx: Transaction) -> None:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                marks = ", ".join("?" * len(batch))
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
        condition = "created_at < ?"
        params: list[object] = [older_than]

        async def body(tx: Transaction) -> int:
            gone = await tx.all(
                f"DELETE FROM intents WHERE {condition} RETURNING chunk_id, server_id", params
            )
            await queue_deletions(tx, gone, time.time())
            return len(gone)

        return await self.db.retrying(body)

    async def due_deletions(self, now: float, limit: int) -> list[PendingDeletion]:
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT chunk_id, server_id FROM deletions WHERE not_before <= ? "
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

        async def body(tx: Transaction) -> None:
            await tx.execute(
                "INSERT INTO damaged_chunks (chunk_id, reason, noted_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (chunk_id, reason, time.time()),
            )

        await self.db.retrying(body)

    async def count_pending(self) -> tuple[int, int]:
        """(intents, deletions) still outstanding."""
        async with self.db.snapshot() as tx:
            intents = await tx.one("SELECT count(*) FROM intents")
            deletions = await tx.one("SELECT count(*) FROM deletions")
        return int(intents[0] if intents else 0), int(deletions[0] if deletions else 0)


# Ids per IN (...) list: well under both backends' limits on parameters.
BATCH = 500


async def _chunks_of_version(tx: Transaction, version_id: int) -> list[ChunkRecord]:
    rows = await tx.all(
        f'SELECT {CHUNK_COLUMNS} FROM chunks WHERE version_id = ? ORDER BY "offset", piece',
        (version_id,),
    )
    return [ChunkRecord(*row) for row in rows]


async def insert_object(tx: Transaction, record: ObjectRecord) -> int:
    """Insert an object row; return its new version id."""
    row = await tx.one(INSERT_OBJECT, record.to_row())
    assert row is not None
    return int(row[0])


async def queue_deletions(tx: Transaction, chunks: Sequence[Any], not_before: float) -> None:
    """Queue (chunk_id, server_id) rows for deletion once `not_before` has passed.

    Callers take the rows with DELETE ... RETURNING: what one transaction deleted, no other
    transaction also deleted (or changed meanwhile, as a rebalancing move would)."""
    await tx.many(
        "INSERT INTO deletions (chunk_id, server_id, not_before) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(row[0], row[1], not_before) for row in chunks],
    )


async def _retire_version(tx: Transaction, version_id: int, not_before: float) -> None:
    """Remove a version row and queue its chunks for deletion (deferred for readers)."""
    gone = await tx.all(
        "DELETE FROM chunks WHERE version_id = ? RETURNING chunk_id, server_id", (version_id,)
    )
    await queue_deletions(tx, gone, not_before)
    await tx.execute("DELETE FROM objects WHERE version_id = ?", (version_id,))


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
    for start in range(0, len(chunks), BATCH):
        batch = [c.chunk_id for c in chunks[start : start + BATCH]]
        marks = ", ".join("?" * len(batch))
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
