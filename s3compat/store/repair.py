"""Repair: bring every segment back to 6+M healthy pieces on 6+M distinct servers.

A striped segment needs repair when a role has no piece (its write could not place or store
it), its piece is on a lost or removed server, or a reader or scrub reported it missing or
corrupt (`damaged_chunks`; re-verified first, a transient failure is no damage). Repair reads
the segment through the degraded read path, from pieces that are whole and on servers that
are up, re-codes it stripe by stripe, and streams only the pieces it lacks to servers that
hold no other piece of it. A rebuilt piece must have the CRC32C the catalog recorded for the
piece it replaces (coding is deterministic), so a repair can never swap in wrong bytes. The
swap is one catalog transaction that first checks the segment is still the one repair read;
the replaced pieces are queued for deletion after the readers' grace, nothing a reader holds
disappears under it.

Reprotect rewrites segments with less parity than the cluster's (contiguous ones written
before striping, striped ones written at a lower parity) into the striped layout, streaming.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import InitVar, dataclass, field, replace

from s3compat.catalog.chunkrows import IntentsLost
from s3compat.catalog.repairs import (
    GONE_STATES,
    SHORT,
    RepairCatalog,
    SegmentChanged,
    SegmentKey,
)
from s3compat.cluster.errors import ChunkCorrupt, ChunkNotFound, ChunkServerError
from s3compat.records import ChunkRecord, ServerState
from s3compat.store import segments
from s3compat.store.errors import BackendFailure
from s3compat.store.pieces import IteratorSource
from s3compat.store.placement import Candidate, choose_servers
from s3compat.store.service import ChunkService
from s3compat.store.stripe_read import Segment, read_striped
from s3compat.store.stripe_write import required_pieces, write_striped
from s3compat.store.stripes import BLOCK_BYTES, DATA_PIECES, LAYOUT_STRIPED, Geometry

log = logging.getLogger(__name__)

# Segments repaired at once: repair traffic stays a bounded share of the cluster's.
REPAIR_CONCURRENCY = 2
PAGE = 200
# The background duty scans every chunk this often (a degraded read, a write short of pieces or
# a lost server is found between scans through the damage queue and indexes).
FULL_PASS_SECONDS = 600.0
# Damage reports of chunks not in the catalog are dropped once this old (a report may be noted
# by a write before its commit).
STALE_DAMAGE_SECONDS = 3600.0
READABLE_STATES: tuple[ServerState, ...] = ("up", "draining")
Progress = Callable[["RepairReport", float], None]


@dataclass
class RepairReport:
    """What one repair pass did, and what it had to leave."""

    to_repair: int = 0  # segments short of pieces when the pass began
    objects: int = 0  # the objects (or uploads) they belong to
    checked: int = 0
    repaired: int = 0
    pieces_rebuilt: int = 0
    bytes_rebuilt: int = 0
    false_alarms: int = 0  # damage reports whose piece verified whole
    waiting_for_servers: int = 0  # too few servers up to put each piece on its own
    unreadable: int = 0  # fewer than 6 pieces usable now
    deferred: int = 0  # changed meanwhile, a source failed, or a damaged piece's server is down
    reprotected: int = 0
    bytes_reprotected: int = 0

    @property
    def complete(self) -> bool:
        """True when the pass left nothing behind."""
        return not (self.waiting_for_servers or self.unreadable or self.deferred)


class RepairMismatch(Exception):
    """A rebuilt piece's CRC32C differs from the one recorded for the piece it replaces."""


