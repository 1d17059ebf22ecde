"""Which database holds the catalog: SQLite (one file, the default) or PostgreSQL (shared by
several gateways). The catalog's queries are written once against the `CatalogDatabase`
interface, which both backends implement.

A catalog is named by a URL: `sqlite:///absolute/path/catalog.db` (or just a file path) or
`postgresql://user@host:port/database` (any libpq-style URL asyncpg accepts; the password is
better given in PGPASSWORD than in the URL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from s3compat.catalog.db import Database, Tx

T = TypeVar("T")

SQLITE_SCHEME = "sqlite://"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
# The database's clock as Unix seconds, per dialect (leases and process liveness use it, so
# that gateways whose clocks differ still agree on who is alive).
DATABASE_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)",
}


class Transaction(Protocol):
    """Statements inside one transaction, `?` placeholders, rows indexable by name or position."""

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int: ...

    async def many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None: ...

    async def one(self, sql: str, params: Iterable[Any] = ()) -> Any: ...

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...


class CatalogDatabase(Protocol):
    """What the catalog's queries need from a backend."""

    @property
    def dialect(self) -> str: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def single(self) -> AbstractAsyncContextManager[Transaction]: ...

    def snapshot(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def retrying(self, body: Callable[[Transaction], Awaitable[T]]) -> T: ...


class Locks:
    """Locks that keep racing PostgreSQL transactions (READ COMMITTED) apart; on SQLite, where
    one write transaction runs at a time, they are empty.

    Every transaction takes them in one order, bucket, then upload, then key, so two of them
    never wait for each other in a cycle.
    """

    def __init__(self, dialect: str) -> None:
        self._shared = dialect == "postgresql"
        # Appended to a SELECT: lock the rows read until the transaction ends.
        self.for_update = " FOR UPDATE" if self._shared else ""
        self.for_share = " FOR SHARE" if self._shared else ""

    async def key(self, tx: Transaction, bucket: str, key: str) -> None:
        """Serialise the writers of one key (whose row may not exist yet) until commit."""
        if self._shared:
            await tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"{bucket}/{key}",)
            )


class Queries:
    """Base of the catalog's query classes: the database, its dialect's locks, and the one
    transaction shape many queries are, a single statement."""

    def __init__(self, db: CatalogDatabase) -> None:
        self.db = db
        self.locks = Locks(db.dialect)

    async def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in a write transaction of its own (retried); rows affected."""

        async def body(tx: Transaction) -> int:
            return await tx.execute(sql, params)

        return await self.db.retrying(body)


class SqliteDatabase(Database):
    """The SQLite catalog with the backend interface. One connection serialises every write
    transaction, so a transaction never loses a race and `retrying` runs its body once."""

    dialect = "sqlite"

    async def retrying(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        async with self.transaction() as tx:
            return await body(tx)


def is_postgresql(url: str) -> bool:
    return url.startswith(POSTGRESQL_SCHEMES)


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite://` URL (`sqlite:///abs/path` or `sqlite://relative/path`), or of
    a plain path."""
    return Path(url.removeprefix(SQLITE_SCHEME))


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_SCHEME}{path.resolve()}"


def database_for(url: str) -> CatalogDatabase:
    """An unopened database for a catalog URL (or plain path: SQLite)."""
    if is_postgresql(url):
        from s3compat.catalog.pg import PgDatabase

        return PgDatabase(url)
    if "://" in url and not url.startswith(SQLITE_SCHEME):
        raise ValueError(
            f"unknown catalog URL {redact(url)!r}: use sqlite:///FILE or postgresql://"
        )
    return SqliteDatabase(sqlite_path(url))


async def open_database(url: str) -> CatalogDatabase:
    """Open (and migrate) the catalog that `url` names."""
    db = database_for(url)
    await db.open()
    return db


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, at, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{at}{location}"
