"""The collector: deletes chunks that nothing references any more.

Sources of garbage, all recorded in the catalog before the bytes exist or stop mattering:
- chunks of replaced or deleted versions (queued with a grace period for readers),
- chunks of failed writes (abandoned intents, due at once),
- intents left by a gateway process that died mid-write (another gateway id, or too old).
Chunks that a read of this process is streaming, or that a live process holds for a read of
its own (store/reads.py), are skipped until the read ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

from s3compat.catalog.catalog import Catalog
from s3compat.catalog.chunkrows import PendingDeletion
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkServerError
from s3compat.cluster.membership import Membership
from s3compat.records import ServerState
from s3compat.store.reads import OpenReads

log = logging.getLogger(__name__)

BATCH = 500
PARALLEL_DELETES = 16
# An intent of this gateway older than this belongs to a write that cannot still be running.
INTENT_MAX_AGE_SECONDS = 24 * 3600.0
GONE_STATES: tuple[ServerState, ...] = ("lost", "removed")


@dataclass
class SweepReport:
    expired_uploads: int = 0
    lifecycle_actions: int = 0
    expired_intents: int = 0
    deleted_chunks: int = 0
    failed: int = 0
    abandoned: int = 0  # deletions dropped because their server is lost or removed


@dataclass(eq=False)
class Collector:
    """Runs the deletion queue against the chunk servers."""

    catalog: Catalog
    client: ChunkClient
    membership: Membership
    reads: OpenReads
    _: KW_ONLY
    expire_uploads: Callable[[], Awaitable[int]] | None = None
    lifecycle: Callable[[], Awaitable[int]] | None = None
    # Everything done since start, for metrics.
    totals: SweepReport = field(default_factory=SweepReport, init=False)

    async def sweep(self) -> SweepReport:
        """One pass: turn intents too old to be running into deletions, then delete every due
        chunk. (Intents of dead processes are collected by `duties.collect_once`.)"""
        report = SweepReport()
        if self.expire_uploads is not None:
            report.expired_uploads = await self.expire_uploads()
        if self.lifecycle is not None:
            # Before the deletion queue runs, so that aborted uploads' chunks go in this pass.
            report.lifecycle_actions = await self.lifecycle()
        report.expired_intents = await self.catalog.expire_intents(
            time.time() - INTENT_MAX_AGE_SECONDS
        )
        while True:
            due = await self.catalog.due_deletions(time.time(), BATCH)
            due = [d for d in due if d.chunk_id not in self.reads]
            # A lost or removed server's files are gone, or never will be read again.
            gone = {s.server_id for s in self.membership.servers() if s.state in GONE_STATES}
            abandoned = [d.chunk_id for d in due if d.server_id in gone]
            if abandoned:
                await self.catalog.forget_deletions(abandoned)
                report.abandoned += len(abandoned)
                due = [d for d in due if d.server_id not in gone]
            if not due:
                return self._account(report)
            limit = asyncio.Semaphore(PARALLEL_DELETES)
            results = await asyncio.gather(*(self._delete(d, limit) for d in due))
            done = [d.chunk_id for d, ok in zip(due, results, strict=True) if ok]
            await self.catalog.forget_deletions(done)
            report.deleted_chunks += len(done)
            report.failed += len(due) - len(done)
            if len(done) < len(due):
                return self._account(report)  # some servers are unreachable: try again next pass

    def _account(self, report: SweepReport) -> SweepReport:
        for name, value in report.__dict__.items():
            setattr(self.totals, name, getattr(self.totals, name) + value)
        return report

    async def _delete(self, pending: PendingDeletion, limit: asyncio.Semaphore) -> bool:
        async with limit:
            try:
                url = self.membership.url_of(pending.server_id)
                await self.client.delete_chunk(url, pending.chunk_id)
            except (ChunkServerError, KeyError) as error:
                log.info("could not delete chunk %s yet: %s", pending.chunk_id, error)
                return False
        return True
