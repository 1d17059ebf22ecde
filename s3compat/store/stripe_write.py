"""Writing a segment in the striped layout: 6 data pieces and M parity pieces, all at once.

The body is read one stripe at a time (6 blocks); the stripe is hashed (ETag, checksums) and
coded off the event loop, and block i goes to piece i's chunk PUT through a queue of a few
blocks, so all 6+M PUTs stream in parallel and memory stays at a few stripes per write whatever
the segment's size. A PUT that fails, or stalls longer than `WRITE_HEDGE_SECONDS` while enough
others go on, is dropped: the write is acknowledged when at least `required` pieces are durable
(6+1 with parity, as Swift and Ceph require k+1; all 6 without), the others' answers are
awaited `POST_QUORUM_SECONDS` more, and the missing pieces are left to the repairer. A small
segment is read whole and its pieces sent at once, each with its CRC32C for the daemon to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from awscrt import checksums as crt_checksums

from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkServerUnavailable
from s3compat.records import ChunkRecord
from s3compat.store.checksums import MultiHasher
from s3compat.store.coding import StripeCoder
from s3compat.store.errors import BackendFailure
from s3compat.store.pieces import THREAD_HASH_MIN_BYTES, ByteSource, ServerUrls, read_exactly
from s3compat.store.stripes import DATA_PIECES, Geometry

# Segments up to this size are read whole and their pieces written concurrently.
SMALL_WRITE_BYTES = 256 * 1024
# Blocks queued for one piece's PUT: its share of a write's memory is this many blocks.
QUEUE_BLOCKS = 2
# A piece that takes no block for this long is dropped, if the others are enough.
WRITE_HEDGE_SECONDS = 10.0
# Once `required` pieces are durable, the others' answers are awaited this much longer (or as
# long again as the write took until then, if that is longer); a piece still unanswered then
# is dropped (as Swift's proxy waits out its post-quorum timeout), so that a daemon that hangs
# without failing holds a write up this long instead of its io timeout.
POST_QUORUM_SECONDS = 2.0


def required_pieces(parity: int) -> int:
    """Pieces that must be durable before a write is acknowledged."""
    return DATA_PIECES + min(parity, 1)


def cut_stripe(geometry: Geometry, stripe: int, data: bytes) -> list[bytes]:
    """A stripe's bytes cut into its 6 data blocks."""
    blocks, offset = [], 0
    for size in geometry.block_sizes(stripe):
        blocks.append(data[offset : offset + size])
        offset += size
    return blocks


def code_stripe(
    geometry: Geometry, coder: StripeCoder | None, stripe: int, data: bytes
) -> list[bytes]:
    """Every block of a stripe in role order: 6 data blocks, then the parity blocks."""
    blocks = cut_stripe(geometry, stripe, data)
    if coder is None:
        return blocks
    return blocks + coder.encode(blocks, geometry.code_block_bytes(stripe))


@dataclass
class _Piece:
    chunk: ChunkRecord
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_BLOCKS))
    task: asyncio.Task[object] | None = None
    crc32c: int = 0
    dropped: bool = False

    async def blocks(self) -> AsyncIterator[bytes]:
        while (block := await self.queue.get()) is not None:
            yield block


async def write_striped(
    client: ChunkClient,
    servers: ServerUrls,
    source: ByteSource,
    chunks: Sequence[ChunkRecord],
    geometry: Geometry,
    hasher: MultiHasher | None,
    *,
    required: int | None = None,
) -> list[ChunkRecord]:
    """Stream the segment into its pieces (`chunks`, one per placed role: all of them, or the
    few a repair rebuilds); return the pieces that were stored, with their CRC32C. Raises
    BackendFailure when fewer than `required` pieces (by default `required_pieces`) could be
    stored, or the body's own error (IncompleteBody, a signature error)."""
    coder = StripeCoder(geometry.parity) if geometry.parity else None
    if required is None:
        required = required_pieces(geometry.parity)
    if geometry.length <= SMALL_WRITE_BYTES:
        return await _write_small(
            client, servers, source, chunks, geometry, hasher, coder, required
        )
    pieces = [_Piece(chunk) for chunk in chunks]
    began = asyncio.get_running_loop().time()
    try:
        for piece in pieces:
            url = servers.url_of(piece.chunk.server_id)
            piece.task = asyncio.create_task(
                client.put_chunk(url, piece.chunk.chunk_id, piece.chunk.length, piece.blocks())
            )
        for stripe in range(geometry.stripes):
            data = await read_exactly(source, geometry.stripe_data_bytes(stripe))
            blocks = await _hash_and_code(geometry, coder, stripe, data, hasher)
            for piece in pieces:
                block = blocks[piece.chunk.piece]
                piece.crc32c = crt_checksums.crc32c(block, piece.crc32c)
                await _offer(piece, block, pieces, required, servers)
        for piece in pieces:
            if not piece.dropped:
                await _offer(piece, None, pieces, required, servers)
        # Pieces dropped on the way do not count towards the quorum, even if their PUT ended.
        await until_quorum(
            [p.task for p in pieces if p.task and not p.dropped], required, began=began
        )
        for piece in pieces:
            _settle(piece, servers)
        _check_enough(pieces, required)
    except BaseException:
        for piece in pieces:
            if piece.task is not None:
                piece.task.cancel()
        await asyncio.gather(*(p.task for p in pieces if p.task), return_exceptions=True)
        raise
    return _stored(pieces)


