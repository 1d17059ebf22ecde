"""The catalog's SQLite connection: WAL mode, numbered migrations, one transaction at a time.

aiosqlite runs every statement on one worker thread, but coroutines interleave between
statements: a transaction that spans several awaits must not let another coroutine's statements
in. So every access goes through `transaction()` (writes) or `snapshot()` (consistent reads),
both serialised by one asyncio lock. Statements are microseconds; the lock is never held across
network I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from s3compat.catalog.schema import MIGRATIONS

Row = aiosqlite.Row


class Database:
    """One aiosqlite connection to the catalog file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect, switch to WAL with full fsync, and apply any migration not yet applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer the client (WAL + NORMAL may lose the
        # last transactions on power loss).
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA busy_timeout=10000")
        await conn.execute("PRAGMA foreign_keys=ON")
        self._conn = conn
        await self._migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("catalog is not open")
        return self._conn

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            row = await tx.one("PRAGMA user_version")
            applied = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[applied:], start=applied + 1):
                for statement in _statements(script):
                    await tx.execute(statement)
                await tx.execute(f"PRAGMA user_version={number:d}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on error."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self.conn)
            except BaseException:
                await asyncio.shield(self.conn.execute("ROLLBACK"))
                raise
            await asyncio.shield(self.conn.execute("COMMIT"))

    @asynccontextmanager
    async def single(self) -> AsyncIterator[Tx]:
        """For one read statement: it is its own transaction (autocommit), so no BEGIN/COMMIT
        round trips to the worker thread."""
        async with self._lock:
            yield Tx(self.conn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Tx]:
        """A read transaction: every query inside sees one committed state."""
        async with self._lock:
            await self.conn.execute("BEGIN")
            try:
                yield Tx(self.conn)
            finally:
                await asyncio.shield(self.conn.execute("COMMIT"))


class Tx:
    """Query helpers bound to the connection inside a transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, tuple(params))
        count = cursor.rowcount
        await cursor.close()
        return count

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run an INSERT; return the new row id."""
        cursor = await self._conn.execute(sql, tuple(params))
        row_id = cursor.lastrowid
        await cursor.close()
        return int(row_id or 0)

    async def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self._conn.executemany(sql, [tuple(r) for r in rows])

    async def one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        cursor = await self._conn.execute(sql, tuple(params))
        row = await cursor.fetchone()
        await cursor.close()
        return row

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        cursor = await self._conn.execute(sql, tuple(params))
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)


def _statements(script: str) -> list[str]:
    """Split a migration into statements: comment lines dropped, then split at semicolons (the
    scripts put none inside literals)."""
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]
