"""Reading a striped segment, degraded when pieces are missing, corrupt, down or slow.

Healthy: each data piece that holds wanted bytes is streamed over its own connection with a
little read-ahead, and the blocks are handed out in segment order, so a large read draws on 6
daemons at once. When a piece fails (its daemon is unreachable, answers 404, finds a bad block
and cuts its answer, or gives no block for `READ_HEDGE_SECONDS`), the read goes on from the
byte where it stood: whole stripes are read from any 6 of the remaining pieces and the lost
blocks rebuilt. Only when fewer than 6 pieces of a stripe remain does the read fail
(`SegmentUnreadable`), and a caller that has not started its answer turns that into a 503.
Every byte handed out was checked by its daemon (a CRC32C per 64 KiB block) or rebuilt from
checked bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkCorrupt, ChunkNotFound, ChunkServerError
from s3compat.records import ChunkRecord
from s3compat.store.coding import StripeCoder
from s3compat.store.errors import BackendFailure
from s3compat.store.pieces import SMALL_READ_BYTES, ServerUrls
from s3compat.store.stripes import DATA_PIECES, Geometry

# A piece that gives no bytes for this long is read around (rebuilt from the others).
READ_HEDGE_SECONDS = 5.0
# Blocks (of the HTTP client's size, at most 256 KiB) read ahead on each piece's connection.
READ_AHEAD_BLOCKS = 4


class SegmentUnreadable(BackendFailure):
    """More pieces of a stripe are unavailable than its parity can make up for."""


@dataclass(frozen=True)
class Segment:
    """A striped segment as the catalog records it: its pieces by role (lost ones absent)."""

    offset: int
    geometry: Geometry
    pieces: Mapping[int, ChunkRecord]

    @classmethod
    def of(cls, chunks: Collection[ChunkRecord]) -> Segment:
        first = next(iter(chunks))
        geometry = Geometry(first.segment_length, first.block_bytes, first.parity)
        return cls(first.offset, geometry, {c.piece: c for c in chunks})


# Why a piece could not give its bytes.
PieceFault = Literal["missing", "corrupt", "cut", "unreachable", "slow"]


class PieceFailed(Exception):
    """Pieces could not give their bytes; `reason` per role: missing, corrupt, cut (the answer
    stopped after it started), unreachable, slow."""

    def __init__(self, reasons: dict[int, PieceFault]) -> None:
        super().__init__(", ".join(f"piece {r}: {why}" for r, why in sorted(reasons.items())))
        self.reasons = reasons


# Called with a piece found missing, corrupt or cut short (not merely unreachable or slow).
DAMAGE_REASONS: tuple[PieceFault, ...] = ("missing", "corrupt", "cut")
OnDamage = Callable[[ChunkRecord, PieceFault], Awaitable[None]]


def _reason(error: BaseException) -> PieceFault:
    if isinstance(error, ChunkNotFound):
        return "missing"
    if isinstance(error, ChunkCorrupt):
        return "corrupt"
    if isinstance(error, TimeoutError):
        return "slow"
    return "unreachable"


class _PieceReader:
    """Streams bytes [low, high) of one piece ahead of its consumer, a few blocks deep."""

    def __init__(
        self, client: ChunkClient, url: str, chunk: ChunkRecord, low: int, high: int
    ) -> None:
        self.role = chunk.piece
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(READ_AHEAD_BLOCKS)
        self._pending = b""
        self.cut = False
        self._task = asyncio.ensure_future(self._pump(client, url, chunk.chunk_id, low, high))

    async def _pump(
        self, client: ChunkClient, url: str, chunk_id: str, low: int, high: int
    ) -> None:
        received = False
        try:
            blocks = client.get_chunk(url, chunk_id, low, high)
            async with aclosing(blocks):
                async for block in blocks:
                    received = True
                    await self._queue.put(block)
            await self._queue.put(None)
        except Exception as error:
            # An answer cut after it started is what a daemon does when it finds a bad block
            # further on (or when it dies): the chunk is suspect, the server not known down.
            self.cut = received
            await self._queue.put(error)

    async def take(self, size: int) -> bytes:
        """The next `size` bytes; PieceFailed if the piece cannot give them in time."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            if not self._pending:
                try:
                    item = await asyncio.wait_for(self._queue.get(), READ_HEDGE_SECONDS)
                except TimeoutError as error:
                    raise PieceFailed({self.role: _reason(error)}) from error
                if isinstance(item, BaseException):
                    reason = "cut" if self.cut else _reason(item)
                    raise PieceFailed({self.role: reason}) from item
                if item is None:
                    raise PieceFailed({self.role: "unreachable"})
                self._pending = item
            part, self._pending = self._pending[: size - got], self._pending[size - got :]
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def read_striped(
    client: ChunkClient,
    servers: ServerUrls,
    segment: Segment,
    start: int,
    end: int,
    *,
    unavailable: Collection[str] = (),
    on_damage: OnDamage | None = None,
) -> AsyncGenerator[bytes, None]:
    """Yield bytes [start, end) of the segment (offsets within it). Pieces on servers in
    `unavailable` (known down) are read around from the start."""
    geometry = segment.geometry
    failed = {role for role in range(geometry.roles) if role not in segment.pieces} | {
        role for role, chunk in segment.pieces.items() if chunk.server_id in unavailable
    }
    position = start
    while position < end:
        if geometry.roles - len(failed) < DATA_PIECES:
            raise SegmentUnreadable(
                f"{len(failed)} of {geometry.roles} pieces of a segment are unavailable"
            )
        wanted = geometry.piece_ranges(position, end)
        if failed.isdisjoint(wanted):
            blocks = _healthy(client, servers, segment, position, end)
        else:
            blocks = _degraded(client, servers, segment, position, end, failed)
        try:
            async with aclosing(blocks):
                async for block in blocks:
                    position += len(block)
                    yield block
        except PieceFailed as failure:
            failed.update(failure.reasons)
            for role, reason in failure.reasons.items():
                if reason in DAMAGE_REASONS and on_damage is not None:
                    await on_damage(segment.pieces[role], reason)
                elif reason == "unreachable":
                    servers.mark_failed(segment.pieces[role].server_id)


