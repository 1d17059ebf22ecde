"""The catalog itself on the backend of this run (S3COMPAT_TEST_CATALOG), without gateways:
races between two "gateways" (two database handles, each with its own connections), leases,
and the intent fence that keeps a process taken for dead from committing collected chunks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.catalog import catalog_backend, new_postgres_catalog
from support.waiting import run_async

from s3compat.catalog.backend import CatalogDatabase, open_database
from s3compat.catalog.catalog import Catalog
from s3compat.catalog.chunkrows import IntentsLost
from s3compat.catalog.leases import LeaseCatalog
from s3compat.catalog.schema import MIGRATIONS, POSTGRESQL_MIGRATIONS
from s3compat.catalog.uploads import CompletionPlan, UploadCatalog
from s3compat.records import (
    BucketRecord,
    ChunkRecord,
    ObjectRecord,
    UploadPartRecord,
    UploadRecord,
)

RACERS = 8


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    if catalog_backend() == "postgresql":
        return new_postgres_catalog()
    return f"sqlite://{tmp_path}/catalog.db"


@pytest.fixture
async def two_dbs(catalog_url: str) -> AsyncIterator[tuple[CatalogDatabase, CatalogDatabase]]:
    """Two independent handles on one catalog, as two gateways have."""
    first = await open_database(catalog_url)
    second = await open_database(catalog_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def chunks_for(version: str, count: int = 6) -> list[ChunkRecord]:
    return [
        ChunkRecord(f"{version}-{n}", f"server-{n}", 1, n, 10 * n, 10, "00000000")
        for n in range(count)
    ]


def object_record(bucket: str, key: str, etag: str) -> ObjectRecord:
    return ObjectRecord(bucket, key, 60, etag, time.time(), "owner", {"content-type": "x/y"})


async def rows(db: CatalogDatabase, sql: str) -> list[tuple[object, ...]]:
    async with db.snapshot() as tx:
        return [tuple(row) for row in await tx.all(sql)]


async def test_racing_overwrites_leave_one_version_and_queue_every_other_chunk(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    catalogs = [Catalog(db) for db in two_dbs]
    await catalogs[0].create_bucket(BucketRecord("b", "owner", time.time(), "us-east-1"))

    async def write(number: int) -> str:
        catalog = catalogs[number % 2]
        chunks = chunks_for(f"v{number}")
        await catalog.record_intents(chunks, "gateway")
        outcome = await catalog.commit_object(
            object_record("b", "k", f"etag-{number}"), chunks, grace_seconds=0
        )
        # A commit answers the version it made (or a refusal, as a string).
        return "committed" if isinstance(outcome, ObjectRecord) else outcome

    outcomes = await asyncio.gather(*(write(n) for n in range(RACERS)))
    assert outcomes == ["committed"] * RACERS
    (current,) = await rows(two_dbs[0], "SELECT version_id, etag FROM objects")
    winner = str(current[1]).removeprefix("etag-")
    attached = await rows(two_dbs[0], "SELECT chunk_id, version_id FROM chunks")
    assert sorted(str(c[0]) for c in attached) == [f"v{winner}-{n}" for n in range(6)]
    assert {c[1] for c in attached} == {current[0]}
    queued = {str(r[0]) for r in await rows(two_dbs[0], "SELECT chunk_id FROM deletions")}
    losers = {f"v{n}-{p}" for n in range(RACERS) if str(n) != winner for p in range(6)}
    assert queued == losers
    assert await rows(two_dbs[0], "SELECT * FROM intents") == []


async def test_racing_creates_of_one_bucket_have_one_winner(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    catalogs = [Catalog(db) for db in two_dbs]

    async def create(number: int) -> str | None:
        record = BucketRecord("contested", f"owner-{number}", time.time(), "us-east-1")
        return await catalogs[number % 2].create_bucket(record)

    outcomes = await asyncio.gather(*(create(n) for n in range(RACERS)))
    assert outcomes.count(None) == 1
    (owner,) = await rows(two_dbs[0], "SELECT owner FROM buckets")
    winner = f"owner-{outcomes.index(None)}"
    assert owner == (winner,)
    assert all(outcome in (None, winner) for outcome in outcomes)


async def test_racing_completes_of_one_upload_have_one_winner(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    catalog = Catalog(two_dbs[0])
    uploads = [UploadCatalog(db) for db in two_dbs]
    await catalog.create_bucket(BucketRecord("b", "owner", time.time(), "us-east-1"))
    upload = UploadRecord("u1", "b", "k", "owner", time.time(), {})
    await uploads[0].create(upload)
    part = UploadPartRecord(1, 60, '"p1"', time.time())
    chunks = chunks_for("part1")
    await catalog.record_intents(chunks, "gateway")
    assert await uploads[0].commit_part("u1", part, chunks, grace_seconds=0)

    async def complete(number: int) -> ObjectRecord | None:
        def plan(found: UploadRecord, parts: list[UploadPartRecord]) -> CompletionPlan:
            record = object_record("b", "k", f"etag-{number}")
            return CompletionPlan(record, [p.part_number for p in parts], f"digest-{number}")

        return await uploads[number % 2].complete(
            "u1", plan, request_digest=f"digest-{number}", grace_seconds=0
        )

    outcomes = await asyncio.gather(*(complete(n) for n in range(RACERS)))
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    (current,) = await rows(two_dbs[0], "SELECT version_id, etag FROM objects")
    assert current == (winners[0].version_id, winners[0].etag)
    attached = await rows(two_dbs[0], "SELECT chunk_id, version_id, upload_id FROM chunks")
    assert sorted(attached) == sorted((c.chunk_id, current[0], None) for c in chunks)
    assert await rows(two_dbs[0], "SELECT * FROM uploads") == []


async def test_a_lease_has_one_holder_until_it_expires(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    first, second = (LeaseCatalog(db) for db in two_dbs)
    assert await first.acquire("gc", "gateway-a", 0.5)
    assert await first.acquire("gc", "gateway-a", 0.5)  # renewing
    assert not await second.acquire("gc", "gateway-b", 0.5)
    assert await second.holder("gc") == "gateway-a"
    await asyncio.sleep(0.7)
    assert await second.acquire("gc", "gateway-b", 5)
    assert not await first.acquire("gc", "gateway-a", 5)
    await second.release("gc", "gateway-b")
    assert await first.acquire("gc", "gateway-a", 5)


async def test_a_process_taken_for_dead_cannot_commit_its_collected_chunks(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    catalog = Catalog(two_dbs[0])
    alive, paused = f"alive-{uuid.uuid4().hex}", f"paused-{uuid.uuid4().hex}"
    leases = LeaseCatalog(two_dbs[1])
    await leases.keep_alive(alive, "test", 30)
    await leases.keep_alive(paused, "test", 0.3)
    await catalog.create_bucket(BucketRecord("b", "owner", time.time(), "us-east-1"))
    kept, lost = chunks_for("kept"), chunks_for("lost")
    await catalog.record_intents(kept, alive)
    await catalog.record_intents(lost, paused)
    assert await leases.collect_dead_intents() == 0
    await asyncio.sleep(0.5)
    assert await leases.collect_dead_intents() == 6
    assert not await leases.keep_alive(paused, "test", 30)  # it notices on renewal
    with pytest.raises(IntentsLost):
        await catalog.commit_object(object_record("b", "lost", "e1"), lost, grace_seconds=0)
    assert await rows(two_dbs[0], "SELECT key FROM objects") == []
    queued = {str(r[0]) for r in await rows(two_dbs[0], "SELECT chunk_id FROM deletions")}
    assert queued == {c.chunk_id for c in lost}
    committed = await catalog.commit_object(object_record("b", "kept", "e2"), kept, grace_seconds=0)
    assert isinstance(committed, ObjectRecord) and committed.etag == "e2"


async def test_retiring_frees_leases_and_intents(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    catalog, leases = Catalog(two_dbs[0]), LeaseCatalog(two_dbs[1])
    await leases.keep_alive("gone", "test", 60)
    assert await leases.acquire("membership", "gone", 60)
    await catalog.record_intents(chunks_for("left"), "gone")
    await leases.retire("gone")
    assert await leases.holder("membership") is None
    assert await leases.collect_dead_intents() == 6


async def test_a_chunk_held_for_a_read_is_not_due_while_its_holder_lives(
    two_dbs: tuple[CatalogDatabase, CatalogDatabase],
) -> None:
    """One process holds chunks for a long read; the collector (another handle) is not handed
    them while the holder's row is alive, and is once they are released, the holder retired,
    or its row expired."""
    catalog, leases = Catalog(two_dbs[0]), LeaseCatalog(two_dbs[1])
    reader, paused, writer = (f"{name}-{uuid.uuid4().hex}" for name in ("reader", "paused", "w"))
    await leases.keep_alive(reader, "test", 60)
    await leases.keep_alive(paused, "test", 0.3)
    chunks = chunks_for("read")
    ids = [c.chunk_id for c in chunks]
    await catalog.record_intents(chunks, writer)
    await catalog.abandon_chunks(ids)

    async def due() -> set[str]:
        return {d.chunk_id for d in await catalog.due_deletions(time.time(), 100)}

    assert await due() == set(ids)
    await leases.hold_reads(reader, ids[:4], [])
    await leases.hold_reads(paused, ids[4:], [])
    assert await due() == set()
    await leases.hold_reads(reader, [], ids[:2])  # the read of two of them ended
    assert await due() == set(ids[:2])
    await asyncio.sleep(0.5)  # the paused process's row expires: its holds no longer count
    assert await due() == set(ids[:2]) | set(ids[4:])
    await leases.collect_dead_intents()
    assert await rows(two_dbs[0], "SELECT holder FROM read_holds") == [(reader,), (reader,)]
    await leases.retire(reader)
    assert await due() == set(ids)
    assert await rows(two_dbs[0], "SELECT holder FROM read_holds") == []


def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path) -> None:
    if catalog_backend() != "postgresql":
        pytest.skip("compares with PostgreSQL: runs in the PostgreSQL pass")
    assert len(MIGRATIONS) == len(POSTGRESQL_MIGRATIONS)

    async def columns(url: str) -> set[tuple[str, str]]:
        db = await open_database(url)
        try:
            if db.dialect == "sqlite":
                sql = (
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
                    "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
                )
            else:
                sql = (
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name != 'schema_version'"
                )
            async with db.snapshot() as tx:
                return {(str(r[0]), str(r[1])) for r in await tx.all(sql)}
        finally:
            await db.close()

    sqlite_columns = run_async(columns(f"sqlite://{tmp_path}/c.db"))
    postgresql_columns = run_async(columns(new_postgres_catalog()))
    assert sqlite_columns == postgresql_columns
    assert ("leases", "holder") in postgresql_columns
