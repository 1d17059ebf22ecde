"""Catalog queries for users, servers, buckets, objects and chunk bookkeeping.

Every method is one transaction. The catalog knows nothing about HTTP or S3 errors: where a
request cannot be carried out it returns a value that says why, and the store decides.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from s3compat.catalog.db import Database, Tx
from s3compat.catalog.records import (
    INSERT_OBJECT,
    OBJECT_COLUMNS,
    BucketRecord,
    ChunkRecord,
    ObjectRecord,
    ServerRecord,
    UserRecord,
)

CHUNK_COLUMNS = "chunk_id, server_id, part_number, piece, offset, length, crc32c"


@dataclass(frozen=True)
class PendingDeletion:
    chunk_id: str
    server_id: str


class Catalog:
    """The single source of truth: what exists and where its bytes are."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- meta and users -------------------------------------------------------------------

    async def get_meta(self, name: str) -> str | None:
        async with self.db.single() as tx:
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
        return None if row is None else str(row["value"])

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store `value` under `name` unless a value is there already; return the stored one."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value)
            )
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
        assert row is not None
        return str(row["value"])

    async def put_user(self, user: UserRecord) -> None:
        """Add a user, or replace the secret of the user with that name."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM users WHERE name = ?", (user.name,))
            await tx.execute(
                "INSERT OR REPLACE INTO users (access_key, secret_key, name, created_at) "
                "VALUES (?, ?, ?, ?)",
                (user.access_key, user.secret_key, user.name, time.time()),
            )

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
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO servers (server_id, url, state) VALUES (?, ?, 'up') "
                "ON CONFLICT (server_id) DO UPDATE SET url = excluded.url",
                (server_id, url),
            )

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
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE servers SET capacity_bytes = ?, used_bytes = ?, free_bytes = ?, "
                "chunk_count = ?, last_seen = ?, state = CASE WHEN state = 'down' THEN 'up' "
                "ELSE state END WHERE server_id = ?",
                (capacity, used, free, chunk_count, seen, server_id),
            )

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
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE servers SET state = ? WHERE server_id = ?", (state, server_id))

    # --- buckets --------------------------------------------------------------------------

    async def create_bucket(self, bucket: BucketRecord) -> str | None:
        """Create the bucket; if the name is taken return the owner's access key instead."""
        async with self.db.transaction() as tx:
            row = await tx.one("SELECT owner FROM buckets WHERE name = ?", (bucket.name,))
            if row is not None:
                return str(row["owner"])
            await tx.execute(
                "INSERT INTO buckets (name, owner, created_at, region, acl) VALUES (?, ?, ?, ?, ?)",
                (bucket.name, bucket.owner, bucket.created_at, bucket.region, bucket.acl),
            )
        return None

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
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name))

    async def delete_bucket(self, name: str) -> str:
        """Delete a bucket that holds no object. Returns "deleted", "missing" or "not-empty".

        Unfinished multipart uploads do not keep a bucket alive (as on S3): they are aborted in
        the same transaction and their parts' chunks queued for deletion.
        """
        async with self.db.transaction() as tx:
            if await tx.one("SELECT 1 FROM buckets WHERE name = ?", (name,)) is None:
                return "missing"
            if await tx.one("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)):
                return "not-empty"
            uploads = "SELECT upload_id FROM uploads WHERE bucket = ?"
            await tx.execute(
                "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
                f"SELECT chunk_id, server_id, ? FROM chunks WHERE upload_id IN ({uploads})",
                (time.time(), name),
            )
            await tx.execute(f"DELETE FROM chunks WHERE upload_id IN ({uploads})", (name,))
            await tx.execute(f"DELETE FROM upload_parts WHERE upload_id IN ({uploads})", (name,))
            await tx.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
            await tx.execute("DELETE FROM buckets WHERE name = ?", (name,))
        return "deleted"

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
        async with self.db.transaction() as tx:
            await tx.many(
                "INSERT INTO intents (chunk_id, server_id, gateway_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(c.chunk_id, c.server_id, gateway_id, now) for c in chunks],
            )

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
        If-Match ETag that is not the current one).
        """
        async with self.db.transaction() as tx:
            if await tx.one("SELECT 1 FROM buckets WHERE name = ?", (record.bucket,)) is None:
                return "no-bucket"
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
            version_id = await tx.insert(
                INSERT_OBJECT,
                record.to_row(),
            )
            await attach_chunks(tx, chunks, version_id=version_id)
        return "committed"

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
        async with self.db.transaction() as tx:
            if set_tags:
                changed = await tx.execute(
                    "UPDATE objects SET tags = ? WHERE bucket = ? AND key = ?", (tags, bucket, key)
                )
            else:
                changed = await tx.execute(
                    "UPDATE objects SET acl = ? WHERE bucket = ? AND key = ?", (acl, bucket, key)
                )
        return changed > 0

    async def delete_object(self, bucket: str, key: str, *, grace_seconds: float) -> bool:
        """Remove the key's current version; its chunks go to the deletion queue."""
        async with self.db.transaction() as tx:
            old = await tx.one(
                "SELECT version_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            )
            if old is None:
                return False
            await _retire_version(tx, old["version_id"], time.time() + grace_seconds)
        return True

    async def list_objects(
        self, bucket: str, *, start: str, inclusive: bool, end: str | None, limit: int
    ) -> list[ObjectRecord]:
        """Up to `limit` keys of `bucket` from `start` (inclusive or not) to `end` (exclusive).

        SQLite compares TEXT with memcmp over UTF-8, which is S3's (UTF-8 binary) order.
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
        now = time.time()
        async with self.db.transaction() as tx:
            for chunk_id in chunk_ids:
                await tx.execute(
                    "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
                    "SELECT chunk_id, server_id, ? FROM intents WHERE chunk_id = ?",
                    (now, chunk_id),
                )
                await tx.execute("DELETE FROM intents WHERE chunk_id = ?", (chunk_id,))

    async def expire_intents(self, older_than: float, *, live_gateway_id: str | None = None) -> int:
        """Intents older than `older_than` (and, given a live gateway id, every intent of another
        gateway process: with one gateway per catalog those died with their process) become
        deletions."""
        now = time.time()
        condition = "created_at < ?"
        params: list[object] = [older_than]
        if live_gateway_id is not None:
            condition += " OR gateway_id != ?"
            params.append(live_gateway_id)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
                f"SELECT chunk_id, server_id, ? FROM intents WHERE {condition}",
                [now, *params],
            )
            return await tx.execute(f"DELETE FROM intents WHERE {condition}", params)

    async def due_deletions(self, now: float, limit: int) -> list[PendingDeletion]:
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT chunk_id, server_id FROM deletions WHERE not_before <= ? "
                "ORDER BY not_before LIMIT ?",
                (now, limit),
            )
        return [PendingDeletion(row[0], row[1]) for row in rows]

    async def forget_deletions(self, chunk_ids: Iterable[str]) -> None:
        async with self.db.transaction() as tx:
            await tx.many("DELETE FROM deletions WHERE chunk_id = ?", [(c,) for c in chunk_ids])

    async def count_pending(self) -> tuple[int, int]:
        """(intents, deletions) still outstanding."""
        async with self.db.snapshot() as tx:
            intents = await tx.one("SELECT count(*) FROM intents")
            deletions = await tx.one("SELECT count(*) FROM deletions")
        return int(intents[0] if intents else 0), int(deletions[0] if deletions else 0)


async def _chunks_of_version(tx: Tx, version_id: int) -> list[ChunkRecord]:
    rows = await tx.all(
        f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE version_id = ? ORDER BY offset, piece",
        (version_id,),
    )
    return [ChunkRecord(*row) for row in rows]


async def _retire_version(tx: Tx, version_id: int, not_before: float) -> None:
    """Remove a version row and queue its chunks for deletion (deferred for readers)."""
    await tx.execute(
        "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
        "SELECT chunk_id, server_id, ? FROM chunks WHERE version_id = ?",
        (not_before, version_id),
    )
    await tx.execute("DELETE FROM chunks WHERE version_id = ?", (version_id,))
    await tx.execute("DELETE FROM objects WHERE version_id = ?", (version_id,))


async def attach_chunks(
    tx: Tx,
    chunks: Sequence[ChunkRecord],
    *,
    version_id: int | None = None,
    upload_id: str | None = None,
) -> None:
    """Turn intents into chunk rows of an object version or of an upload's part."""
    await tx.many(
        "INSERT INTO chunks (chunk_id, server_id, version_id, upload_id, part_number, piece, "
        "offset, length, crc32c) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            )
            for c in chunks
        ],
    )
    await tx.many("DELETE FROM intents WHERE chunk_id = ?", [(c.chunk_id,) for c in chunks])
