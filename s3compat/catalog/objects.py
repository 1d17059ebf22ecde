"""Catalog queries for objects: the current version of each key, committed in one transaction
that makes the version it replaces noncurrent or retires it (its chunks queued for deletion
after the readers' grace). Deletes and reads by version id are in versions.py."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from s3compat.catalog.backend import Queries, Transaction
from s3compat.catalog.chunkrows import attach_chunks, select_chunks
from s3compat.catalog.versionrows import insert_object, make_room, versioning_of
from s3compat.records import OBJECT_COLUMNS, ChunkRecord, CommitRefusal, ObjectRecord

# The current version of (bucket, key), as `ObjectRecord.from_row` reads it.
SELECT_CURRENT = f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"


class ObjectQueries(Queries):
    """The current versions of keys, and their chunks."""

    async def get_object(
        self, bucket: str, key: str
    ) -> tuple[ObjectRecord, list[ChunkRecord]] | None:
        """The current version of a key and its chunks in object order, read together."""
        async with self.db.snapshot() as tx:
            row = await tx.one(SELECT_CURRENT, (bucket, key))
            if row is None:
                return None
            chunks = await select_chunks(tx, "version_id = ?", (row["version_id"],))
        return ObjectRecord.from_row(row), chunks

    async def head_object(self, bucket: str, key: str) -> ObjectRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(SELECT_CURRENT, (bucket, key))
        return None if row is None else ObjectRecord.from_row(row)

    async def commit_object(
        self,
        record: ObjectRecord,
        chunks: Sequence[ChunkRecord],
        *,
        grace_seconds: float,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> ObjectRecord | CommitRefusal:
        """Make `record` the current version of its key, in one transaction; return it as
        committed (its version id set, and whether that is the null version).

        The version it replaces becomes noncurrent (versioning enabled, or a version with an
        id of its own) or is retired, its chunks queued for deletion after the grace period.
        Refused: "no-bucket", or "precondition" (If-None-Match: * on an existing key, or an
        If-Match ETag that is not the current one); raises IntentsLost if the collector took
        the chunks.
        """

        async def body(tx: Transaction) -> ObjectRecord | CommitRefusal:
            state = await versioning_of(tx, self.locks, record.bucket)
            if state == "missing":
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
            enabled = state == "Enabled"
            await make_room(
                tx,
                record.bucket,
                record.key,
                enabled=enabled,
                not_before=time.time() + grace_seconds,
            )
            written = replace(record, null_version=not enabled, delete_marker=False)
            version_id = await insert_object(tx, written)
            await attach_chunks(tx, chunks, version_id=version_id)
            return replace(written, version_id=version_id)

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

    async def list_objects(
        self, bucket: str, *, start: str, inclusive: bool, end: str | None, limit: int
    ) -> list[ObjectRecord]:
        """Up to `limit` keys of `bucket` from `start` (inclusive or not) to `end` (exclusive).

        Keys compare bytewise over UTF-8, which is S3's order: SQLite compares TEXT with memcmp,
        and the PostgreSQL schema gives keys the "C" collation.
        """
        lower = "key >= ?" if inclusive else "key > ?"
        sql, params = key_page(
            f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND {lower}",
            [bucket, start],
            end=end,
            order_by="key",
            limit=limit,
        )
        async with self.db.single() as tx:
            rows = await tx.all(sql, params)
        return [ObjectRecord.from_row(row) for row in rows]


def key_page(
    select: str, params: Sequence[object], *, end: str | None, order_by: str, limit: int
) -> tuple[str, list[object]]:
    """One page of a listing: `select` (ending in its WHERE conditions) with keys below `end`
    (if any), in `order_by` order, at most `limit` rows; the SQL and its parameters."""
    sql, page_params = select, list(params)
    if end is not None:
        sql += " AND key < ?"
        page_params.append(end)
    return f"{sql} ORDER BY {order_by} LIMIT ?", [*page_params, limit]
