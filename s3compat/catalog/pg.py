"""The catalog on PostgreSQL (asyncpg): a connection pool behind the same interface as SQLite.

Several gateways share one PostgreSQL catalog, so two of them may race on one key, bucket or
upload. Write transactions run READ COMMITTED and take explicit locks where they race
(`backend.Locks`: the bucket row FOR SHARE or FOR UPDATE, the upload row FOR UPDATE, an
advisory lock per key), and rows move from one table to another with DELETE ... RETURNING, so
that two transactions never both act on one row. A transaction that still loses (a deadlock, a
unique key inserted meanwhile) is run again by `retrying`. Reads that span statements run in a
REPEATABLE READ READ ONLY snapshot; a one-statement read takes any pooled connection and is its
own transaction.

The catalog's SQL is written once with `?` placeholders; `dollar_params` rewrites them to
PostgreSQL's `$1, $2, ...`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from s3compat.catalog.schema import POSTGRESQL_MIGRATIONS
from s3compat.outage import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

POOL_MIN_CONNECTIONS = 2
POOL_MAX_CONNECTIONS = 16
STATEMENT_CACHE_SIZE = 512
CONNECT_TIMEOUT_SECONDS = 10.0
# A statement unanswered this long (a hung server, a lost network) fails, and its request is
# answered 503, instead of waiting for ever. (The pool's reset of the broken connection waits
# as long again: with the server SIGSTOPped, a GET was answered 503 after 60 s.)
COMMAND_TIMEOUT_SECONDS = 30.0
# A body is run again after it lost a race, at most this often, after a random pause that
# doubles up to the cap (the racers then rarely collide again).
MAX_ATTEMPTS = 30
FIRST_RETRY_PAUSE_SECONDS = 0.002
MAX_RETRY_PAUSE_SECONDS = 0.2
# Taken (per transaction) while migrations run, so that two gateways starting at once do not
# both migrate. Any constant: it names the lock.
MIGRATION_LOCK_ID = 0x53_33_43_4D  # "S3CM"

RETRYABLE = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.UniqueViolationError,
)
# The server cannot be reached, is shutting down or restarting, or is out of connections or
# room: the request is answered 503 (s3compat/outage.py). Catalog bodies run nothing but SQL,
# so an OSError inside one is the connection's.
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
)


@lru_cache(maxsize=1024)
def dollar_params(sql: str) -> str:
    """`?` placeholders as `$1, $2, ...`, leaving quoted literals and identifiers alone."""
    out: list[str] = []
    number = 0
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    if quote is not None:
        raise ValueError(f"unterminated quote in SQL: {sql!r}")
    return "".join(out)


def rows_affected(status: str) -> int:
    """The row count of a command status such as "UPDATE 3" or "INSERT 0 1"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTx:
    """Query helpers on one pooled connection, with the same methods as the SQLite `Tx`."""

    def __init__(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        return rows_affected(await self._conn.execute(dollar_params(sql), *params))

    async def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            await self._conn.executemany(dollar_params(sql), batch)

    async def one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return await self._conn.fetchrow(dollar_params(sql), *params)

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return list(await self._conn.fetch(dollar_params(sql), *params))


class PgDatabase:
    """A pool of connections to a PostgreSQL catalog."""

    dialect = "postgresql"

    def __init__(self, url: str, *, max_connections: int = POOL_MAX_CONNECTIONS) -> None:
        self.url = url
        self.max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect the pool and apply any migration not yet applied."""
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=min(POOL_MIN_CONNECTIONS, self.max_connections),
            max_size=self.max_connections,
            statement_cache_size=STATEMENT_CACHE_SIZE,
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=COMMAND_TIMEOUT_SECONDS,
        )
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("catalog is not open")
        return self._pool

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            applied = int(
                await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            )
            if applied > len(POSTGRESQL_MIGRATIONS):
                raise RuntimeError(
                    f"the catalog's schema is version {applied}; this s3compat knows "
                    f"{len(POSTGRESQL_MIGRATIONS)}: upgrade s3compat"
                )
            for number, script in enumerate(POSTGRESQL_MIGRATIONS[applied:], start=applied + 1):
                await conn.execute(script)  # no parameters: the simple protocol, many statements
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
                log.info("catalog migrated to schema version %d", number)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        """A write transaction (READ COMMITTED): committed on success, rolled back on error."""
        async with _reachable(), self.pool.acquire() as conn, conn.transaction():
            yield PgTx(conn)

    async def retrying(self, body: Callable[[PgTx], Awaitable[T]]) -> T:
        """Run `body` in a transaction; run it again while it loses races (deadlocks, unique
        keys taken meanwhile). The body must do nothing but catalog work."""
        pause = FIRST_RETRY_PAUSE_SECONDS
        attempt = 1
        while True:
            try:
                async with self.transaction() as tx:
                    return await body(tx)
            except RETRYABLE as error:
                if attempt >= MAX_ATTEMPTS:
                    raise
                log.debug("catalog transaction lost a race (attempt %d): %s", attempt, error)
            attempt += 1
            await asyncio.sleep(random.uniform(0, pause))
            pause = min(2 * pause, MAX_RETRY_PAUSE_SECONDS)

    @asynccontextmanager
    async def single(self) -> AsyncIterator[PgTx]:
        """For one read statement: it is its own transaction."""
        async with _reachable(), self.pool.acquire() as conn:
            yield PgTx(conn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PgTx]:
        """A read transaction: every query inside sees one committed state."""
        async with (
            _reachable(),
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PgTx(conn)


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Turn the server's unreachability into `Unavailable`."""
    try:
        yield
    except UNREACHABLE as error:
        raise Unavailable(f"the catalog database cannot be reached: {error!r}") from error
