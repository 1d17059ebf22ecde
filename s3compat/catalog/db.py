"""The catalog's SQLite database: WAL mode, numbered migrations, group commit.

Two connections to one file:

* The **writer** runs every `transaction()`. Callers that arrive while a transaction is open or
  committing share the next ``BEGIN IMMEDIATE ... COMMIT``, each inside a SAVEPOINT of its own:
  one caller's error rolls back its own statements only, and no caller's ``async with`` returns
  before the COMMIT that covers it has returned (``synchronous=FULL``: the commit is on disk).
  Concurrent writers thus share one fsync instead of queueing for one each.
* The **reader** runs `single()` and `snapshot()`. In WAL mode it never waits for the writer and
  only ever sees committed state: a read that starts after a commit returned sees it, a write
  not yet committed (even one whose group is open) is invisible to it.

Where statements run: what can wait (``BEGIN IMMEDIATE`` for another process's write lock, up
to the busy timeout, trying again every millisecond; ``COMMIT`` for its fsync; connecting) runs
on the connection's own thread.
Everything else (the queries, savepoints) runs on the event loop: it only touches pages of a
small, hot catalog in memory, tens of microseconds, where a hop to a thread and back costs
more than the statement (and, on a busy machine, milliseconds of wake-up latency). So a member
of a group costs the loop its statements only; the group costs two hops, its BEGIN and COMMIT.

Coroutines interleave between awaits, so each connection is held by one caller at a time (an
asyncio lock each); the writer's from a member's first statement to its savepoint's release,
and across the COMMIT. No lock is held across network I/O.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from s3compat.catalog.schema import MIGRATIONS
from s3compat.catalog.sqlite_connection import (
    BUSY_TIMEOUT_MS,
    SAVEPOINT,
    Connection,
    Row,
    begin_immediate,
    end_read,
    end_savepoint,
    executemany,
    fetchall,
    fetchone,
    lastrowid,
    outages_unavailable,
    rollback_if_open,
    rowcount,
    run_statement,
)

# A group stops taking members at this size and commits; the rest form the next group.
MAX_GROUP_MEMBERS = 128


class CommitFailed(sqlite3.OperationalError):
    """The shared transaction this caller's statements were in was not committed."""


@dataclass(eq=False)
class _Group:
    """The members of one write transaction and the outcome of its COMMIT."""

    done: asyncio.Future[None]
    members: int = 0
    begun: bool = False
    # why the transaction is gone (SQLite rolled it back, or BEGIN failed): nothing commits
    broken: BaseException | None = None


