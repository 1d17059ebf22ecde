"""Writing a body as 6 pieces on 6 chunk servers, and reading byte ranges back.

Write: the body is read once, in blocks of at most `BLOCK_BYTES`, hashed off the event loop,
and handed piece by piece to the chunk servers. Piece i+1 starts streaming as soon as piece i's
bytes are all sent, while server i is still fsyncing, so the fsyncs overlap. Memory is a few
blocks per request, whatever the object size. A small body (up to `SMALL_WRITE_BYTES`) is read
whole first and its pieces sent to their servers all at once, each with its CRC32C for the
daemon to check.

Read: only the chunk byte ranges that intersect the requested range are fetched, in order. A
whole chunk read is checked against its CRC32C, so a corrupted chunk fails the read instead of
returning wrong bytes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as crt_checksums

from s3compat.catalog.records import ChunkRecord
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkCorrupt, ChunkServerError, ChunkServerUnavailable
from s3compat.store.checksums import MultiHasher
from s3compat.store.errors import BackendFailure, CorruptChunk, IncompleteBody

BLOCK_BYTES = 1024 * 1024
# Ranges up to this size are fetched from their chunk servers concurrently and held whole.
SMALL_READ_BYTES = 1024 * 1024
# Blocks smaller than this are hashed on the loop: a thread hop costs more than the hash.
THREAD_HASH_MIN_BYTES = 64 * 1024
# Bodies up to this size are held whole and their pieces written concurrently.
SMALL_WRITE_BYTES = 256 * 1024


class ByteSource(Protocol):
    async def read(self, n: int) -> bytes: ...


class ServerUrls(Protocol):
    def url_of(self, server_id: str) -> str: ...

    def mark_failed(self, server_id: str) -> None: ...


@dataclass
class _PieceFeed:
    """Hands `length` bytes of the source to one chunk PUT, hashing them on the way."""

    source: ByteSource
    length: int
    hasher: MultiHasher
    crc32c: int = 0
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.finished = asyncio.Event()

    def _hash(self, block: bytes) -> None:
        self.hasher.update(block)
        self.crc32c = crt_checksums.crc32c(block, self.crc32c)

    async def blocks(self) -> AsyncIterator[bytes]:
        """The piece's blocks. A large block is hashed in a thread while it is being sent and
        the next one read (hashes stay in order: a block's hash starts after the previous
        one's ended). The last block is hashed before it is handed over: nothing may wait
        after the last yield, as the HTTP client cancels a body whose answer has come."""
        remaining = self.length
        hashing: asyncio.Future[None] | None = None
        try:
            while remaining:
                block = await self._read_block(min(BLOCK_BYTES, remaining))
                if hashing is not None:
                    await asyncio.shield(hashing)
                    hashing = None
                remaining -= len(block)
                if len(block) < THREAD_HASH_MIN_BYTES:
                    self._hash(block)
                else:
                    hashing = asyncio.ensure_future(asyncio.to_thread(self._hash, block))
                    if not remaining:
                        await asyncio.shield(hashing)
                        hashing = None
                yield block
        except BaseException as error:
            self.error = error
            if hashing is not None:  # let the thread finish before anyone reads the hasher
                await asyncio.wait([hashing])
            raise
        finally:
            self.finished.set()

    async def _read_block(self, size: int) -> bytes:
        """Read `size` bytes (fewer only at the end of the body), gathering network reads
        into one block: one thread hop per block for its hash."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            data = await self.source.read(size - got)
            if not data:
                if got:
                    break
                raise IncompleteBody()
            parts.append(data)
            got += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def write_pieces(
    client: ChunkClient,
    servers: ServerUrls,
    source: ByteSource,
    chunks: Sequence[ChunkRecord],
    hasher: MultiHasher,
) -> list[ChunkRecord]:
    """Stream the source into `chunks` (in order); return them with their CRC32C filled in.

    Any failure cancels the PUTs still running and raises: the body's own error (an S3 error
    from the signature checker, IncompleteBody) in preference to the chunk server's.
    """
    if sum(chunk.length for chunk in chunks) <= SMALL_WRITE_BYTES:
        return await _write_small(client, servers, source, chunks, hasher)
    tasks: list[asyncio.Task[object]] = []
    feeds: list[_PieceFeed] = []
    try:
        for chunk in chunks:
            feed = _PieceFeed(source, chunk.length, hasher)
            feeds.append(feed)
            url = servers.url_of(chunk.server_id)
            put = asyncio.create_task(
                client.put_chunk(url, chunk.chunk_id, chunk.length, feed.blocks())
            )
            tasks.append(put)
            sent = asyncio.create_task(feed.finished.wait())
            await asyncio.wait({put, sent}, return_when=asyncio.FIRST_COMPLETED)
            sent.cancel()
            if put.done():
                put.result()
            if feed.error is not None:
                raise feed.error
        await asyncio.gather(*tasks)
    except BaseException as error:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        body_error = next((f.error for f in feeds if f.error is not None), None)
        if body_error is not None and body_error is not error:
            raise body_error from error
        if isinstance(error, ChunkServerError):
            for chunk, task in zip(chunks, tasks, strict=False):
                if task.done() and not task.cancelled() and task.exception() is error:
                    servers.mark_failed(chunk.server_id)
            raise BackendFailure(str(error)) from error
        raise
    return [
        ChunkRecord(**{**chunk.__dict__, "crc32c": f"{feed.crc32c:08x}"})
        for chunk, feed in zip(chunks, feeds, strict=True)
    ]


async def _write_small(
    client: ChunkClient,
    servers: ServerUrls,
    source: ByteSource,
    chunks: Sequence[ChunkRecord],
    hasher: MultiHasher,
) -> list[ChunkRecord]:
    """write_pieces for a small body: read it whole, then PUT every piece at once."""
    body = await _read_exactly(source, sum(chunk.length for chunk in chunks))
    if len(body) >= THREAD_HASH_MIN_BYTES:
        await asyncio.to_thread(hasher.update, body)
    else:
        hasher.update(body)
    ends = list(itertools.accumulate(chunk.length for chunk in chunks))
    pieces = [body[end - chunk.length : end] for chunk, end in zip(chunks, ends, strict=True)]
    crcs = [f"{crt_checksums.crc32c(piece):08x}" for piece in pieces]
    outcomes = await asyncio.gather(
        *(
            client.put_chunk(
                servers.url_of(chunk.server_id), chunk.chunk_id, chunk.length, piece, crc
            )
            for chunk, piece, crc in zip(chunks, pieces, crcs, strict=True)
        ),
        return_exceptions=True,
    )
    failures = [
        (chunk, outcome)
        for chunk, outcome in zip(chunks, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    ]
    for chunk, failure in failures:
        if isinstance(failure, ChunkServerError):
            servers.mark_failed(chunk.server_id)
    if failures:
        failure = failures[0][1]
        if isinstance(failure, ChunkServerError):
            raise BackendFailure(str(failure)) from failure
        raise failure
    return [
        ChunkRecord(**{**chunk.__dict__, "crc32c": crc})
        for chunk, crc in zip(chunks, crcs, strict=True)
    ]


async def _read_exactly(source: ByteSource, size: int) -> bytes:
    """`size` bytes of the source, or IncompleteBody if it ends before."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = await source.read(size - got)
        if not data:
            raise IncompleteBody()
        parts.append(data)
        got += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_range(
    client: ChunkClient,
    servers: ServerUrls,
    chunks: Sequence[ChunkRecord],
    start: int,
    end: int,
) -> AsyncIterator[bytes]:
    """Yield bytes [start, end) of the object whose chunks (in offset order) are given.

    A small range is fetched from all its chunk servers at once (a round trip each, in
    parallel); a large one is streamed chunk after chunk, so memory stays bounded.
    """
    needed = [
        (chunk, max(start, chunk.offset), min(end, chunk.offset + chunk.length))
        for chunk in chunks
        if max(start, chunk.offset) < min(end, chunk.offset + chunk.length)
    ]
    if len(needed) > 1 and end - start <= SMALL_READ_BYTES:
        parts = await asyncio.gather(
            *(_chunk_bytes(client, servers, c, low, high) for c, low, high in needed)
        )
        for part in parts:
            yield part
        return
    for chunk, low, high in needed:
        async for block in _chunk_blocks(client, servers, chunk, low, high):
            yield block


def _corrupt(chunk: ChunkRecord) -> CorruptChunk:
    """A chunk whose bytes fail their CRC32C, found by the gateway or by its daemon (which
    checks every block it sends of a chunk in format 2)."""
    return CorruptChunk(f"chunk {chunk.chunk_id} on {chunk.server_id} is corrupt")


async def _chunk_bytes(
    client: ChunkClient, servers: ServerUrls, chunk: ChunkRecord, low: int, high: int
) -> bytes:
    """Bytes [low, high) of the object that lie in `chunk`, in one piece; a whole chunk is
    checked against its CRC32C."""
    try:
        url = servers.url_of(chunk.server_id)
        data = await client.read_chunk(url, chunk.chunk_id, low - chunk.offset, high - chunk.offset)
    except ChunkCorrupt as error:
        raise _corrupt(chunk) from error
    except (ChunkServerError, KeyError) as error:
        if isinstance(error, ChunkServerUnavailable):
            servers.mark_failed(chunk.server_id)
        raise BackendFailure(f"chunk {chunk.chunk_id}: {error}") from error
    whole = low == chunk.offset and high == chunk.offset + chunk.length
    if whole and f"{crt_checksums.crc32c(data):08x}" != chunk.crc32c:
        raise _corrupt(chunk)
    return data


async def _chunk_blocks(
    client: ChunkClient, servers: ServerUrls, chunk: ChunkRecord, low: int, high: int
) -> AsyncIterator[bytes]:
    """Bytes [low, high) of the object that lie in `chunk`."""
    whole = low == chunk.offset and high == chunk.offset + chunk.length
    crc = 0
    # A whole chunk is checked against its CRC32C, and its last block is held back until
    # the check passed: a corrupt chunk then always ends the response short.
    held: bytes | None = None
    received = False
    try:
        url = servers.url_of(chunk.server_id)
        blocks = client.get_chunk(url, chunk.chunk_id, low - chunk.offset, high - chunk.offset)
        async with aclosing(blocks):
            async for block in blocks:
                received = True
                if not whole:
                    yield block
                    continue
                crc = crt_checksums.crc32c(block, crc)
                if held is not None:
                    yield held
                held = block
    except ChunkCorrupt as error:
        raise _corrupt(chunk) from error
    except (ChunkServerError, KeyError) as error:
        # A daemon that answered and then stopped (it found a bad block further on and cut
        # its answer, or died) is not marked down here: the next request that cannot reach
        # it is, and a daemon that cut a corrupt chunk's answer still serves the others.
        if isinstance(error, ChunkServerUnavailable) and not received:
            servers.mark_failed(chunk.server_id)
        raise BackendFailure(f"chunk {chunk.chunk_id}: {error}") from error
    if whole and f"{crc:08x}" != chunk.crc32c:
        raise _corrupt(chunk)
    if held is not None:
        yield held


class IteratorSource:
    """A ByteSource over an async iterator of blocks (a copy's read side feeding its write)."""

    def __init__(self, blocks: AsyncIterator[bytes]) -> None:
        self._blocks = blocks
        self._pending = b""

    async def read(self, n: int) -> bytes:
        if not self._pending:
            self._pending = await anext(self._blocks, b"")
        block, self._pending = self._pending[:n], self._pending[n:]
        return block

    async def aclose(self) -> None:
        aclose = getattr(self._blocks, "aclose", None)
        if aclose is not None:
            await aclose()
