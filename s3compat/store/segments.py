"""An object's bytes as segments: which layout holds each range, and reading across them.

An object's chunk rows (in offset order) form runs of layout-1 pieces (contiguous sixths,
written before the striped layout existed) and layout-2 segments (one per single PUT or
multipart part, striped, with parity). Every layout ever written stays readable.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from itertools import groupby

from s3compat.cluster.client import ChunkClient
from s3compat.records import ChunkRecord
from s3compat.store.encryption import open_range, plain_length
from s3compat.store.errors import BackendFailure
from s3compat.store.pieces import ServerUrls
from s3compat.store.pieces import read_range as read_contiguous
from s3compat.store.stripe_read import OnDamage, Segment, SegmentUnreadable, read_striped
from s3compat.store.stripes import DATA_PIECES, LAYOUT_STRIPED

Run = Segment | list[ChunkRecord]


def runs(chunks: Sequence[ChunkRecord]) -> list[Run]:
    """Striped segments and runs of contiguous pieces, in object order."""
    ordered = sorted(chunks, key=lambda c: (c.offset, c.part_number, c.piece))
    found: list[Run] = []
    for (striped, _offset, _part), group in groupby(
        ordered,
        key=lambda c: (
            c.layout == LAYOUT_STRIPED,
            c.offset if c.layout == LAYOUT_STRIPED else 0,
            c.part_number if c.layout == LAYOUT_STRIPED else 0,
        ),
    ):
        members = list(group)
        if striped:
            found.append(Segment.of(members))
        elif found and isinstance(found[-1], list):
            found[-1].extend(members)
        else:
            found.append(members)
    return found


def _span(run: Run) -> tuple[int, int]:
    if isinstance(run, Segment):
        return run.offset, run.offset + run.geometry.length
    return run[0].offset, run[-1].offset + run[-1].length


def check_readable(
    chunks: Sequence[ChunkRecord], start: int, end: int, unavailable: Collection[str]
) -> None:
    """Refuse up front (before any byte is sent) a read that needs more pieces on servers known
    down or lost than parity makes up for."""
    for run in runs(chunks):
        low, high = _span(run)
        if not (low < end and start < high):
            continue
        if isinstance(run, Segment):
            usable = sum(1 for chunk in run.pieces.values() if chunk.server_id not in unavailable)
            if usable < DATA_PIECES:
                raise SegmentUnreadable(
                    f"{run.geometry.roles - usable} of {run.geometry.roles} pieces are on "
                    "servers that are down"
                )
            continue
        for chunk in run:
            if (
                chunk.server_id in unavailable
                and chunk.offset < end
                and start < chunk.offset + chunk.length
            ):
                raise BackendFailure(f"chunk server {chunk.server_id} is down")


async def read_range(
    client: ChunkClient,
    servers: ServerUrls,
    chunks: Sequence[ChunkRecord],
    start: int,
    end: int,
    *,
    unavailable: Collection[str] = (),
    on_damage: OnDamage | None = None,
) -> AsyncGenerator[bytes, None]:
    """Bytes [start, end) of the object whose chunk rows are given."""
    for run in runs(chunks):
        low, high = _span(run)
        if not (low < end and start < high):
            continue
        if isinstance(run, Segment):
            blocks = read_striped(
                client,
                servers,
                run,
                max(start, low) - low,
                min(end, high) - low,
                unavailable=unavailable,
                on_damage=on_damage,
            )
        else:
            blocks = read_contiguous(client, servers, run, max(start, low), min(end, high))
        async with aclosing(blocks):
            async for block in blocks:
                yield block


async def read_sealed_range(
    client: ChunkClient,
    servers: ServerUrls,
    chunks: Sequence[ChunkRecord],
    start: int,
    end: int,
    *,
    object_key: bytes,
    unavailable: Collection[str] = (),
    on_damage: OnDamage | None = None,
) -> AsyncGenerator[bytes, None]:
    """Plaintext [start, end) of an encrypted object. Its segments' chunk offsets are
    plaintext offsets (each part's place in the object), their lengths stored ones, so the
    spans of `_span` do not apply here."""
    for run in runs(chunks):
        if not isinstance(run, Segment):
            raise BackendFailure("an encrypted object has a piece of layout 1")
        stored = run.geometry.length
        low = run.offset
        high = low + plain_length(stored)
        if not (low < end and start < high):
            continue

        def read(first: int, last: int, segment: Segment = run) -> AsyncGenerator[bytes, None]:
            return read_striped(
                client,
                servers,
                segment,
                first,
                last,
                unavailable=unavailable,
                on_damage=on_damage,
            )

        opened = open_range(read, object_key, stored, max(start, low) - low, min(end, high) - low)
        async with aclosing(opened):
            async for block in opened:
                yield block