class Database:
    """The catalog file: a group-committing writer and a reader, both WAL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = Connection("writer")
        self._reader = Connection("reader")
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._waiting = 0  # transaction() callers waiting for the write lock
        self._group: _Group | None = None  # the write transaction members are joining now
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = False

    async def open(self) -> None:
        """Connect, switch to WAL with full fsync, and apply any migration not yet applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        common = (f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}", "PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before we answer the client (WAL + NORMAL may lose the
        # last transactions on power loss).
        # The writer waits for the write lock itself (`begin_immediate`); nothing else it runs
        # in WAL mode waits for another process (a COMMIT does not, its checkpoint is passive).
        await self._writer.open(
            self.path,
            (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                *common,
                "PRAGMA busy_timeout=0",
            ),
        )
        self._open = True
        try:
            mode = self._writer.now(fetchone, "PRAGMA journal_mode", ())
            if mode is None or str(mode[0]).lower() != "wal":
                # Outside WAL a COMMIT waits for readers, which busy_timeout=0 does not allow.
                raise RuntimeError(f"{self.path}: SQLite would not use WAL here (got {mode})")
            await self._migrate()
            await self._reader.open(self.path, (*common, "PRAGMA query_only=ON"))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Wait for any commit still in flight, then close both connections."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._write_lock, self._read_lock:
            self._open = False
            await self._reader.close()
            await self._writer.close()

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            row = await tx.one("PRAGMA user_version")
            applied = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[applied:], start=applied + 1):
                for statement in _statements(script):
                    await tx.execute(statement)
                await tx.execute(f"PRAGMA user_version={number:d}")

    # -- writes -------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction: committed (durably) on success, rolled back on error.

        Its statements run inside a SAVEPOINT of the shared group transaction; the ``async
        with`` returns once the group's COMMIT has. An error inside rolls back this caller's
        statements only and propagates unchanged; one of the database file (locked past the
        busy timeout, full, unreadable) propagates as `Unavailable`.
        """
        group = await self._join()
        tx = Tx(self._writer, partial(self._start_member, group))
        with outages_unavailable():
            try:
                yield tx
            except BaseException as error:
                await self._run_owned(self._leave(group, tx, failed=True, cause=error))
                raise
            await self._run_owned(self._leave(group, tx, failed=False))
            try:
                await asyncio.shield(group.done)
            except CommitFailed as error:
                raise CommitFailed(str(error)) from error.__cause__

    async def _join(self) -> _Group:
        """Take the write lock and return the open group (a new one if none is open)."""
        if not self._open:
            raise RuntimeError("catalog is not open")
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        except BaseException:
            self._waiting -= 1
            self._commit_if_abandoned()
            raise
        self._waiting -= 1
        if self._group is None:
            done = asyncio.get_running_loop().create_future()
            # Marked as retrieved: members who failed on their own do not await it.
            done.add_done_callback(_retrieve)
            self._group = _Group(done)
        group = self._group
        group.members += 1
        return group

    async def _start_member(self, group: _Group) -> None:
        """Before a member's first statement: the group's BEGIN IMMEDIATE if it is the first to
        run anything (on the thread: it may wait for another process), and its SAVEPOINT."""
        if not group.begun:
            group.begun = True
            await self._writer.call(begin_immediate)
        self._writer.now(run_statement, f"SAVEPOINT {SAVEPOINT}")

    async def _leave(
        self, group: _Group, tx: Tx, *, failed: bool, cause: BaseException | None = None
    ) -> None:
        """End a member: release (or roll back) its savepoint, then hand the lock to the next
        waiting caller, who joins the same group, or, if none waits, commit the group. Runs
        as a task of its own, so that a cancelled caller cannot leave the lock held."""
        await self._writer.settle()  # the BEGIN of a member cancelled while it ran
        last = not self._waiting or group.members >= MAX_GROUP_MEMBERS
        try:
            if tx.started and not self._writer.now(end_savepoint, failed):
                # The member's error (a full disk, say) is why: every member learns it.
                rolled_back = sqlite3.OperationalError("SQLite rolled the transaction back")
                rolled_back.__cause__ = cause
                group.broken = group.broken or rolled_back
        except BaseException as error:
            group.broken = group.broken or error
        if not last and group.broken is None and self._waiting:
            self._write_lock.release()
            return
        try:
            await self._finish(group)
        finally:
            self._write_lock.release()

    async def _finish(self, group: _Group) -> None:
        """COMMIT the group (or roll back a broken one) and tell every member how it ended.
        The caller holds the write lock."""
        if self._group is group:
            self._group = None
        error = group.broken
        if error is None and group.begun:
            try:
                await self._writer.call(run_statement, "COMMIT")
            except BaseException as commit_error:
                error = commit_error
        if error is not None:
            try:
                await self._writer.settle()
                self._writer.now(rollback_if_open)
            finally:
                group.done.set_exception(
                    _commit_failed(f"the shared transaction was rolled back: {error!r}", error)
                )
            return
        group.done.set_result(None)

    def _commit_if_abandoned(self) -> None:
        """A caller gave up waiting for the lock; if it was the one the open group's last member
        handed the lock to, nobody will commit that group: do it."""
        group = self._group
        if group is None or self._write_lock.locked() or self._waiting:
            return

        async def commit_abandoned() -> None:
            async with self._write_lock:
                if self._group is group:
                    await self._finish(group)

        self._run_owned_nowait(commit_abandoned())

    async def _run_owned(self, work: Any) -> None:
        """Run ``work`` as a task the database owns, so that it finishes even if the awaiting
        caller is cancelled (close() waits for it)."""
        await asyncio.shield(self._run_owned_nowait(work))

    def _run_owned_nowait(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- reads --------------------------------------------------------------------------------

    @asynccontextmanager
    async def single(self) -> AsyncIterator[Tx]:
        """For one read statement: it is its own transaction (autocommit), so no BEGIN/COMMIT
        round trips."""
        async with self._read_lock:
            with outages_unavailable():
                yield Tx(self._reader, None)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Tx]:
        """A read transaction: every query inside sees one committed state."""
        async with self._read_lock:
            tx = Tx(self._reader, self._begin_read)
            with outages_unavailable():
                try:
                    yield tx
                finally:
                    if tx.started:
                        self._reader.now(end_read)

    async def _begin_read(self) -> None:
        self._reader.now(run_statement, "BEGIN")


class Tx:
    """Query helpers bound to one connection inside a transaction (or a single read)."""

    def __init__(self, connection: Connection, start: Callable[[], Awaitable[None]] | None) -> None:
        self._connection = connection
        self._start = start
        self.started = False

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        await self._begin()
        return self._connection.now(rowcount, sql, tuple(params))

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run an INSERT; return the new row id."""
        await self._begin()
        return self._connection.now(lastrowid, sql, tuple(params))

    async def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self._begin()
        self._connection.now(executemany, sql, [tuple(r) for r in rows])

    async def one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        await self._begin()
        return self._connection.now(fetchone, sql, tuple(params))

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        await self._begin()
        return self._connection.now(fetchall, sql, tuple(params))

    async def _begin(self) -> None:
        if not self.started:
            self.started = True
            if self._start is not None:
                await self._start()


# -- what runs on a connection ----------------------------------------------------------------


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _commit_failed(message: str, cause: BaseException) -> CommitFailed:
    error = CommitFailed(message)
    error.__cause__ = cause
    return error


def _statements(script: str) -> list[str]:
    """Split a migration into statements: comment lines dropped, then split at semicolons (the
    scripts put none inside literals)."""
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]