def _stored(pieces: Sequence[_Piece]) -> list[ChunkRecord]:
    """The chunk rows of the pieces that were stored, with their CRC32C."""
    return [replace(p.chunk, crc32c=f"{p.crc32c:08x}") for p in pieces if not p.dropped]


async def _offer(
    piece: _Piece,
    block: bytes | None,
    pieces: Sequence[_Piece],
    required: int,
    servers: ServerUrls,
) -> None:
    """Queue a block (None: the end) for a piece's PUT, unless the piece was dropped. A PUT
    that ended early or stalls past the hedge is dropped while enough others remain."""
    if piece.dropped or piece.task is None:
        return
    put = asyncio.ensure_future(piece.queue.put(block))
    try:
        while not put.done():
            done, _ = await asyncio.wait(
                {put, piece.task}, timeout=WRITE_HEDGE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if put in done:
                return
            if piece.task in done:
                # It ended before its body did: failed (or answered early, as broken).
                _settle(piece, servers)
                piece.dropped = True
                _check_enough(pieces, required)
                return
            if sum(not p.dropped for p in pieces) > required:
                piece.dropped = True
                piece.task.cancel()
                return
    finally:
        put.cancel()


def _settle(piece: _Piece, servers: ServerUrls) -> None:
    """Look at a finished PUT: a failure drops the piece (and marks its server failed if it
    could not be reached or hung)."""
    task = piece.task
    if task is None or not task.done():
        return
    if task.cancelled():  # hung: dropped by a hedge
        piece.dropped = True
        servers.mark_failed(piece.chunk.server_id)
        return
    error = task.exception()
    if error is not None:
        piece.dropped = True
        # Only a daemon that cannot be reached is read around; a full one (507) still serves.
        if isinstance(error, ChunkServerUnavailable):
            servers.mark_failed(piece.chunk.server_id)


def _check_enough(pieces: Sequence[_Piece], required: int) -> None:
    alive = sum(not p.dropped for p in pieces)
    if alive >= required:
        return
    errors = [
        p.task.exception()
        for p in pieces
        if p.task is not None and p.task.done() and not p.task.cancelled() and p.task.exception()
    ]
    detail = f": {errors[0]}" if errors else ""
    raise BackendFailure(f"{alive} pieces could be stored, {required} needed{detail}")


async def _hash_and_code(
    geometry: Geometry,
    coder: StripeCoder | None,
    stripe: int,
    data: bytes,
    hasher: MultiHasher | None,
) -> list[bytes]:
    """Hash a stripe's bytes and code it (in a thread when it is large)."""

    def work() -> list[bytes]:
        if hasher is not None:
            hasher.update(data)
        return code_stripe(geometry, coder, stripe, data)

    if len(data) >= THREAD_HASH_MIN_BYTES:
        return await asyncio.to_thread(work)
    return work()


async def _write_small(
    client: ChunkClient,
    servers: ServerUrls,
    source: ByteSource,
    chunks: Sequence[ChunkRecord],
    geometry: Geometry,
    hasher: MultiHasher | None,
    coder: StripeCoder | None,
    required: int,
) -> list[ChunkRecord]:
    """write_striped for a small segment: read it whole, then PUT every piece at once."""
    body = await read_exactly(source, geometry.length)
    if hasher is None:
        pass
    elif len(body) >= THREAD_HASH_MIN_BYTES:
        await asyncio.to_thread(hasher.update, body)
    else:
        hasher.update(body)
    by_role: list[bytes] = [b""] * geometry.roles
    for stripe in range(geometry.stripes):
        start = geometry.stripe_start(stripe)
        data = body[start : start + geometry.stripe_data_bytes(stripe)]
        for role, block in enumerate(code_stripe(geometry, coder, stripe, data)):
            by_role[role] += block
    pieces = [_Piece(chunk, crc32c=crt_checksums.crc32c(by_role[chunk.piece])) for chunk in chunks]
    for piece in pieces:
        chunk = piece.chunk
        piece.task = asyncio.ensure_future(
            client.put_chunk(
                servers.url_of(chunk.server_id),
                chunk.chunk_id,
                chunk.length,
                by_role[chunk.piece],
                f"{piece.crc32c:08x}",
            )
        )
    await until_quorum([p.task for p in pieces if p.task], required)
    for piece in pieces:
        _settle(piece, servers)
    _check_enough(pieces, required)
    return _stored(pieces)


async def until_quorum(
    tasks: Sequence[asyncio.Task[Any]], required: int, *, began: float | None = None
) -> None:
    """Wait until every task is done or, from the moment `required` of them have succeeded,
    `POST_QUORUM_SECONDS` more, or as long again as the write had taken until then (since
    `began`, loop time), whichever is longer: a large piece's last fsync may lag its peers'
    by seconds. Cancel those still running then (and all of them if this wait is
    cancelled)."""
    pending = set(tasks)
    succeeded = 0
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    began = loop.time() if began is None else began
    try:
        while pending:
            timeout = None if deadline is None else max(deadline - loop.time(), 0.0)
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break
            succeeded += sum(not t.cancelled() and t.exception() is None for t in done)
            if deadline is None and succeeded >= required:
                now = loop.time()
                deadline = now + max(POST_QUORUM_SECONDS, now - began)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
