"""The steps of a transaction that writes versions (as chunkrows.py holds those for chunks).

The invariant (schema migration 5): the latest version of a key is the one with the highest
version_id in `objects` and `versions` together; it is in `objects` exactly when it is not a
delete marker, and `objects` holds no other version of the key. A bucket whose versioning was
never enabled has no `versions` rows, so everything there behaves as before versioning.

Each step below runs inside the caller's transaction, after the caller took the key's lock.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal

from s3compat.catalog.backend import Locks, Transaction
from s3compat.catalog.chunkrows import retire_chunks
from s3compat.records import INSERT_OBJECT, OBJECT_COLUMNS, ObjectRecord

# A bucket's versioning as a writer reads it in its transaction ("missing": no such bucket).
Versioning = Literal["missing", "never", "Enabled", "Suspended"]

VERSION_ROW = f"version_id, {OBJECT_COLUMNS}"
_TO_HISTORY = (
    f"INSERT INTO versions ({VERSION_ROW}, delete_marker) "
    f"SELECT {VERSION_ROW}, ? FROM objects WHERE version_id = ?"
)
_FROM_HISTORY = (
    f"INSERT INTO objects ({VERSION_ROW}) SELECT {VERSION_ROW} FROM versions WHERE version_id = ?"
)
# Both tables as one, for reads by version and for listing versions.
ALL_VERSIONS = (
    f"SELECT {VERSION_ROW}, 0 AS delete_marker FROM objects WHERE bucket = ? AND key {{cond}} "
    f"UNION ALL SELECT {VERSION_ROW}, delete_marker FROM versions WHERE bucket = ? AND key {{cond}}"
)


async def versioning_of(tx: Transaction, locks: Locks, bucket: str) -> Versioning:
    """The bucket's versioning, holding its row (FOR SHARE) so that it is not deleted or
    switched before this transaction ends."""
    row = await tx.one(f"SELECT versioning FROM buckets WHERE name = ?{locks.for_share}", (bucket,))
    if row is None:
        return "missing"
    state = row["versioning"]
    return "Enabled" if state == "Enabled" else "Suspended" if state == "Suspended" else "never"


async def make_room(
    tx: Transaction, bucket: str, key: str, *, enabled: bool, not_before: float
) -> None:
    """Before a new latest version of the key (an object or a delete marker): the current
    object becomes noncurrent when versioning is enabled or when it has a version id of its
    own; otherwise (the null version being replaced) it is retired. A new null version also
    retires the noncurrent null version, as S3 keeps at most one."""
    old = await tx.one(
        "SELECT version_id, null_version FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
    )
    if old is not None:
        if enabled or not old["null_version"]:
            await _to_history(tx, old["version_id"], marker=False)
        else:
            await retire_version(tx, old["version_id"], not_before)
    if not enabled:
        nulls = await tx.all(
            "SELECT version_id FROM versions WHERE bucket = ? AND key = ? AND null_version = 1",
            (bucket, key),
        )
        for row in nulls:
            await retire_version(tx, row["version_id"], not_before)


async def add_marker(
    tx: Transaction, bucket: str, key: str, *, owner: str, enabled: bool
) -> ObjectRecord:
    """A delete marker as the key's latest version (after `make_room`). Its version id comes
    from the objects' sequence, like every version's, so that ids order a key's versions."""
    marker = ObjectRecord(
        bucket, key, 0, "", time.time(), owner, {}, null_version=not enabled, delete_marker=True
    )
    version_id = await insert_object(tx, marker)
    await _to_history(tx, version_id, marker=True)
    return replace(marker, version_id=version_id)


async def promote_latest(tx: Transaction, bucket: str, key: str) -> None:
    """After a version was removed: if the key has no current object and its newest remaining
    version is an object (not a delete marker), that version becomes current again."""
    if await tx.one("SELECT 1 FROM objects WHERE bucket = ? AND key = ?", (bucket, key)):
        return
    newest = await tx.one(
        "SELECT version_id, delete_marker FROM versions WHERE bucket = ? AND key = ? "
        "ORDER BY version_id DESC LIMIT 1",
        (bucket, key),
    )
    if newest is None or newest["delete_marker"]:
        return
    await tx.execute(_FROM_HISTORY, (newest["version_id"],))
    await tx.execute("DELETE FROM versions WHERE version_id = ?", (newest["version_id"],))


async def _to_history(tx: Transaction, version_id: int, *, marker: bool) -> None:
    await tx.execute(_TO_HISTORY, (int(marker), version_id))
    await tx.execute("DELETE FROM objects WHERE version_id = ?", (version_id,))


async def insert_object(tx: Transaction, record: ObjectRecord) -> int:
    """Insert an object row; return its new version id."""
    row = await tx.one(INSERT_OBJECT, record.to_row())
    assert row is not None
    return int(row[0])


async def retire_version(tx: Transaction, version_id: int, not_before: float) -> None:
    """Remove a version (current or not); queue its chunks for deletion, deferred for readers."""
    await retire_chunks(tx, "version_id = ?", (version_id,), not_before)
    await tx.execute("DELETE FROM objects WHERE version_id = ?", (version_id,))
    await tx.execute("DELETE FROM versions WHERE version_id = ?", (version_id,))
