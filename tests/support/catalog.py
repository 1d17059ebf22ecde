"""The catalog backend the tests run on (S3COMPAT_TEST_CATALOG: SQLite unless it says
postgresql; then every cluster gets a fresh database on the session's PostgreSQL server, see
`support.postgres`), and reading a cluster's catalog directly, whichever backend holds it."""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING, Any

from support.postgres import create_database, postgres_server
from support.waiting import run_async

if TYPE_CHECKING:
    from support.processes import Cluster

CATALOG_BACKEND_ENV = "S3COMPAT_TEST_CATALOG"


def catalog_backend() -> str:
    """ "sqlite" or "postgresql", from S3COMPAT_TEST_CATALOG."""
    backend = os.environ.get(CATALOG_BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if backend in ("postgres", "pg"):
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{CATALOG_BACKEND_ENV}={backend!r}: use sqlite or postgresql")
    return backend


def new_postgres_catalog() -> str:
    """A fresh, empty database on the session's server; its URL."""
    return create_database(postgres_server())


def catalog_url_for(cluster: Cluster) -> str:
    return cluster.catalog_url or str(cluster.data_dir / "catalog.db")


def catalog_rows(cluster: Cluster, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the cluster's catalog directly (`?` placeholders; cheaper than an admin process
    per poll), whichever backend holds it."""
    if cluster.catalog_url is None:
        with sqlite3.connect(f"file:{cluster.data_dir / 'catalog.db'}?mode=ro", uri=True) as db:
            return [tuple(row) for row in db.execute(sql, params).fetchall()]
    import asyncpg

    from s3compat.catalog.pg import dollar_params

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(cluster.catalog_url)
        try:
            return [tuple(row) for row in await conn.fetch(dollar_params(sql), *params)]
        finally:
            await conn.close()

    result: list[tuple[Any, ...]] = run_async(fetch())
    return result


def catalog_dicts(cluster: Cluster, sql: str, *params: object) -> list[dict[str, Any]]:
    """`catalog_rows` as dicts by column name."""
    if cluster.catalog_url is None:
        with sqlite3.connect(f"file:{cluster.data_dir / 'catalog.db'}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params).fetchall()]
    import asyncpg

    from s3compat.catalog.pg import dollar_params

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(cluster.catalog_url)
        try:
            return [dict(row) for row in await conn.fetch(dollar_params(sql), *params)]
        finally:
            await conn.close()

    result: list[dict[str, Any]] = run_async(fetch())
    return result


def read_cluster_secret(cluster: Cluster) -> str:
    rows = catalog_rows(cluster, "SELECT value FROM meta WHERE name = 'cluster_secret'")
    assert rows, "no cluster_secret in the catalog's meta table"
    return str(rows[0][0])
