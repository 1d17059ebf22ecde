"""Catalog queries for buckets: create, look up, list, set the ACL, delete when empty."""

from __future__ import annotations

import time
from collections.abc import Mapping

from s3compat.catalog.backend import Queries, Transaction
from s3compat.catalog.chunkrows import queue_deletions
from s3compat.records import BucketDeletion, BucketRecord

BUCKET_COLUMNS = "name, owner, created_at, region, acl, versioning"
# A bucket row with the documents access control reads on every request (the bucket policy,
# the public access block, the object ownership: bucket_config rows named by the store, in the
# order of BucketRecord's fields), in one statement: three LEFT JOINs on the primary key.
_WITH_DOCUMENTS = (
    "SELECT b.name, b.owner, b.created_at, b.region, b.acl, b.versioning, "
    "c1.value, c2.value, c3.value FROM buckets b "
    "LEFT JOIN bucket_config c1 ON c1.bucket = b.name AND c1.name = ? "
    "LEFT JOIN bucket_config c2 ON c2.bucket = b.name AND c2.name = ? "
    "LEFT JOIN bucket_config c3 ON c3.bucket = b.name AND c3.name = ?"
)
# The three document names _WITH_DOCUMENTS joins.
RecordDocuments = tuple[str, str, str]


class BucketQueries(Queries):
    """Buckets and their owners."""

    async def create_bucket(
        self, bucket: BucketRecord, documents: Mapping[str, str] | None = None
    ) -> str | None:
        """Create the bucket (with its versioning state and any configuration documents, in
        the same transaction); if the name is taken return the owner's access key instead."""

        async def body(tx: Transaction) -> str | None:
            created = await tx.execute(
                "INSERT INTO buckets (name, owner, created_at, region, acl, versioning) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (
                    bucket.name,
                    bucket.owner,
                    bucket.created_at,
                    bucket.region,
                    bucket.acl,
                    bucket.versioning,
                ),
            )
            if created:
                for name, value in (documents or {}).items():
                    await tx.execute(
                        "INSERT INTO bucket_config (bucket, name, value, updated_at) "
                        "VALUES (?, ?, ?, ?)",
                        (bucket.name, name, value, bucket.created_at),
                    )
                return None
            row = await tx.one("SELECT owner FROM buckets WHERE name = ?", (bucket.name,))
            assert row is not None
            return str(row["owner"])

        return await self.db.retrying(body)

    async def get_bucket(self, name: str, documents: RecordDocuments) -> BucketRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(f"{_WITH_DOCUMENTS} WHERE b.name = ?", (*documents, name))
        return None if row is None else BucketRecord(*row)

    async def list_buckets(self, owner: str, documents: RecordDocuments) -> list[BucketRecord]:
        async with self.db.single() as tx:
            rows = await tx.all(
                f"{_WITH_DOCUMENTS} WHERE b.owner = ? ORDER BY b.name", (*documents, owner)
            )
        return [BucketRecord(*row) for row in rows]

    async def set_bucket_acl(self, name: str, acl: str | None) -> None:
        await self.write("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name))

    async def set_versioning(self, name: str, state: str) -> bool:
        """Set the bucket's versioning state ("Enabled" or "Suspended"); False if no bucket.
        Writers read the state in their commit's transaction (holding the bucket row)."""
        return (
            await self.write("UPDATE buckets SET versioning = ? WHERE name = ?", (state, name)) > 0
        )

    async def delete_bucket(self, name: str) -> BucketDeletion:
        """Delete a bucket that holds no object. Returns "deleted", "missing" or "not-empty".

        Unfinished multipart uploads do not keep a bucket alive (as on S3): they are aborted in
        the same transaction and their parts' chunks queued for deletion.
        """

        async def body(tx: Transaction) -> BucketDeletion:
            # The bucket row locked: commits into it wait (they hold it FOR SHARE), then see
            # it gone. The uploads locked: parts being committed land before we look.
            locked = f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_update}"
            if await tx.one(locked, (name,)) is None:
                return "missing"
            for table in ("objects", "versions"):  # versions and delete markers count too
                if await tx.one(f"SELECT 1 FROM {table} WHERE bucket = ? LIMIT 1", (name,)):
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
