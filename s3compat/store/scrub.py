"""Scrub: check the catalog against what the chunk daemons hold, and every chunk's checksum.

Findings per server: `missing` (the catalog places a chunk there, the daemon lacks it),
`corrupt` (the daemon's CRC32C check fails), `orphans` (the daemon holds a chunk the catalog
does not know). Orphans older than a grace period can be deleted (`collect_orphans`): they are
what a crash between a chunk write and its intent record could leave.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from s3compat.catalog.catalog import Catalog
from s3compat.catalog.maintenance import MaintenanceCatalog
from s3compat.cluster.client import ChunkClient, ChunkInfo
from s3compat.cluster.errors import ChunkServerError

PAGE = 1000
PARALLEL_VERIFIES = 8


@dataclass
class ServerFindings:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    unreachable: bool = False


@dataclass
class ScrubReport:
    servers: dict[str, ServerFindings] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        return any(f.missing or f.corrupt or f.unreachable for f in self.servers.values())


async def list_all(client: ChunkClient, url: str) -> list[ChunkInfo]:
    chunks: list[ChunkInfo] = []
    after = ""
    while True:
        page, truncated = await client.list_chunks(url, after=after, limit=PAGE)
        chunks += page
        if not truncated or not page:
            return chunks
        after = page[-1].chunk_id


async def scrub(
    catalog: Catalog, maintenance: MaintenanceCatalog, client: ChunkClient, *, verify: bool = True
) -> ScrubReport:
    report = ScrubReport()
    for server in await catalog.list_servers():
        if server.state in ("removed", "lost"):
            continue  # a lost server's pieces are gone by definition: repair rebuilds them
        findings = ServerFindings()
        report.servers[server.server_id] = findings
        try:
            held = {c.chunk_id: c for c in await list_all(client, server.url)}
        except ChunkServerError:
            findings.unreachable = True
            continue
        placed = await maintenance.chunks_on(server.server_id)
        findings.checked = len(held)
        findings.missing = sorted(set(placed) - set(held))
        known = await maintenance.known_chunk_ids(held)
        findings.orphans = sorted(set(held) - known)
        findings.corrupt = sorted(
            chunk_id for chunk_id, info in held.items() if chunk_id in placed and not info.crc32c
        )
        if verify:
            limit = asyncio.Semaphore(PARALLEL_VERIFIES)
            ids = [c for c in held if c in placed and c not in findings.corrupt]
            results = await asyncio.gather(*(_verify(client, server.url, c, limit) for c in ids))
            findings.corrupt += sorted(c for c, ok in zip(ids, results, strict=True) if not ok)
    return report


async def _verify(client: ChunkClient, url: str, chunk_id: str, limit: asyncio.Semaphore) -> bool:
    async with limit:
        try:
            return await client.verify_chunk(url, chunk_id)
        except ChunkServerError:
            return False


async def collect_orphans(
    catalog: Catalog, maintenance: MaintenanceCatalog, client: ChunkClient, *, older_than: float
) -> int:
    """Delete chunks no catalog row knows of and older than `older_than` seconds; how many."""
    deleted = 0
    cutoff = time.time() - older_than
    for server in await catalog.list_servers():
        if server.state not in ("up", "draining"):
            continue
        try:
            held = await list_all(client, server.url)
        except ChunkServerError:
            continue
        known = await maintenance.known_chunk_ids(c.chunk_id for c in held)
        for chunk in held:
            if chunk.chunk_id in known or chunk.mtime > cutoff:
                continue
            # Looked up again just before deleting: a write may have recorded it meanwhile.
            if await maintenance.known_chunk_ids([chunk.chunk_id]):
                continue
            try:
                await client.delete_chunk(server.url, chunk.chunk_id)
                deleted += 1
            except ChunkServerError:
                pass
    return deleted
