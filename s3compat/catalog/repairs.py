"""Catalog queries for repair: segments short of pieces, and swapping rebuilt pieces in.

A segment is the set of chunk rows of one owner (an object version or an upload), part and
offset; in the striped layout it should hold 6+parity pieces, one per role, each on a server
that is neither lost nor removed, none of them queued as damaged. A segment that falls short
is *under-protected*; repair rebuilds what it lacks and `replace_segment_pieces` swaps the new
pieces in, in one transaction that first checks the segment is still the one repair read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from s3compat.catalog.backend import CatalogDatabase, Queries, Transaction
from s3compat.catalog.chunkrows import attach_chunks, id_batches, queue_deletions, select_chunks
from s3compat.records import ChunkRecord, ServerState

# The servers whose pieces count as gone.
GONE_STATES: tuple[ServerState, ...] = ("lost", "removed")
# A segment's identity; NULL owners are folded so that row values compare.
_KEY = "coalesce(version_id, -1), coalesce(upload_id, ''), part_number"
_SEGMENT_KEY = f'{_KEY}, "offset"'
# The same, named for an outer query over a subquery's rows: (v, u, p).
_KEY_AS = "coalesce(version_id, -1) AS v, coalesce(upload_id, '') AS u, part_number AS p"
_GONE = "(SELECT server_id FROM servers WHERE state IN ('lost', 'removed'))"
_SHORT = (
    "count(*) < 6 + max(parity) "
    f"OR sum(CASE WHEN server_id IN {_GONE} THEN 1 ELSE 0 END) > 0 "
    "OR sum(CASE WHEN chunk_id IN (SELECT chunk_id FROM damaged_chunks) THEN 1 ELSE 0 END) > 0"
)

SegmentKey = tuple[int, str, int, int]
# The reason noted on a piece of a segment whose write stored fewer pieces than its roles.
SHORT = "short"


class SegmentChanged(Exception):
    """The segment is not the one repair read (rewritten, deleted, completed into another)."""


class RepairCatalog(Queries):
    async def short_segments(self, after: SegmentKey | None, limit: int) -> list[SegmentKey]:
        """Keys of striped segments missing a piece, holding one on a gone server, or holding
        one queued as damaged; in key order after `after`."""
        cursor = after or (-2, "", -1, -1)
        return await self._segment_keys(
            f"SELECT {_SEGMENT_KEY} FROM chunks WHERE layout = 2 AND ({_SEGMENT_KEY}) > "
            f"(?, ?, ?, ?) GROUP BY {_SEGMENT_KEY} HAVING {_SHORT} "
            f"ORDER BY {_SEGMENT_KEY} LIMIT ?",
            (*cursor, limit),
        )

    async def count_short_segments(self) -> tuple[int, int]:
        """(segments under-protected, objects or uploads they belong to)."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(
                f"SELECT {_KEY} FROM chunks WHERE layout = 2 "
                f"GROUP BY {_SEGMENT_KEY} HAVING {_SHORT}"
            )
        return len(rows), len({(r[0], r[1]) for r in rows})

    async def weak_segments(
        self, parity: int, after: SegmentKey | None, limit: int
    ) -> list[SegmentKey]:
        """Keys of segments with less parity than `parity`: contiguous ones (offset -1 stands
        for the whole part) and striped ones written with fewer parity pieces."""
        cursor = after or (-2, "", -1, -2)
        return await self._segment_keys(
            f"SELECT v, u, p, at FROM (SELECT {_KEY_AS}, "
            'CASE WHEN layout = 1 THEN -1 ELSE "offset" END AS at '
            "FROM chunks WHERE layout = 1 OR parity < ?) AS weak "
            "WHERE (v, u, p, at) > (?, ?, ?, ?) GROUP BY v, u, p, at "
            "ORDER BY v, u, p, at LIMIT ?",
            (parity, *cursor, limit),
        )

    async def segment_chunks(self, key: SegmentKey) -> list[ChunkRecord]:
        async with self.db.snapshot() as tx:
            return await _segment_rows(tx, key)

    async def damage_of(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """Which of these chunks are queued as damaged, and why."""
        async with self.db.snapshot() as tx:
            rows = await _rows_in(
                tx, "SELECT chunk_id, reason FROM damaged_chunks WHERE chunk_id IN (?s)", chunk_ids
            )
        return {row[0]: row[1] for row in rows}

    async def clear_damage(self, chunk_ids: Sequence[str]) -> None:
        """Forget damage reports found false (the piece verified whole) or of gone chunks."""

        async def body(tx: Transaction) -> None:
            await tx.many(
                "DELETE FROM damaged_chunks WHERE chunk_id = ?", [(c,) for c in chunk_ids]
            )

        await self.db.retrying(body)

    async def forget_stale_damage(self, noted_before: float) -> int:
        """Drop damage reports noted before `noted_before` of chunks no longer in the catalog
        (a report may precede its chunk's commit: young ones stay)."""

        return await self.write(
            "DELETE FROM damaged_chunks WHERE noted_at < ? AND chunk_id NOT IN "
            "(SELECT chunk_id FROM chunks)",
            (noted_before,),
        )

    async def suspect_segments(self, after: SegmentKey | None, limit: int) -> list[SegmentKey]:
        """Keys of striped segments with a piece reported damaged (or noted short by its
        write) or on a gone server: what a pass between full scans looks at, found through
        indexes instead of a scan of every chunk."""
        cursor = after or (-2, "", -1, -1)
        return await self._segment_keys(
            f"SELECT DISTINCT v, u, p, o FROM (SELECT {_KEY_AS}, "
            '"offset" AS o FROM chunks WHERE layout = 2 AND chunk_id IN '
            "(SELECT chunk_id FROM damaged_chunks) "
            f"UNION SELECT {_KEY}, "
            f'"offset" FROM chunks WHERE layout = 2 AND server_id IN {_GONE}'
            ") AS suspects WHERE (v, u, p, o) > (?, ?, ?, ?) ORDER BY v, u, p, o LIMIT ?",
            (*cursor, limit),
        )

    async def replace_segment_pieces(
        self,
        key: SegmentKey,
        seen: Sequence[ChunkRecord],
        replaced: Sequence[ChunkRecord],
        new: Sequence[ChunkRecord],
        *,
        grace_seconds: float,
    ) -> None:
        """Swap `replaced` (some of the rows `seen`) for `new` (written under intents), in one
        transaction, and queue the replaced pieces for deletion after the readers' grace.
        Raises SegmentChanged when the segment's rows are no longer exactly `seen` (its owner
        or offset may have changed, as completing an upload does: the new rows follow them);
        IntentsLost when this process's intents were collected."""

        async def body(tx: Transaction) -> None:
            current = await _rows_by_id(tx, [c.chunk_id for c in seen])
            if {c.chunk_id for c in seen} != set(current) or any(
                current[c.chunk_id][0] != c.server_id for c in seen
            ):
                raise SegmentChanged(f"segment {key} changed while it was repaired")
            first = seen[0]
            _, version_id, upload_id, part_number, offset = current[first.chunk_id]
            owner = "version_id = ?" if version_id is not None else "upload_id = ?"
            rows = await tx.one(
                f"SELECT count(*) FROM chunks WHERE {owner} AND part_number = ? AND "
                + ("layout = 1" if first.layout == 1 else 'layout = 2 AND "offset" = ?'),
                (version_id if version_id is not None else upload_id, part_number)
                + (() if first.layout == 1 else (offset,)),
            )
            if rows is None or int(rows[0]) != len(seen):
                raise SegmentChanged(f"segment {key} gained pieces while it was repaired")
            for batch, marks in id_batches([c.chunk_id for c in replaced]):
                await tx.execute(f"DELETE FROM chunks WHERE chunk_id IN ({marks})", batch)
                await tx.execute(f"DELETE FROM damaged_chunks WHERE chunk_id IN ({marks})", batch)
            await queue_deletions(
                tx, [(c.chunk_id, c.server_id) for c in replaced], time.time() + grace_seconds
            )
            # Offsets as the owner has them now: completing an upload shifts its parts' rows.
            shift = int(offset) - first.offset
            moved = [replace(c, offset=c.offset + shift) for c in new]
            await attach_chunks(tx, moved, version_id=version_id, upload_id=upload_id)

        await self.db.retrying(body)

    async def _segment_keys(self, sql: str, params: Sequence[object]) -> list[SegmentKey]:
        """The segment keys a query's rows (version, upload, part, offset) name, in order."""
        async with self.db.snapshot() as tx:
            rows = await tx.all(sql, params)
        return [_segment_key(r) for r in rows]


def _segment_key(row: Any) -> SegmentKey:
    return (int(row[0]), str(row[1]), int(row[2]), int(row[3]))


async def _rows_by_id(
    tx: Transaction, chunk_ids: Sequence[str]
) -> dict[str, tuple[str, int | None, str | None, int, int]]:
    rows = await _rows_in(
        tx,
        'SELECT chunk_id, server_id, version_id, upload_id, part_number, "offset" '
        "FROM chunks WHERE chunk_id IN (?s)",
        chunk_ids,
    )
    return {r[0]: (r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows}


async def _rows_in(tx: Transaction, sql: str, ids: Sequence[str]) -> list[Any]:
    """The rows of `sql`, whose `IN (?s)` takes `ids`, asked in batches of at most BATCH."""
    rows: list[Any] = []
    for batch, marks in id_batches(ids):
        rows += await tx.all(sql.replace("?s", marks), batch)
    return rows


async def _segment_rows(tx: Transaction, key: SegmentKey) -> list[ChunkRecord]:
    version_id, upload_id, part_number, offset = key
    owner = "version_id = ?" if version_id >= 0 else "upload_id = ?"
    where = f"{owner} AND part_number = ? AND " + (
        "layout = 1" if offset < 0 else 'layout = 2 AND "offset" = ?'
    )
    params: list[object] = [version_id if version_id >= 0 else upload_id, part_number]
    if offset >= 0:
        params.append(offset)
    return await select_chunks(tx, where, params)


async def segments_holding(db: CatalogDatabase, chunk_ids: Sequence[str]) -> set[SegmentKey]:
    """The keys of the segments these chunks belong to."""
    async with db.snapshot() as tx:
        rows = await _rows_in(
            tx,
            f'SELECT {_KEY}, CASE WHEN layout = 1 THEN -1 ELSE "offset" END FROM chunks '
            "WHERE chunk_id IN (?s)",
            chunk_ids,
        )
    return {_segment_key(r) for r in rows}


async def owner_names(db: CatalogDatabase, keys: Sequence[SegmentKey]) -> dict[SegmentKey, str]:
    """`bucket/key` of each segment's object (`upload ID` for an upload's part)."""
    names: dict[SegmentKey, str] = {}
    async with db.snapshot() as tx:
        for key in keys:
            version_id, upload_id = key[0], key[1]
            if version_id < 0:
                names[key] = f"upload {upload_id}"
                continue
            row = await tx.one(
                "SELECT bucket, key FROM objects WHERE version_id = ?", (version_id,)
            )
            names[key] = f"{row[0]}/{row[1]}" if row else f"version {version_id}"
    return names


async def count_objects(db: CatalogDatabase) -> int:
    async with db.snapshot() as tx:
        row = await tx.one("SELECT count(*) FROM objects")
    return int(row[0]) if row else 0
