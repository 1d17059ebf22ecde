"""Catalog queries for multipart uploads: uploads, their parts, completion and abort.

Parts own their chunks (`chunks.upload_id`, offsets within the part) until Complete moves the
chosen parts' chunks to the new object version in the same transaction that makes it current.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from s3compat.catalog.backend import Queries, Transaction
from s3compat.catalog.chunkrows import attach_chunks, retire_chunks, select_chunks
from s3compat.catalog.objects import SELECT_CURRENT, key_page
from s3compat.catalog.versionrows import VERSION_ROW, insert_object, make_room, versioning_of
from s3compat.records import (
    ChunkRecord,
    ObjectRecord,
    UploadPartRecord,
    UploadRecord,
)

UPLOAD_FIELDS = (
    "upload_id", "bucket", "key", "owner", "initiated_at", "headers", "checksum_algorithm",
    "checksum_type", "acl", "tags",
)  # fmt: skip
UPLOAD_COLUMNS = ", ".join(UPLOAD_FIELDS)
PART_COLUMNS = "part_number, size, etag, last_modified, checksum"
# How long a completed upload is remembered so that a retried Complete succeeds again.
COMPLETED_MEMORY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class CompletionPlan:
    """What Complete commits: the object, and the parts it is made of in order."""

    record: ObjectRecord
    part_numbers: list[int]
    request_digest: str


def _upload(row: Any) -> UploadRecord:
    values = dict(zip(UPLOAD_FIELDS, row, strict=True))
    values["headers"] = json.loads(values["headers"])
    values["tags"] = None if values["tags"] is None else json.loads(values["tags"])
    return UploadRecord(**values)


class UploadCatalog(Queries):
    """Multipart uploads in the catalog."""

    async def create(self, upload: UploadRecord) -> None:
        row = (
            upload.upload_id,
            upload.bucket,
            upload.key,
            upload.owner,
            upload.initiated_at,
            json.dumps(upload.headers),
            upload.checksum_algorithm,
            upload.checksum_type,
            upload.acl,
            None if upload.tags is None else json.dumps(upload.tags),
            time.time(),
        )

        async def body(tx: Transaction) -> None:
            # Ordered after a DeleteBucket that runs now (it locks the row FOR UPDATE), so
            # that it either sees this upload and aborts it, or runs first.
            await tx.one(
                f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_share}", (upload.bucket,)
            )
            await tx.execute(
                f"INSERT INTO uploads ({UPLOAD_COLUMNS}, last_activity) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self.db.retrying(body)

    async def get(self, upload_id: str) -> UploadRecord | None:
        async with self.db.snapshot() as tx:
            row = await tx.one(
                f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)
            )
        return None if row is None else _upload(row)

    async def commit_part(
        self,
        upload_id: str,
        part: UploadPartRecord,
        chunks: Sequence[ChunkRecord],
        *,
        grace_seconds: float,
    ) -> bool:
        """Make `part` the upload's part of that number (replacing any earlier one, whose chunks
        go to the deletion queue). False if the upload is gone; raises IntentsLost if the
        collector took the chunks."""

        async def body(tx: Transaction) -> bool:
            # The upload row locked: parts, Complete and Abort of one upload take turns.
            locked = f"SELECT 1 FROM uploads WHERE upload_id = ?{self.locks.for_update}"
            if await tx.one(locked, (upload_id,)) is None:
                return False
            await retire_chunks(
                tx,
                "upload_id = ? AND part_number = ?",
                (upload_id, part.part_number),
                time.time() + grace_seconds,
            )
            await tx.execute(
                f"INSERT INTO upload_parts (upload_id, {PART_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO UPDATE SET "
                "size = excluded.size, etag = excluded.etag, "
                "last_modified = excluded.last_modified, checksum = excluded.checksum",
                (
                    upload_id,
                    part.part_number,
                    part.size,
                    part.etag,
                    part.last_modified,
                    part.checksum,
                ),
            )
            await attach_chunks(tx, chunks, upload_id=upload_id)
            await tx.execute(
                "UPDATE uploads SET last_activity = ? WHERE upload_id = ?", (time.time(), upload_id)
            )
            return True

        return await self.db.retrying(body)

    async def list_parts(self, upload_id: str, *, after: int, limit: int) -> list[UploadPartRecord]:
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                f"SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ? AND part_number > ? "
                "ORDER BY part_number LIMIT ?",
                (upload_id, after, limit),
            )
        return [UploadPartRecord(*row) for row in rows]

    async def list_uploads(
        self, bucket: str, *, start: tuple[str, str], inclusive: bool, end: str | None, limit: int
    ) -> list[UploadRecord]:
        """Uploads of `bucket` ordered by (key, upload id), from `start` on, keys below `end`."""
        operator = ">=" if inclusive else ">"
        sql, params = key_page(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? "
            f"AND (key, upload_id) {operator} (?, ?)",
            [bucket, *start],
            end=end,
            order_by="key, upload_id",
            limit=limit,
        )
        async with self.db.snapshot() as tx:
            rows = await tx.all(sql, params)
        return [_upload(row) for row in rows]

    async def complete(
        self,
        upload_id: str,
        plan_for: Callable[[UploadRecord, list[UploadPartRecord]], CompletionPlan],
        *,
        request_digest: str,
        grace_seconds: float,
        check_current: Callable[[ObjectRecord | None], None] | None = None,
    ) -> ObjectRecord | None:
        """Turn the upload into the current version of its key, in one transaction.

        `check_current` (pure; may raise to refuse) sees the key's current version, if any,
        inside the transaction: a condition (If-Match / If-None-Match) holds through the commit.

        `plan_for` (pure; may raise to refuse) sees the upload and all its parts inside the
        transaction, so no part can change between the check and the commit. Returns None if
        the upload does not exist; a retry of a Complete that already succeeded (same request
        digest, object still current) returns that object again.
        """

        async def body(tx: Transaction) -> ObjectRecord | None:
            found = await tx.one("SELECT bucket FROM uploads WHERE upload_id = ?", (upload_id,))
            if found is not None:  # locks in order: bucket, upload, key
                bucket = f"SELECT 1 FROM buckets WHERE name = ?{self.locks.for_share}"
                await tx.one(bucket, (found[0],))
            row = await tx.one(
                f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?{self.locks.for_update}",
                (upload_id,),
            )
            if row is None:
                return await _completed_before(tx, upload_id, request_digest)
            upload = _upload(row)
            parts = [
                UploadPartRecord(*r)
                for r in await tx.all(
                    f"SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ? "
                    "ORDER BY part_number",
                    (upload_id,),
                )
            ]
            plan = plan_for(upload, parts)
            state = await versioning_of(tx, self.locks, upload.bucket)
            if state == "missing":
                return None
            await self.locks.key(tx, upload.bucket, upload.key)
            old = await tx.one(SELECT_CURRENT, (upload.bucket, upload.key))
            if check_current is not None:
                check_current(None if old is None else ObjectRecord.from_row(old))
            enabled = state == "Enabled"
            not_before = time.time() + grace_seconds
            await make_room(tx, upload.bucket, upload.key, enabled=enabled, not_before=not_before)
            record = replace(plan.record, null_version=not enabled)
            version_id = await insert_object(tx, record)
            sizes = {p.part_number: p.size for p in parts}
            offset = 0
            for number in plan.part_numbers:
                await tx.execute(
                    'UPDATE chunks SET version_id = ?, upload_id = NULL, "offset" = "offset" + ? '
                    "WHERE upload_id = ? AND part_number = ?",
                    (version_id, offset, upload_id, number),
                )
                offset += sizes[number]
            await _drop_upload(tx, upload_id, time.time())
            await tx.execute(
                "INSERT INTO completed_uploads (upload_id, version_id, request_digest, "
                "completed_at) VALUES (?, ?, ?, ?) ON CONFLICT (upload_id) DO UPDATE SET "
                "version_id = excluded.version_id, request_digest = excluded.request_digest, "
                "completed_at = excluded.completed_at",
                (upload_id, version_id, request_digest, time.time()),
            )
            await tx.execute(
                "DELETE FROM completed_uploads WHERE completed_at < ?",
                (time.time() - COMPLETED_MEMORY_SECONDS,),
            )
            return replace(record, version_id=version_id)

        return await self.db.retrying(body)

    async def abort(self, upload_id: str) -> bool:
        """Drop the upload; every chunk of its parts is due for deletion now."""

        async def body(tx: Transaction) -> bool:
            locked = f"SELECT 1 FROM uploads WHERE upload_id = ?{self.locks.for_update}"
            if await tx.one(locked, (upload_id,)) is None:
                return False
            await _drop_upload(tx, upload_id, time.time())
            return True

        return await self.db.retrying(body)

    async def idle_since(self, before: float, limit: int = 1000) -> list[str]:
        """Uploads with no activity since `before`."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                "SELECT upload_id FROM uploads WHERE last_activity < ? LIMIT ?", (before, limit)
            )
        return [row[0] for row in rows]

    async def chunks_of_part(self, upload_id: str, part_number: int) -> list[ChunkRecord]:
        async with self.db.snapshot() as tx:
            return await select_chunks(
                tx, "upload_id = ? AND part_number = ?", (upload_id, part_number)
            )


async def _drop_upload(tx: Transaction, upload_id: str, not_before: float) -> None:
    """Remove the upload's rows; chunks still attached to it (unused parts) go to deletion."""
    await retire_chunks(tx, "upload_id = ?", (upload_id,), not_before)
    await tx.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))
    await tx.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))


async def _completed_before(
    tx: Transaction, upload_id: str, request_digest: str
) -> ObjectRecord | None:
    row = await tx.one(
        "SELECT version_id, request_digest FROM completed_uploads WHERE upload_id = ?", (upload_id,)
    )
    if row is None or row["request_digest"] != request_digest:
        return None
    current = await tx.one(
        f"SELECT {VERSION_ROW} FROM objects WHERE version_id = ? "
        f"UNION ALL SELECT {VERSION_ROW} FROM versions WHERE version_id = ?",
        (row["version_id"], row["version_id"]),
    )
    return None if current is None else ObjectRecord.from_row(current)
