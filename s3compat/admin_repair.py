"""`s3compat admin repair` and `admin scrub`: bring objects back to full protection, and say
per object whether it is healthy, degraded (readable, short of pieces) or lost."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from s3compat.catalog.repairs import (
    SegmentKey,
    count_objects,
    owner_names,
    segments_holding,
)
from s3compat.config import GatewayConfig
from s3compat.duties import REPAIR_LEASE, LeaseBusy, holding
from s3compat.gateway import Services, open_services
from s3compat.store.repair import READABLE_STATES, RepairReport
from s3compat.store.scrub import ScrubReport, scrub
from s3compat.store.stripe_read import Segment
from s3compat.store.stripes import DATA_PIECES, LAYOUT_STRIPED

# Seconds between passes while `--wait` waits (for a server to be added, or the lease).
WAIT_SECONDS = 1.0


def print_repair_progress(report: RepairReport, elapsed: float) -> None:
    """A progress line on a terminal: segments, objects, bytes, rate, ETA."""
    if not sys.stderr.isatty():
        return
    done = report.repaired + report.reprotected
    moved = report.bytes_rebuilt + report.bytes_reprotected
    rate = moved / elapsed if elapsed > 0 else 0.0
    per_segment = elapsed / done if done else 0.0
    eta = max(report.to_repair - report.checked, 0) * per_segment
    sys.stderr.write(
        f"\rrepaired {done} of {report.to_repair} segments ({report.objects} objects), "
        f"{moved / 2**20:.1f} MiB at {rate / 2**20:.1f} MiB/s, ETA {eta:.0f} s "
    )
    sys.stderr.flush()


async def repair(config: GatewayConfig, *, wait: bool, reprotect: bool) -> dict[str, Any]:
    """Repair passes now; with `wait`, until every segment has all its pieces (waiting for
    servers to be added if there are too few, and for a gateway's pass to end)."""
    async with open_services(config) as services:
        said: set[str] = set()
        total = RepairReport()
        while True:
            try:
                report = await _pass(services, config, reprotect=reprotect)
            except LeaseBusy as busy:
                if not wait:
                    raise SystemExit(f"refused: {busy}") from None
                _say_once(said, f"waiting: {busy}")
                await asyncio.sleep(WAIT_SECONDS)
                continue
            for name, value in report.__dict__.items():
                setattr(total, name, getattr(total, name) + value)
            short, objects = services.repairer.under_protected
            if short == 0 and report.complete:
                break
            if report.waiting_for_servers:
                _say_once(
                    said,
                    f"{report.waiting_for_servers} segments need more servers than are up to "
                    "hold each piece on its own server: add a server (s3compat admin server add)",
                )
            if report.unreadable:
                _say_once(
                    said,
                    f"{report.unreadable} segments have fewer than {DATA_PIECES} usable pieces "
                    "now: they are repaired if servers that hold their pieces come back",
                )
            if not wait:
                break
            await asyncio.sleep(WAIT_SECONDS)
        short, objects = services.repairer.under_protected
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    return {**total.__dict__, "under_protected_segments": short, "under_protected_objects": objects}


async def _pass(services: Services, config: GatewayConfig, *, reprotect: bool) -> RepairReport:
    async with holding(services.leases, REPAIR_LEASE, services.process_id, config.lease_seconds):
        await services.membership.refresh()
        await services.store.load_settings()
        return await services.repairer.run(reprotect=reprotect, progress=print_repair_progress)


def _say_once(said: set[str], message: str) -> None:
    if message not in said:
        said.add(message)
        print(message, file=sys.stderr, flush=True)


@dataclass
class ObjectHealth:
    healthy: int = 0
    degraded: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


async def scrub_cluster(config: GatewayConfig, *, heal: bool) -> tuple[bool, dict[str, Any]]:
    """(damaged, findings): per server what scrub found, per object its health; with `heal`,
    the damage found is queued and repaired (waiting as `repair --wait` does), and the
    objects are scrubbed again."""
    async with open_services(config) as services:
        await services.membership.refresh()
        report = await scrub(services.catalog, services.maintenance, services.client)
        health = await _object_health(services, report)
        document: dict[str, Any] = {}
        if heal and (health.degraded or health.lost):
            for findings in report.servers.values():
                for chunk_id in findings.missing:
                    await services.catalog.note_damaged(chunk_id, "missing")
                for chunk_id in findings.corrupt:
                    await services.catalog.note_damaged(chunk_id, "corrupt")
    if heal and (health.degraded or health.lost):
        document["repair"] = await repair(config, wait=not health.lost, reprotect=False)
        async with open_services(config) as services:
            report = await scrub(services.catalog, services.maintenance, services.client)
            health = await _object_health(services, report)
    damaged = bool(health.degraded or health.lost) or any(
        f.unreachable for f in report.servers.values()
    )
    document.update(
        {
            "damaged": damaged,
            "objects": health.__dict__,
            "servers": {name: found.__dict__ for name, found in report.servers.items()},
        }
    )
    return damaged, document


async def _object_health(services: Services, report: ScrubReport) -> ObjectHealth:
    """Sort the objects by the worst of their segments: lost when a segment has fewer than 6
    usable pieces (a contiguous one: any), degraded when it is short of any piece."""
    states = {s.server_id: s.state for s in services.membership.servers()}
    bad: set[str] = set()
    for server_id, findings in report.servers.items():
        bad.update(findings.missing, findings.corrupt)
        if findings.unreachable or states.get(server_id) not in READABLE_STATES:
            bad.update(await services.maintenance.chunks_on(server_id))
    repairs = services.repairer.repairs
    keys: set[SegmentKey] = await segments_holding(repairs.db, sorted(bad))
    after: SegmentKey | None = None
    while short := await repairs.short_segments(after, 1000):
        keys.update(short)
        after = short[-1]
    names = await owner_names(repairs.db, sorted(keys))
    worst: dict[str, str] = {}
    for key in sorted(keys):
        rows = await repairs.segment_chunks(key)
        if not rows:
            continue
        usable = [
            c for c in rows if c.chunk_id not in bad and states.get(c.server_id) in READABLE_STATES
        ]
        if rows[0].layout == LAYOUT_STRIPED:
            segment = Segment.of(rows)
            lost = len(usable) < DATA_PIECES
            short_of = len(usable) < segment.geometry.roles
        else:
            lost = len(usable) < len(rows)
            short_of = lost
        name = names[key]
        if lost:
            worst[name] = "lost"
        elif short_of and worst.get(name) != "lost":
            worst[name] = "degraded"
    health = ObjectHealth()
    health.degraded = sorted(n for n, state in worst.items() if state == "degraded")
    health.lost = sorted(n for n, state in worst.items() if state == "lost")
    total = await count_objects(repairs.db)
    health.healthy = max(total - sum(1 for n in worst if not n.startswith("upload ")), 0)
    return health
