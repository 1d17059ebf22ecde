"""Reading layout-1 pieces (contiguous sixths, as every object was written before the striped
layout of `stripes.py`), and what the write and read paths share: byte sources, server URLs.

Read: only the chunk byte ranges that intersect the requested range are fetched, in order. A
whole chunk read is checked against its CRC32C, so a corrupted chunk fails the read instead of
returning wrong bytes. Layout 1 has no parity: a piece that cannot be read fails the read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import Protocol

from awscrt import checksums as crt_checksums

from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkCorrupt, ChunkServerError, ChunkServerUnavailable
from s3compat.records import ChunkRecord
from s3compat.store.errors import BackendFailure, CorruptChunk, IncompleteBody

# Ranges up to this size are fetched from their chunk servers concurrently and held whole.
SMALL_READ_BYTES = 1024 * 1024
# Blocks smaller than this are hashed on the loop: a thread hop costs more than the hash.
THREAD_HASH_MIN_BYTES = 64 * 1024


class ByteSource(Protocol):
    async def read(self, n: int) -> bytes: ...


class ServerUrls(Protocol):
    def url_of(self, server_id: str) -> str: ...

    def mark_failed(self, server_id: str) -> None: ...


async def read_exactly(source: ByteSource, size: int) -> bytes:
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
) -> AsyncGenerator[bytes, None]:
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
