"""Background duties when several gateways share one catalog.

Each process keeps its liveness row renewed (`keep_alive`). Work that must happen once per
cluster, not once per gateway, runs only in the process that holds its lease: the collector
(dead processes' intents, the deletion queue, upload expiry, lifecycle rules), polling the
chunk servers (recording their stats, marking them down or lost), repair, and rebalancing.
Any gateway can hold any lease; when its holder dies, another gateway takes the duty over
once the lease expires. Every process also publishes the read holds of its long reads, which
keep their chunks from whichever process collects (store/reads.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass

from s3compat.catalog.leases import LeaseCatalog
from s3compat.cluster.membership import Membership
from s3compat.store.gc import Collector
from s3compat.store.reads import OpenReads, hold_interval
from s3compat.store.repair import Repairer

log = logging.getLogger(__name__)

GC_LEASE = "gc"
MEMBERSHIP_LEASE = "membership"
REBALANCE_LEASE = "rebalance"
REPAIR_LEASE = "repair"
# Renewals per lifetime: a renewal may be late or fail a few times before the lease lapses.
RENEWALS_PER_LEASE = 4


class LeaseBusy(Exception):
    """Another process holds the lease."""


@dataclass(frozen=True)
class Leaseholder:
    """This process as a taker of the cluster's leases, each held for `lease_seconds` unless
    renewed."""

    leases: LeaseCatalog
    process_id: str
    lease_seconds: float

    async def acquire(self, name: str) -> bool:
        """Take or renew lease `name`; False while another process holds it."""
        return await self.leases.acquire(name, self.process_id, self.lease_seconds)


async def keep_alive(
    leases: LeaseCatalog, process_id: str, description: str, ttl_seconds: float
) -> None:
    """Renew this process's liveness row forever (cancel to stop)."""
    while True:
        await asyncio.sleep(ttl_seconds / RENEWALS_PER_LEASE)
        try:
            if not await leases.keep_alive(process_id, description, ttl_seconds):
                log.warning(
                    "process %s was taken for dead (not renewed for %.0f s): writes that were "
                    "in flight will fail",
                    process_id,
                    ttl_seconds,
                )
        except Exception:  # a failed renewal must not stop the next one
            log.exception("renewing process %s failed", process_id)


async def publish_holds(
    reads: OpenReads, leases: LeaseCatalog, process_id: str, grace_seconds: float
) -> None:
    """Keep this process's read holds in the catalog (forever; cancel to stop): every
    `hold_interval`, the chunks of the reads that began more than that long ago."""
    interval = hold_interval(grace_seconds)
    published: set[str] = set()
    while True:
        await asyncio.sleep(interval)
        wanted = reads.older_than(interval)
        if not wanted and not published:
            continue
        try:
            # Every hold each round, not only the new ones: a process taken for dead (paused
            # past its lifetime) has had its holds collected with its intents.
            await leases.hold_reads(process_id, wanted, published - wanted)
            published = wanted
        except Exception:  # the next round tries again
            # It may have committed all the same: whatever it held is released later.
            published |= wanted
            log.exception("publishing the read holds of process %s failed", process_id)


async def run_collector(collector: Collector, holder: Leaseholder, *, interval: float) -> None:
    """Sweep every `interval` seconds while this process holds the collector lease."""
    ttl = max(holder.lease_seconds, RENEWALS_PER_LEASE * interval)
    while True:
        try:
            if await holder.leases.acquire(GC_LEASE, holder.process_id, ttl):
                await collect_once(collector, holder.leases)
        except Exception:
            log.exception("garbage collection pass failed")
        await asyncio.sleep(interval)


async def collect_once(collector: Collector, leases: LeaseCatalog) -> int:
    """Collect dead processes' intents, then one collector pass. Returns intents collected."""
    collected = await leases.collect_dead_intents()
    collector.totals.expired_intents += collected
    await collector.sweep()
    return collected


@dataclass(eq=False)
class SharedMembership(Membership):
    """The membership view of a gateway among several: the lease holder polls the chunk servers
    and records what they said; every other gateway reloads that record from the catalog."""

    _: KW_ONLY
    holder: Leaseholder

    async def refresh(self) -> None:
        if await self.holder.acquire(MEMBERSHIP_LEASE):
            await super().refresh()
        else:
            await self.reload()


@asynccontextmanager
async def holding(
    leases: LeaseCatalog, name: str, process_id: str, lease_seconds: float
) -> AsyncIterator[None]:
    """Hold lease `name` (renewed in the background) for the body; LeaseBusy if taken."""
    if not await leases.acquire(name, process_id, lease_seconds):
        holder = await leases.holder(name)
        raise LeaseBusy(f"{name} is being done by process {holder}")

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_seconds / RENEWALS_PER_LEASE)
            try:
                await leases.acquire(name, process_id, lease_seconds)
            except Exception:
                log.exception("renewing lease %s failed", name)

    renewer = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await asyncio.shield(leases.release(name, process_id))


async def run_repairer(repairer: Repairer, holder: Leaseholder, *, interval: float) -> None:
    """A repair pass every `interval` seconds, or sooner when the store saw something to
    repair, while this process holds the repair lease (renewed during a long pass, so that
    no two gateways repair the same segment)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(repairer.wanted.wait(), interval)
        repairer.wanted.clear()
        try:
            async with holding(
                holder.leases, REPAIR_LEASE, holder.process_id, holder.lease_seconds
            ):
                report = await repairer.run(full=repairer.full_pass_due())
            if report.repaired or not report.complete:
                log.info("repair pass: %s", report)
        except LeaseBusy:
            pass
        except Exception:
            log.exception("repair pass failed")