@dataclass(eq=False)
class Repairer(ChunkService):
    repairs: RepairCatalog
    parity_of: Callable[[], int]
    concurrency: InitVar[int] = REPAIR_CONCURRENCY
    # Set by the store when it saw damage or wrote a segment short of pieces.
    wanted: asyncio.Event = field(default_factory=asyncio.Event)
    limit: asyncio.Semaphore = field(init=False)
    totals: RepairReport = field(default_factory=RepairReport, init=False)
    # (segments, objects) short of pieces, as the last full pass counted them at its end.
    under_protected: tuple[int, int] = field(default=(0, 0), init=False)
    last_full_pass: float = field(default=float("-inf"), init=False)

    def __post_init__(self, concurrency: int) -> None:
        self.limit = asyncio.Semaphore(concurrency)

    async def run(
        self, *, full: bool = True, reprotect: bool = False, progress: Progress | None = None
    ) -> RepairReport:
        """One pass over every segment short of pieces (`full`: found by a scan of every
        chunk; else only the segments with pieces reported damaged, noted short by their
        write, or on gone servers, found through indexes), and with `reprotect`, every segment
        with less parity than the cluster's."""
        report = RepairReport()
        await self.repairs.forget_stale_damage(time.time() - STALE_DAMAGE_SECONDS)
        started = time.monotonic()
        if full:
            report.to_repair, report.objects = await self.repairs.count_short_segments()
            await self._each(self.repairs.short_segments, self._repair, report, progress, started)
        else:
            await self._each(self.repairs.suspect_segments, self._repair, report, progress, started)
        if reprotect:
            parity = self.parity_of()

            async def weak(after: SegmentKey | None, limit: int) -> list[SegmentKey]:
                return await self.repairs.weak_segments(parity, after, limit)

            await self._each(weak, self._rewrite, report, progress, started)
        for name, value in report.__dict__.items():
            setattr(self.totals, name, getattr(self.totals, name) + value)
        if full or report.repaired:
            self.under_protected = await self.repairs.count_short_segments()
        if full:
            self.last_full_pass = time.monotonic()
        return report

    def full_pass_due(self) -> bool:
        """Whether the background duty's next pass should scan every chunk."""
        return time.monotonic() - self.last_full_pass >= FULL_PASS_SECONDS

    async def _each(
        self,
        keys_after: Callable[[SegmentKey | None, int], Awaitable[list[SegmentKey]]],
        work: Callable[[SegmentKey, RepairReport], Awaitable[None]],
        report: RepairReport,
        progress: Progress | None,
        started: float,
    ) -> None:
        after: SegmentKey | None = None
        while keys := await keys_after(after, PAGE):
            await asyncio.gather(*(self._one(work, key, report) for key in keys))
            after = keys[-1]
            if progress is not None:
                progress(report, time.monotonic() - started)

    async def _one(
        self,
        work: Callable[[SegmentKey, RepairReport], Awaitable[None]],
        key: SegmentKey,
        report: RepairReport,
    ) -> None:
        async with self.limit:
            report.checked += 1
            try:
                await work(key, report)
            except (SegmentChanged, IntentsLost) as changed:
                log.info("repair of segment %s deferred: %s", key, changed)
                report.deferred += 1
            except (BackendFailure, ChunkServerError, RepairMismatch) as error:
                log.warning("repair of segment %s failed: %s", key, error)
                report.deferred += 1

    # --- rebuilding missing pieces -----------------------------------------------------------

    async def _repair(self, key: SegmentKey, report: RepairReport) -> None:
        rows = await self.repairs.segment_chunks(key)
        if not rows:
            return  # deleted meanwhile
        segment = Segment.of(rows)
        geometry = segment.geometry
        states = {s.server_id: s.state for s in self.membership.servers()}
        bad = await self._bad_roles(segment, states, report)
        if bad is None:
            report.deferred += 1
            return
        if not bad:
            return
        kept = {role: c for role, c in segment.pieces.items() if role not in bad}
        usable = [c for c in kept.values() if states.get(c.server_id) in READABLE_STATES]
        if len(usable) < DATA_PIECES:
            log.warning("segment %s has %d usable pieces: not repairable now", key, len(usable))
            report.unreadable += 1
            return
        targets = self._targets({c.server_id for c in kept.values()}, len(bad))
        if targets is None:
            report.waiting_for_servers += 1
            return
        template = rows[0]
        new = [
            replace(
                template,
                chunk_id=uuid.uuid4().hex,
                server_id=server,
                piece=role,
                length=geometry.piece_length(role),
                crc32c="",
            )
            for role, server in zip(sorted(bad), targets, strict=True)
        ]
        unavailable = {s for s, state in states.items() if state not in READABLE_STATES}
        blocks = read_striped(
            self.client,
            self.membership,
            Segment(segment.offset, geometry, kept),
            0,
            geometry.length,
            unavailable=unavailable,
        )
        stored = await self._write(blocks, new, geometry, required=len(new))
        for piece in stored:
            old = bad[piece.piece]
            if old is not None and old.crc32c and old.crc32c != piece.crc32c:
                await self.catalog.abandon_chunks(c.chunk_id for c in new)
                raise RepairMismatch(
                    f"rebuilt piece {piece.piece} has CRC32C {piece.crc32c}, the catalog "
                    f"recorded {old.crc32c}"
                )
        replaced = [c for c in bad.values() if c is not None]
        await self._swap(key, rows, replaced, stored)
        report.repaired += 1
        report.pieces_rebuilt += len(stored)
        report.bytes_rebuilt += sum(c.length for c in stored)

    async def _bad_roles(
        self, segment: Segment, states: dict[str, ServerState], report: RepairReport
    ) -> dict[int, ChunkRecord | None] | None:
        """Roles to rebuild (with the piece each replaces, None for a role with no piece);
        None when a reported piece cannot be checked now (its server is down)."""
        damage = await self.repairs.damage_of([c.chunk_id for c in segment.pieces.values()])
        bad: dict[int, ChunkRecord | None] = {}
        false_alarms: list[str] = []
        notes: list[str] = []
        for role in range(segment.geometry.roles):
            chunk = segment.pieces.get(role)
            if chunk is None:
                bad[role] = None
            elif states.get(chunk.server_id, "removed") in GONE_STATES:
                bad[role] = chunk
            elif damage.get(chunk.chunk_id) == SHORT:
                notes.append(chunk.chunk_id)  # not damage: the write stored too few pieces
            elif chunk.chunk_id in damage:
                verdict = await self._verify(chunk, states)
                if verdict is None:
                    return None
                if verdict:
                    false_alarms.append(chunk.chunk_id)
                else:
                    bad[role] = chunk
        if false_alarms:
            report.false_alarms += len(false_alarms)
            await self.repairs.clear_damage(false_alarms)
        if notes and all(chunk is not None for chunk in bad.values()):
            await self.repairs.clear_damage(notes)  # the missing pieces are back
        return bad

    async def _verify(self, chunk: ChunkRecord, states: dict[str, ServerState]) -> bool | None:
        """Whether a piece reported damaged is whole after all; None if that cannot be told."""
        if states.get(chunk.server_id) not in READABLE_STATES:
            return None
        try:
            return await self.client.verify_chunk(
                self.membership.url_of(chunk.server_id), chunk.chunk_id
            )
        except (ChunkNotFound, ChunkCorrupt):
            return False
        except (ChunkServerError, KeyError):
            return None

    def _targets(self, holders: set[str], count: int) -> list[str] | None:
        """`count` writable servers holding no piece of the segment, the emptiest favoured."""
        candidates = [
            Candidate(s.server_id, s.capacity_bytes, s.used_bytes, s.free_bytes)
            for s in self.membership.writable()
            if s.server_id not in holders
        ]
        if len(candidates) < count:
            log.warning(
                "repair needs %d more servers holding no piece of a segment, %d are up",
                count,
                len(candidates),
            )
            return None
        return [c.server_id for c in choose_servers(candidates, count)]

    async def _write(
        self,
        blocks: AsyncGenerator[bytes, None],
        new: list[ChunkRecord],
        geometry: Geometry,
        *,
        required: int | None = None,
    ) -> list[ChunkRecord]:
        """Stream `blocks` (the segment's bytes) into the `new` pieces under intents."""
        await self.catalog.record_intents(new, self.gateway_id)
        try:
            async with aclosing(blocks):
                stored = await write_striped(
                    self.client,
                    self.membership,
                    IteratorSource(blocks),
                    new,
                    geometry,
                    None,
                    required=required,
                )
        except BaseException:
            await asyncio.shield(self.catalog.abandon_chunks(c.chunk_id for c in new))
            raise
        kept = {c.chunk_id for c in stored}
        await self.catalog.abandon_chunks(c.chunk_id for c in new if c.chunk_id not in kept)
        return stored

    async def _swap(
        self,
        key: SegmentKey,
        rows: list[ChunkRecord],
        replaced: list[ChunkRecord],
        stored: list[ChunkRecord],
    ) -> None:
        try:
            await self.repairs.replace_segment_pieces(
                key, rows, replaced, stored, grace_seconds=self.grace_seconds
            )
        except BaseException:
            await asyncio.shield(self.catalog.abandon_chunks(c.chunk_id for c in stored))
            raise

    # --- reprotecting ------------------------------------------------------------------------

    async def _rewrite(self, key: SegmentKey, report: RepairReport) -> None:
        """Rewrite a segment with less parity than the cluster's in the striped layout."""
        rows = await self.repairs.segment_chunks(key)
        parity = self.parity_of()
        if not rows or (rows[0].layout == LAYOUT_STRIPED and rows[0].parity >= parity):
            return
        low = min(c.offset for c in rows)
        if rows[0].layout == LAYOUT_STRIPED:
            length = rows[0].segment_length
        else:
            length = sum(c.length for c in rows)
        geometry = Geometry(length, BLOCK_BYTES, parity)
        writable = self.membership.writable()
        if len(writable) < required_pieces(parity):
            report.waiting_for_servers += 1
            return
        chosen = choose_servers(
            [
                Candidate(s.server_id, s.capacity_bytes, s.used_bytes, s.free_bytes)
                for s in writable
            ],
            min(geometry.roles, len(writable)),
        )
        new = [
            ChunkRecord(
                uuid.uuid4().hex,
                server.server_id,
                rows[0].part_number,
                role,
                low,
                geometry.piece_length(role),
                "",
                layout=LAYOUT_STRIPED,
                segment_length=length,
                block_bytes=geometry.block_bytes,
                parity=parity,
            )
            for role, server in enumerate(chosen)
        ]
        unavailable = {
            s.server_id for s in self.membership.servers() if s.state not in READABLE_STATES
        }
        blocks = segments.read_range(
            self.client, self.membership, rows, low, low + length, unavailable=unavailable
        )
        stored = await self._write(blocks, new, geometry)
        await self._swap(key, rows, rows, stored)
        report.reprotected += 1
        report.bytes_reprotected += length