async def _healthy(
    client: ChunkClient, servers: ServerUrls, segment: Segment, start: int, end: int
) -> AsyncGenerator[bytes, None]:
    """[start, end) from the data pieces alone."""
    geometry = segment.geometry
    ranges = geometry.piece_ranges(start, end)
    if end - start <= SMALL_READ_BYTES:
        held = await _fetch_whole(client, servers, segment, ranges)
        for block in geometry.blocks(start, end):
            low = block.piece_offset - ranges[block.role][0]
            yield held[block.role][low : low + block.length]
        return
    readers = _open(client, servers, segment, ranges)
    try:
        for block in geometry.blocks(start, end):
            yield await readers[block.role].take(block.length)
    finally:
        await asyncio.gather(*(reader.close() for reader in readers.values()))


async def _degraded(
    client: ChunkClient,
    servers: ServerUrls,
    segment: Segment,
    start: int,
    end: int,
    failed: Collection[int],
) -> AsyncGenerator[bytes, None]:
    """[start, end) from whole stripes of 6 pieces that are not `failed`, rebuilding the data
    blocks of failed pieces."""
    geometry = segment.geometry
    coder = StripeCoder(geometry.parity)
    first, last = geometry.stripe_of(start), geometry.stripe_of(end - 1)
    healthy = [role for role in range(geometry.roles) if role not in failed]
    chosen = healthy[:DATA_PIECES]  # data pieces first: fewer blocks to rebuild
    ranges = {role: geometry.stripe_piece_range(role, first, last) for role in chosen}
    readers = _open(client, servers, segment, ranges)
    try:
        for stripe in range(first, last + 1):
            taken = await _take_all(
                readers, {role: geometry.role_block_bytes(role, stripe) for role in chosen}
            )
            lost = [role for role in range(DATA_PIECES) if role not in taken]
            if lost:
                code_bytes = geometry.code_block_bytes(stripe)
                taken.update(coder.rebuild(taken, code_bytes, lost))
            sizes = geometry.block_sizes(stripe)
            offset = geometry.stripe_start(stripe)
            for role in range(DATA_PIECES):
                low, high = max(start, offset), min(end, offset + sizes[role])
                if low < high:
                    yield taken[role][low - offset : high - offset]
                offset += sizes[role]
    finally:
        await asyncio.gather(*(reader.close() for reader in readers.values()))


def _open(
    client: ChunkClient,
    servers: ServerUrls,
    segment: Segment,
    ranges: Mapping[int, tuple[int, int]],
) -> dict[int, _PieceReader]:
    urls = {role: _url(servers, segment.pieces[role], role) for role in ranges}
    return {
        role: _PieceReader(client, urls[role], segment.pieces[role], low, high)
        for role, (low, high) in ranges.items()
    }


def _url(servers: ServerUrls, chunk: ChunkRecord, role: int) -> str:
    try:
        return servers.url_of(chunk.server_id)
    except KeyError as error:
        raise PieceFailed({role: "unreachable"}) from error


async def _take_all(
    readers: Mapping[int, _PieceReader], sizes: Mapping[int, int]
) -> dict[int, bytes]:
    """The next block of every reader at once."""
    return await _each_piece({role: readers[role].take(size) for role, size in sizes.items()})


async def _fetch_whole(
    client: ChunkClient,
    servers: ServerUrls,
    segment: Segment,
    ranges: Mapping[int, tuple[int, int]],
) -> dict[int, bytes]:
    """Small reads: each piece range in one request, all at once."""

    async def fetch(role: int, low: int, high: int) -> bytes:
        chunk = segment.pieces[role]
        url = _url(servers, chunk, role)
        try:
            return await asyncio.wait_for(
                client.read_chunk(url, chunk.chunk_id, low, high), READ_HEDGE_SECONDS
            )
        except (ChunkServerError, TimeoutError) as error:
            raise PieceFailed({role: _reason(error)}) from error

    return await _each_piece({role: fetch(role, *span) for role, span in ranges.items()})


async def _each_piece(work: Mapping[int, Awaitable[bytes]]) -> dict[int, bytes]:
    """Await every piece's bytes at once; PieceFailed naming every piece that failed."""
    outcomes = await asyncio.gather(*work.values(), return_exceptions=True)
    failures: dict[int, PieceFault] = {}
    held: dict[int, bytes] = {}
    for role, outcome in zip(work, outcomes, strict=True):
        if isinstance(outcome, PieceFailed):
            failures.update(outcome.reasons)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            held[role] = outcome
    if failures:
        raise PieceFailed(failures)
    return held
