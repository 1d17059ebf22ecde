"""One sqlite3 connection of the catalog, and the calls that run on it.

A `Connection` is used by one caller at a time, on the event loop (`now`) or on its own thread
(`call`) for what may wait; the functions below are what runs there, each taking the sqlite3
connection first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from s3compat.outage import Unavailable

Row = sqlite3.Row
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
# How often the writer tries BEGIN IMMEDIATE again while another process (a gateway worker)
# holds the write lock. SQLite's own busy handler sleeps up to 100 ms between tries, so under
# steady writes from two workers a waiter kept losing the lock to the other's next group.
BUSY_RETRY_SECONDS = 0.001
SAVEPOINT = "member"
# How far down a chain of causes an outage is looked for (CommitFailed <- rolled back <- why).
CAUSES_LOOKED_AT = 4
# Errors of the database file rather than of a statement: locked past the busy timeout, out of
# room, unreadable, read-only. The request is answered 503 (s3compat/outage.py).
OUTAGE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)


class Connection:
    """One sqlite3 connection, used by one caller at a time, on the event loop (`now`) or on
    its own thread (`call`) for what may wait."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._in_flight: asyncio.Future[Any] | None = None

    async def open(self, path: Path, pragmas: Iterable[str]) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"catalog-{self._name}")

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            for pragma in pragmas:
                connection.execute(pragma).close()
            return connection

        self._sqlite = await self._submit(connect)

    async def close(self) -> None:
        await self.settle()
        if self._sqlite is not None:
            await self._submit(self._sqlite.close)
            self._sqlite = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def now(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` here, on the event loop."""
        if self._sqlite is None:
            raise RuntimeError("catalog is not open")
        return function(self._sqlite, *args)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` on the connection's thread."""
        if self._sqlite is None:
            raise RuntimeError("catalog is not open")
        return await self._submit(partial(function, self._sqlite, *args))

    async def settle(self) -> None:
        """Until nothing runs on the connection's thread (a call whose caller was cancelled
        goes on), so that the connection is never used by two threads at once."""
        in_flight = self._in_flight
        if in_flight is not None and not in_flight.done():
            await asyncio.wait([in_flight])

    async def _submit(self, function: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("catalog is not open")
        future = asyncio.get_running_loop().run_in_executor(self._executor, function)
        self._in_flight = future
        # What is handed to the thread runs even if the caller is cancelled meanwhile, so what
        # the connection did never depends on when a caller gave up.
        return await asyncio.shield(future)


def run_statement(connection: sqlite3.Connection, sql: str) -> None:
    connection.execute(sql).close()


def rowcount(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    cursor = connection.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def lastrowid(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    cursor = connection.execute(sql, params)
    try:
        return int(cursor.lastrowid or 0)
    finally:
        cursor.close()


def executemany(connection: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    connection.executemany(sql, rows).close()


def fetchone(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Row | None:
    cursor = connection.execute(sql, params)
    try:
        row: Row | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


def fetchall(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Row]:
    cursor = connection.execute(sql, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def begin_immediate(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, trying again every BUSY_RETRY_SECONDS while another process holds the
    write lock, for up to BUSY_TIMEOUT_MS (then the busy error propagates)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE").close()
            return
        except sqlite3.OperationalError as error:
            if _primary_code(error) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(BUSY_RETRY_SECONDS)


def end_savepoint(connection: sqlite3.Connection, failed: bool) -> bool:
    """Release a member's savepoint, first undoing its statements if it failed; whether the
    group's transaction is still open (SQLite rolls back the whole transaction on some errors,
    e.g. a full disk, and a failed BEGIN leaves none)."""
    if not connection.in_transaction:
        return False
    if failed:
        connection.execute(f"ROLLBACK TO {SAVEPOINT}").close()
    connection.execute(f"RELEASE {SAVEPOINT}").close()
    return connection.in_transaction


def end_read(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("COMMIT").close()


def rollback_if_open(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK").close()


@contextmanager
def outages_unavailable() -> Iterator[None]:
    """Let an error of the body out as `Unavailable` if it (or one in its chain of causes) is
    the database file's, else unchanged."""
    try:
        yield
    except BaseException as error:
        _raise_if_outage(error)
        raise


def _raise_if_outage(error: BaseException) -> None:
    found: BaseException | None = error
    for _ in range(CAUSES_LOOKED_AT):  # the error, its cause, the cause's cause ...
        if found is None:
            return
        if isinstance(found, sqlite3.Error) and _primary_code(found) in OUTAGE_CODES:
            raise Unavailable(f"the catalog database cannot be used: {found}") from error
        found = found.__cause__


def _primary_code(error: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error (None for the sqlite3 module's own errors)."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF
