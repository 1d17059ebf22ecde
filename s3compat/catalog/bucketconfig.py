"""Catalog queries for per-bucket configuration documents and the lifecycle pass.

A configuration (bucket tagging, lifecycle rules) is one text value per (bucket, name) in the
`bucket_config` table; deleting the bucket deletes its rows (foreign key, ON DELETE CASCADE).
The catalog stores the text and does not read it: the store decides what it means.
"""

from __future__ import annotations

import time

from s3compat.catalog.backend import Queries, Transaction
from s3compat.records import UserRecord


class BucketConfigCatalog(Queries):
    """Bucket configuration documents, and the few queries the lifecycle pass needs."""

    async def get(self, bucket: str, name: str) -> str | None:
        async with self.db.snapshot() as tx:
            row = await tx.one(
                "SELECT value FROM bucket_config WHERE bucket = ? AND name = ?", (bucket, name)
            )
        return None if row is None else str(row["value"])

    async def put(self, bucket: str, name: str, value: str) -> bool:
        """Store (or replace) the document; False if the bucket does not exist."""

        async def body(tx: Transaction) -> int:
            # A bucket deleted since the caller looked is not an error of the foreign key but
            # a plain "no such bucket"; the bucket row is locked against a DeleteBucket now.
            locked = f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_share}"
            if await tx.one(locked, (bucket,)) is None:
                return 0
            return await tx.execute(
                "INSERT INTO bucket_config (bucket, name, value, updated_at) "
                "SELECT name, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION) "
                "FROM buckets WHERE name = ? "
                "ON CONFLICT (bucket, name) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (name, value, time.time(), bucket),
            )

        return await self.db.retrying(body) > 0

    async def delete(self, bucket: str, name: str) -> bool:
        """Remove the document; False if there was none."""

        deleted = await self.write(
            "DELETE FROM bucket_config WHERE bucket = ? AND name = ?", (bucket, name)
        )
        return deleted > 0

    async def all_named(self, name: str) -> list[tuple[str, str]]:
        """(bucket, value) of every bucket that has a document called `name`."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                "SELECT bucket, value FROM bucket_config WHERE name = ? ORDER BY bucket", (name,)
            )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def find_user(self, user_id: str) -> UserRecord | None:
        """The user whose access key (our canonical user ID) is `user_id`, ignoring case: some
        clients (s3cmd) lower-case canonical IDs."""
        async with self.db.snapshot() as tx:
            row = await tx.one(
                "SELECT access_key, secret_key, name FROM users "
                "WHERE lower(access_key) = lower(?) ORDER BY (access_key = ?) DESC LIMIT 1",
                (user_id, user_id),
            )
        return None if row is None else UserRecord(row[0], row[1], row[2])
