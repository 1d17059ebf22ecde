"""Catalog queries for versions: reads by version id, deletes that write delete markers or
remove one version, and the listing of versions (see versionrows.py for the invariant)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from s3compat.catalog.backend import Queries, Transaction
from s3compat.catalog.chunkrows import select_chunks
from s3compat.catalog.versionrows import (
    ALL_VERSIONS,
    add_marker,
    make_room,
    promote_latest,
    retire_version,
    versioning_of,
)
from s3compat.records import ChunkRecord, ObjectRecord


def _selector(version_id: int | None) -> tuple[str, tuple[object, ...]]:
    """The SQL condition naming one version: an id, or (None) the null version."""
    if version_id is None:
        return "null_version = 1", ()
    return "version_id = ?", (version_id,)


async def _find(
    tx: Transaction, bucket: str, key: str, version_id: int | None
) -> ObjectRecord | None:
    cond, params = _selector(version_id)
    sql = f"SELECT * FROM ({ALL_VERSIONS.format(cond='= ?')}) AS v WHERE {cond}"
    row = await tx.one(sql, (bucket, key, bucket, key, *params))
    return None if row is None else ObjectRecord.from_row(row)


@dataclass(frozen=True)
class KeyDeletion:
    """What a delete without a version id did: `marker` is the delete marker it wrote (in a
    bucket whose versioning was ever enabled), None where the current version was removed."""

    outcome: Literal["deleted", "no-bucket", "changed"]
    marker: ObjectRecord | None = None


class VersionQueries(Queries):
    """Versions by id, deletes that write markers, and the listing of versions."""

    async def get_version(
        self, bucket: str, key: str, version_id: int | None
    ) -> tuple[ObjectRecord, list[ChunkRecord]] | None:
        """A version (None: the null version) and its chunks, read together."""
        async with self.db.snapshot() as tx:
            record = await _find(tx, bucket, key, version_id)
            if record is None:
                return None
            chunks = await select_chunks(tx, "version_id = ?", (record.version_id,))
        return record, chunks

    async def head_version(
        self, bucket: str, key: str, version_id: int | None
    ) -> ObjectRecord | None:
        async with self.db.single() as tx:
            return await _find(tx, bucket, key, version_id)

    async def latest_version(self, bucket: str, key: str) -> ObjectRecord | None:
        """The key's latest version, a delete marker included (None: the key has none)."""
        async with self.db.single() as tx:
            row = await tx.one(
                f"SELECT * FROM ({ALL_VERSIONS.format(cond='= ?')}) AS v "
                "ORDER BY version_id DESC LIMIT 1",
                (bucket, key, bucket, key),
            )
        return None if row is None else ObjectRecord.from_row(row)

    async def delete_key(
        self,
        bucket: str,
        key: str,
        *,
        owner: str,
        grace_seconds: float,
        expected: int | None = None,
    ) -> KeyDeletion:
        """Delete the key as a request without a version id does: in a bucket never versioned
        the current version goes (its chunks queued after the grace); otherwise a delete marker
        becomes the latest version, the current object staying as a noncurrent version (or
        going, if it is the null version of a suspended bucket). With `expected`, only if that
        version is still the current object ("changed" otherwise)."""

        async def body(tx: Transaction) -> KeyDeletion:
            state = await versioning_of(tx, self.locks, bucket)
            if state == "missing":
                return KeyDeletion("no-bucket")
            await self.locks.key(tx, bucket, key)
            current = await tx.one(
                "SELECT version_id FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            )
            if expected is not None and (current is None or current["version_id"] != expected):
                return KeyDeletion("changed")
            not_before = time.time() + grace_seconds
            if state == "never":
                if current is not None:
                    await retire_version(tx, current["version_id"], not_before)
                return KeyDeletion("deleted")
            enabled = state == "Enabled"
            await make_room(tx, bucket, key, enabled=enabled, not_before=not_before)
            marker = await add_marker(tx, bucket, key, owner=owner, enabled=enabled)
            return KeyDeletion("deleted", marker)

        return await self.db.retrying(body)

    async def delete_version(
        self,
        bucket: str,
        key: str,
        version_id: int | None,
        *,
        grace_seconds: float,
        check: Callable[[ObjectRecord], None] | None = None,
    ) -> ObjectRecord | None:
        """Remove one version for good (None: the null version); its chunks are queued after
        the grace. If it was the latest, the next newest becomes latest. Returns what was
        removed, None if the key had no such version. `check` sees the version inside the
        transaction and may refuse its removal by raising."""

        async def body(tx: Transaction) -> ObjectRecord | None:
            await self.locks.key(tx, bucket, key)
            found = await _find(tx, bucket, key, version_id)
            if found is None:
                return None
            if check is not None:
                check(found)
            await retire_version(tx, found.version_id, time.time() + grace_seconds)
            await promote_latest(tx, bucket, key)
            return found

        return await self.db.retrying(body)

    async def rewrite_headers(
        self,
        bucket: str,
        key: str,
        version_id: int,
        change: Callable[[ObjectRecord], dict[str, str]],
    ) -> ObjectRecord | None:
        """Replace one version's stored headers by `change(version)` (which may refuse by
        raising), read and written in one transaction; None if the key has no such version."""

        async def body(tx: Transaction) -> ObjectRecord | None:
            await self.locks.key(tx, bucket, key)
            found = await _find(tx, bucket, key, version_id)
            if found is None or found.delete_marker:
                return found
            headers = json.dumps(change(found))
            for table in ("objects", "versions"):
                await tx.execute(
                    f"UPDATE {table} SET headers = ? WHERE version_id = ?", (headers, version_id)
                )
            return found

        return await self.db.retrying(body)

    async def update_version(
        self, bucket: str, key: str, version_id: int | None, column: str, value: str | None
    ) -> bool:
        """Change one version's ACL or tags in place. False if the key has no such version
        (or it is a delete marker, which has neither)."""
        assert column in ("acl", "tags")
        cond, params = _selector(version_id)

        async def body(tx: Transaction) -> int:
            await self.locks.key(tx, bucket, key)
            changed = 0
            for table, extra in (("objects", ""), ("versions", " AND delete_marker = 0")):
                changed += await tx.execute(
                    f"UPDATE {table} SET {column} = ? WHERE bucket = ? AND key = ? "
                    f"AND {cond}{extra}",
                    (value, bucket, key, *params),
                )
            return changed

        return await self.db.retrying(body) > 0

    async def list_versions(
        self,
        bucket: str,
        *,
        start: str,
        inclusive: bool,
        below_version: int | None = None,
        end: str | None,
        limit: int,
    ) -> list[ObjectRecord]:
        """Up to `limit` versions and delete markers of `bucket` in S3's order (key, then
        newest first), from key `start` (inclusive or not) to `end` (exclusive). With
        `below_version`, the versions of key `start` older than that one come first."""
        bounds = ">= ?" if inclusive or below_version is not None else "> ?"
        params: list[object] = [start]
        if end is not None:
            bounds += " AND key < ?"
            params.append(end)
        sql = f"SELECT * FROM ({ALL_VERSIONS.format(cond=bounds)}) AS v"
        all_params: list[object] = [bucket, *params, bucket, *params]
        if below_version is not None:
            sql += " WHERE key > ? OR version_id < ?"
            all_params += [start, below_version]
        sql += " ORDER BY key, version_id DESC LIMIT ?"
        async with self.db.single() as tx:
            rows = await tx.all(sql, [*all_params, limit])
        return [ObjectRecord.from_row(row) for row in rows]
