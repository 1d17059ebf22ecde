"""The catalog: users, servers, buckets, objects and chunk bookkeeping, as one `Catalog`.

Every method is one transaction. The catalog knows nothing about HTTP or S3 errors: where a
request cannot be carried out it returns a value that says why, and the store decides.

The SQL runs on SQLite and on PostgreSQL alike (`?` placeholders, `ON CONFLICT`, `RETURNING`,
the reserved word `offset` quoted). A write transaction is a function of its `Transaction`,
run by `db.retrying`, which may run it again if it lost a race with another gateway (so it does
nothing but catalog work). Where gateways can race, it takes `Locks` (empty on SQLite, where
one write transaction runs at a time) and moves rows between tables with DELETE ... RETURNING.

This module holds meta, users and servers; buckets, objects and chunk bookkeeping are in
`buckets.py`, `objects.py` and `chunkrows.py`, whose query classes `Catalog` combines.
"""

from __future__ import annotations

import time

from s3compat.catalog.backend import Transaction
from s3compat.catalog.buckets import BucketQueries
from s3compat.catalog.chunkrows import ChunkQueries
from s3compat.catalog.objects import ObjectQueries
from s3compat.catalog.versions import VersionQueries
from s3compat.records import ServerRecord, ServerState, UserRecord

SELECT_USER = "SELECT access_key, secret_key, name FROM users"


class ServerUrlTaken(Exception):
    """Another server is registered at that URL."""


class Catalog(BucketQueries, ObjectQueries, VersionQueries, ChunkQueries):
    """The single source of truth: what exists and where its bytes are."""

    # --- meta and users -------------------------------------------------------------------

    async def get_meta(self, name: str) -> str | None:
        async with self.db.single() as tx:
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
        return None if row is None else str(row["value"])

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store `value` under `name` unless a value is there already; return the stored one."""

        async def body(tx: Transaction) -> str:
            await tx.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, value),
            )
            row = await tx.one("SELECT value FROM meta WHERE name = ?", (name,))
            assert row is not None
            return str(row["value"])

        return await self.db.retrying(body)

    async def set_meta(self, name: str, value: str) -> None:
        """Store `value` under `name`, replacing any value there."""
        await self.write(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def put_user(self, user: UserRecord) -> None:
        """Add a user, or replace the secret of the user with that name."""

        async def body(tx: Transaction) -> None:
            await tx.execute("DELETE FROM users WHERE name = ?", (user.name,))
            await tx.execute(
                "INSERT INTO users (access_key, secret_key, name, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (access_key) DO UPDATE SET "
                "secret_key = excluded.secret_key, name = excluded.name, "
                "created_at = excluded.created_at",
                (user.access_key, user.secret_key, user.name, time.time()),
            )

        await self.db.retrying(body)

    async def get_user(self, access_key: str) -> UserRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(f"{SELECT_USER} WHERE access_key = ?", (access_key,))
        return None if row is None else UserRecord(row[0], row[1], row[2])

    async def get_user_by_name(self, name: str) -> UserRecord | None:
        async with self.db.single() as tx:
            row = await tx.one(f"{SELECT_USER} WHERE name = ?", (name,))
        return None if row is None else UserRecord(row[0], row[1], row[2])

    # --- servers --------------------------------------------------------------------------

    async def add_server(self, server_id: str, url: str) -> None:
        """Register a server (or move it to a new URL). Raises ServerUrlTaken if another
        server has that URL."""

        async def body(tx: Transaction) -> None:
            other = await tx.one(
                "SELECT server_id FROM servers WHERE url = ? AND server_id != ?", (url, server_id)
            )
            if other is not None:
                raise ServerUrlTaken(f"{url} belongs to server {other[0]}")
            await tx.execute(
                "INSERT INTO servers (server_id, url, state) VALUES (?, ?, 'up') "
                "ON CONFLICT (server_id) DO UPDATE SET url = excluded.url",
                (server_id, url),
            )

        await self.db.retrying(body)

    async def list_servers(self) -> list[ServerRecord]:
        async with self.db.single() as tx:
            rows = await tx.all(
                "SELECT server_id, url, state, capacity_bytes, used_bytes, free_bytes, "
                "chunk_count, last_seen FROM servers ORDER BY server_id"
            )
        return [ServerRecord(*row) for row in rows]

    async def record_server_stats(
        self, server_id: str, capacity: int, used: int, free: int, chunk_count: int, seen: float
    ) -> None:
        await self.write(
            "UPDATE servers SET capacity_bytes = ?, used_bytes = ?, free_bytes = ?, "
            "chunk_count = ?, last_seen = ?, state = CASE WHEN state = 'down' THEN 'up' "
            "ELSE state END WHERE server_id = ?",
            (int(capacity), int(used), int(free), int(chunk_count), float(seen), server_id),
        )

    async def chunks_on_server(self, server_id: str) -> int:
        """Chunks the catalog places on a server (committed, in uploads, or being written)."""
        async with self.db.snapshot() as tx:
            chunks = await tx.one("SELECT count(*) FROM chunks WHERE server_id = ?", (server_id,))
            intents = await tx.one("SELECT count(*) FROM intents WHERE server_id = ?", (server_id,))
            pending = await tx.one(
                "SELECT count(*) FROM deletions WHERE server_id = ?", (server_id,)
            )
        return sum(int(row[0]) if row else 0 for row in (chunks, intents, pending))

    async def set_server_state(self, server_id: str, state: ServerState) -> None:
        await self.write("UPDATE servers SET state = ? WHERE server_id = ?", (state, server_id))
