"""Catalog queries for multipart uploads: uploads, their parts, completion and abort.

Parts own their chunks (`chunks.upload_id`, offsets within the part) until Complete moves the
chosen parts' chunks to the new object version in the same transaction that makes it current.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from s3compat.catalog.catalog import CHUNK_COLUMNS, _retire_version, attach_chunks
from s3compat.catalog.db import Database, Tx
from s3compat.catalog.records import (
    INSERT_OBJECT,
    OBJECT_COLUMNS,
    ChunkRecord,
    ObjectRecord,
    UploadPartRecord,
    UploadRecord,
)

UPLOAD_COLUMNS = (
    "upload_id, bucket, key, owner, initiated_at, headers, checksum_algorithm, checksum_type, "
    "acl, tags"
)
PART_COLUMNS = "part_number, size, etag, last_modified, checksum"
# How long a completed upload is remembered so that a retried Complete succeeds again.
COMPLETED_MEMORY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class CompletionPlan:
    """What Complete commits: the object, and the parts it is made of in order."""

    record: ObjectRecord
    part_numbers: list[int]
    request_digest: str


def _upload(row: object) -> UploadRecord:
    values = dict(row)  # type: ignore[call-overload]
    values["headers"] = json.loads(values["headers"])
    values["tags"] = None if values["tags"] is None else json.loads(values["tags"])
    return UploadRecord(**values)


class UploadCatalog:
    """Multipart uploads in the catalog."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, upload: UploadRecord) -> None:
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO uploads ({UPLOAD_COLUMNS}, last_activity) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                    now,
                ),
            )

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
        go to the deletion queue). False if the upload is gone."""
        async with self.db.transaction() as tx:
            if await tx.one("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)) is None:
                return False
            await _retire_part_chunks(tx, upload_id, part.part_number, time.time() + grace_seconds)
            await tx.execute(
                f"INSERT OR REPLACE INTO upload_parts (upload_id, {PART_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?)",
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
        sql = (
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? "
            f"AND (key, upload_id) {operator} (?, ?)"
        )
        params: list[object] = [bucket, *start]
        if end is not None:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key, upload_id LIMIT ?"
        params.append(limit)
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
    ) -> ObjectRecord | None:
        """Turn the upload into the current version of its key, in one transaction.

        `plan_for` (pure; may raise to refuse) sees the upload and all its parts inside the
        transaction, so no part can change between the check and the commit. Returns None if
        the upload does not exist; a retry of a Complete that already succeeded (same request
        digest, object still current) returns that object again.
        """
        async with self.db.transaction() as tx:
            row = await tx.one(
                f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)
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
            if await tx.one("SELECT 1 FROM buckets WHERE name = ?", (upload.bucket,)) is None:
                return None
            old = await tx.one(
                "SELECT version_id FROM objects WHERE bucket = ? AND key = ?",
                (upload.bucket, upload.key),
            )
            if old is not None:
                await _retire_version(tx, old["version_id"], time.time() + grace_seconds)
            version_id = await tx.insert(
                INSERT_OBJECT,
                plan.record.to_row(),
            )
            sizes = {p.part_number: p.size for p in parts}
            offset = 0
            for number in plan.part_numbers:
                await tx.execute(
                    "UPDATE chunks SET version_id = ?, upload_id = NULL, offset = offset + ? "
                    "WHERE upload_id = ? AND part_number = ?",
                    (version_id, offset, upload_id, number),
                )
                offset += sizes[number]
            await _drop_upload(tx, upload_id, time.time())
            await tx.execute(
                "INSERT OR REPLACE INTO completed_uploads (upload_id, version_id, request_digest, "
                "completed_at) VALUES (?, ?, ?, ?)",
                (upload_id, version_id, request_digest, time.time()),
            )
            await tx.execute(
                "DELETE FROM completed_uploads WHERE completed_at < ?",
                (time.time() - COMPLETED_MEMORY_SECONDS,),
            )
        return ObjectRecord(**{**plan.record.__dict__, "version_id": version_id})

    async def abort(self, upload_id: str) -> bool:
        """Drop the upload; every chunk of its parts is due for deletion now."""
        async with self.db.transaction() as tx:
            if await tx.one("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)) is None:
                return False
            await _drop_upload(tx, upload_id, time.time())
        return True

    async def idle_since(self, before: float, limit: int = 1000) -> list[str]:
        """Uploads with no activity since `before`."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                "SELECT upload_id FROM uploads WHERE last_activity < ? LIMIT ?", (before, limit)
            )
        return [row[0] for row in rows]

    async def chunks_of_part(self, upload_id: str, part_number: int) -> list[ChunkRecord]:
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE upload_id = ? AND part_number = ? "
                "ORDER BY offset, piece",
                (upload_id, part_number),
            )
        return [ChunkRecord(*row) for row in rows]


async def _retire_part_chunks(tx: Tx, upload_id: str, part_number: int, not_before: float) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
        "SELECT chunk_id, server_id, ? FROM chunks WHERE upload_id = ? AND part_number = ?",
        (not_before, upload_id, part_number),
    )
    await tx.execute(
        "DELETE FROM chunks WHERE upload_id = ? AND part_number = ?", (upload_id, part_number)
    )


async def _drop_upload(tx: Tx, upload_id: str, not_before: float) -> None:
    """Remove the upload's rows; chunks still attached to it (unused parts) go to deletion."""
    await tx.execute(
        "INSERT OR IGNORE INTO deletions (chunk_id, server_id, not_before) "
        "SELECT chunk_id, server_id, ? FROM chunks WHERE upload_id = ?",
        (not_before, upload_id),
    )
    await tx.execute("DELETE FROM chunks WHERE upload_id = ?", (upload_id,))
    await tx.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))
    await tx.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))


async def _completed_before(tx: Tx, upload_id: str, request_digest: str) -> ObjectRecord | None:
    row = await tx.one(
        "SELECT version_id, request_digest FROM completed_uploads WHERE upload_id = ?", (upload_id,)
    )
    if row is None or row["request_digest"] != request_digest:
        return None
    current = await tx.one(
        f"SELECT version_id, {OBJECT_COLUMNS} FROM objects WHERE version_id = ?",
        (row["version_id"],),
    )
    return None if current is None else ObjectRecord.from_row(current)
