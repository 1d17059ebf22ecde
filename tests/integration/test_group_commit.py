"""Group commit in the catalog's Database, on a real SQLite file.

Concurrent `transaction()` callers share one BEGIN IMMEDIATE ... COMMIT, each inside a savepoint
of its own: one caller's error undoes its own statements only, and nobody's `async with` returns
before the COMMIT covering it has (nor is anything visible to another connection before that).
Reads go through a second connection that only ever sees committed state.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s3compat.catalog import sqlite_connection
from s3compat.catalog.db import Database
from s3compat.outage import Unavailable

SETTLE_SECONDS = 0.3


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "catalog.db")
    await database.open()
    yield database
    await database.close()


def outside_view(db: Database, name: str) -> str | None:
    """What an independent connection (another process, say) sees under `name`."""
    with sqlite3.connect(f"file:{db.path}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


async def catalog_view(db: Database, name: str) -> str | None:
    async with db.single() as tx:
        row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
    return None if row is None else str(row["value"])


async def insert(db: Database, name: str, *, before_exit: asyncio.Event | None = None) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (name, f"v-{name}"))
        if before_exit is not None:
            await before_exit.wait()


async def until_waiting(db: Database, count: int) -> None:
    """Until `count` transaction() callers are queued for the writer (the callers a group is
    formed from; private, as nothing else shows them)."""
    for _ in range(1000):
        if db._waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} callers never queued for the writer")


async def test_a_member_returns_only_with_the_commit_of_its_group(db: Database) -> None:
    hold_first = asyncio.Event()
    hold_second = asyncio.Event()
    first = asyncio.create_task(insert(db, "first", before_exit=hold_first))
    await asyncio.sleep(SETTLE_SECONDS)  # first is inside its body, holding the writer
    second = asyncio.create_task(insert(db, "second", before_exit=hold_second))
    await until_waiting(db, 1)

    hold_first.set()  # first's body ends; second, waiting, joins its group and holds it open
    await asyncio.sleep(SETTLE_SECONDS)
    assert not first.done(), "first returned before the COMMIT that covers it"
    assert outside_view(db, "first") is None
    assert await catalog_view(db, "first") is None

    hold_second.set()
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    for name in ("first", "second"):
        assert outside_view(db, name) == f"v-{name}"
        assert await catalog_view(db, name) == f"v-{name}"


async def test_one_failing_member_rolls_back_only_its_own_statements(db: Database) -> None:
    hold_first = asyncio.Event()
    first = asyncio.create_task(insert(db, "first", before_exit=hold_first))
    await asyncio.sleep(SETTLE_SECONDS)

    failure = ValueError("this member fails after writing")

    async def failing() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (name, value) VALUES ('failing', 'x')")
            await tx.execute("UPDATE meta SET value = 'changed' WHERE name = 'first'")
            raise failure

    async def duplicate() -> None:  # SQLite itself refuses this member's statement
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (name, value) VALUES ('dup', 'a')")
            await tx.execute("INSERT INTO meta (name, value) VALUES ('dup', 'b')")

    members = [
        asyncio.create_task(failing()),
        asyncio.create_task(duplicate()),
        asyncio.create_task(insert(db, "third")),
    ]
    await until_waiting(db, 3)
    hold_first.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*members, return_exceptions=True), 10)
    await asyncio.wait_for(first, 10)

    assert outcomes[0] is failure
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert outcomes[2] is None
    assert outside_view(db, "first") == "v-first"
    assert outside_view(db, "third") == "v-third"
    assert outside_view(db, "failing") is None
    assert outside_view(db, "dup") is None


async def test_many_concurrent_transactions_all_commit(db: Database) -> None:
    names = [f"key-{number:03d}" for number in range(200)]
    await asyncio.wait_for(asyncio.gather(*(insert(db, name) for name in names)), 60)
    with sqlite3.connect(f"file:{db.path}?mode=ro", uri=True) as connection:
        stored = {row[0] for row in connection.execute("SELECT name FROM meta")}
    assert set(names) <= stored


async def test_a_caller_cancelled_while_queued_leaves_the_group_to_commit(db: Database) -> None:
    hold_first = asyncio.Event()
    first = asyncio.create_task(insert(db, "first", before_exit=hold_first))
    await asyncio.sleep(SETTLE_SECONDS)
    queued = asyncio.create_task(insert(db, "queued"))
    await until_waiting(db, 1)
    queued.cancel()
    hold_first.set()
    await asyncio.wait_for(first, 10)
    assert outside_view(db, "first") == "v-first"
    assert outside_view(db, "queued") is None
    await asyncio.wait_for(insert(db, "after"), 10)  # the writer is free again
    assert outside_view(db, "after") == "v-after"


async def test_a_snapshot_sees_one_committed_state(db: Database) -> None:
    await insert(db, "before")
    async with db.snapshot() as tx:
        first = await tx.all("SELECT name FROM meta WHERE name IN ('before', 'during')")
        await insert(db, "during")  # committed by the writer meanwhile
        second = await tx.all("SELECT name FROM meta WHERE name IN ('before', 'during')")
    assert [row["name"] for row in first] == ["before"]
    assert [row["name"] for row in second] == ["before"]
    assert await catalog_view(db, "during") == "v-during"  # the next read sees the commit


async def test_a_write_waits_for_another_process_lock_then_goes_on(db: Database) -> None:
    """Another connection (as another gateway worker would) holds the write lock: a write
    waits, then commits as soon as the lock is free."""
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO meta (name, value) VALUES ('other', 'first')")

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO meta (name, value) VALUES ('mine', 'second')")

        waiting = asyncio.ensure_future(write())
        await asyncio.sleep(SETTLE_SECONDS)
        assert not waiting.done()
        other.execute("COMMIT")
        await asyncio.wait_for(waiting, 10)
    finally:
        other.close()
    assert await catalog_view(db, "other") == "first"
    assert outside_view(db, "mine") == "second"


async def test_a_write_gives_up_when_the_lock_stays_taken(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_connection, "BUSY_TIMEOUT_MS", 300)
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable) as raised:  # answered 503, not 500
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO meta (name, value) VALUES ('mine', 'lost')")
        assert "locked" in str(raised.value)
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert outside_view(db, "mine") is None
    async with db.transaction() as tx:  # the catalog goes on once the lock is free
        await tx.execute("INSERT INTO meta (name, value) VALUES ('mine', 'later')")
    assert outside_view(db, "mine") == "later"
