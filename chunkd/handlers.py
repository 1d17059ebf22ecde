"""The chunk daemon's request handlers: PUT (streamed to a temporary file, then committed),
batches of small PUTs and range reads (``chunkd.batch``), GET (every byte checked before it is
sent), HEAD, DELETE, verify, listing and stats, each over the app's ChunkStore. Blocking store
calls run in threads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from aiohttp import web

from chunkd.batch import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    ITEM_HEADER_BYTES,
    BatchFormatError,
    BatchRead,
    decode_batch,
    decode_reads,
    encode_answer,
)
from chunkd.chunkfile import ChunkMeta, ChunkReader, TempChunk
from chunkd.errors import HTTP_ANSWERS, ChecksumMismatch, ChunkCorrupt, StorageError
from chunkd.footer import format_crc32c
from chunkd.protocol import CRC_HEADER
from chunkd.storage import ChunkStore
from chunkd.wire import (
    ChunkdHTTPError,
    batch_result,
    chunk_document,
    chunk_headers,
    chunk_id_of,
    listing_entry,
    parse_crc32c_header,
    parse_list_query,
    parse_range,
)

log = logging.getLogger(__name__)

STORE_KEY = web.AppKey("store", ChunkStore)

Decoded = TypeVar("Decoded")

WRITE_BLOCK_BYTES = 1024 * 1024
# Chunks up to this size are received whole and stored in one thread hop, and ranges up to
# this size are read (and checked) in the hop that opens the chunk and sent as one answer: for
# them more hops, streaming or sendfile cost more than the bytes.
SMALL_CHUNK_BYTES = 256 * 1024
# A larger range is read, checked and sent this much at a time (rounded to whole blocks), the
# next piece being read while the previous one is sent.
SEND_PIECE_BYTES = 1024 * 1024


async def put_chunk(request: web.Request) -> web.Response:
    """Receive a chunk into a temporary file, check it, then make it visible durably."""
    store = request.app[STORE_KEY]
    chunk_id = chunk_id_of(request)
    length = request.content_length
    if length is None:
        raise ChunkdHTTPError(411, "Content-Length required")
    declared_crc32c = parse_crc32c_header(request.headers.get(CRC_HEADER))
    if length <= SMALL_CHUNK_BYTES:
        data = await read_whole_body(request, length)
        meta, created = await asyncio.to_thread(store.put_whole, chunk_id, data, declared_crc32c)
    elif store.exists(chunk_id):
        # A re-put of an existing chunk takes no new space, so it must not be refused as full.
        meta, created = await receive_chunk(store, chunk_id, length, declared_crc32c, request)
    else:
        with store.reserve(length):
            meta, created = await receive_chunk(store, chunk_id, length, declared_crc32c, request)
    return web.json_response(chunk_document(meta), status=201 if created else 200)


async def put_batch(request: web.Request) -> web.Response:
    """Store every small chunk of a batch as its own PUT would, in one thread hop and with one
    pack fdatasync for all (``ChunkStore.put_many``), and answer each one's outcome."""
    store = request.app[STORE_KEY]
    items = await decoded_batch(
        request, BATCH_MAX_BYTES, f"a batch is at most {BATCH_MAX_BYTES} bytes", decode_batch
    )
    outcomes = await asyncio.to_thread(
        store.put_many, [(item.chunk_id, item.data, item.crc32c) for item in items]
    )
    results = [batch_result(i.chunk_id, o) for i, o in zip(items, outcomes, strict=True)]
    return web.json_response({"results": results})


async def get_batch(request: web.Request) -> web.Response:
    """Read the ranges of several small chunks in one thread hop, each checked as its own GET
    would be, and answer each one's bytes or error."""
    store = request.app[STORE_KEY]
    most = BATCH_MAX_ITEMS * ITEM_HEADER_BYTES
    reads = await decoded_batch(
        request, most, f"a batch is at most {BATCH_MAX_ITEMS} items", decode_reads
    )
    answers = await asyncio.to_thread(read_ranges, store, reads)
    return web.Response(body=b"".join(answers), content_type="application/octet-stream")


async def decoded_batch(
    request: web.Request, most: int, too_large: str, decode: Callable[[bytes], Decoded]
) -> Decoded:
    """The decoded body of a batch request: 411 without a length, 413 (``too_large``) with
    one over ``most`` bytes, 400 if it does not follow the framing."""
    length = request.content_length
    if length is None:
        raise ChunkdHTTPError(411, "Content-Length required")
    if length > most:
        raise ChunkdHTTPError(413, too_large)
    try:
        return decode(await read_whole_body(request, length))
    except BatchFormatError as exc:
        raise ChunkdHTTPError(400, str(exc)) from None


def read_ranges(store: ChunkStore, reads: list[BatchRead]) -> list[bytes]:
    """Blocking: each read's answer item (``chunkd.batch``)."""
    answers = []
    for read in reads:
        try:
            reader = store.open_chunk(read.chunk_id)
            try:
                if read.end > reader.meta.length:
                    answers.append(encode_answer(416, b"range not satisfiable"))
                    continue
                answers.append(encode_answer(200, reader.read(read.start, read.end)))
            finally:
                reader.close()
        except StorageError as exc:
            if isinstance(exc, ChunkCorrupt):
                log.warning("batch read: corrupt chunk: %s", exc)
            status, message = HTTP_ANSWERS[type(exc)]
            answers.append(encode_answer(status, message.encode()))
    return answers


async def receive_chunk(
    store: ChunkStore,
    chunk_id: str,
    length: int,
    declared_crc32c: int | None,
    request: web.Request,
) -> tuple[ChunkMeta, bool]:
    """Stream the body to a temporary file and commit it; the temporary file never outlives
    this call, whatever happens (short body, bad checksum, full disk, disconnect)."""
    temp = await asyncio.to_thread(store.create_temp, chunk_id)
    try:
        await stream_body(request, temp)
        if temp.length != length:
            raise ChunkdHTTPError(400, f"received {temp.length} bytes, expected {length}")
        if declared_crc32c is not None and declared_crc32c != temp.crc32c:
            raise ChecksumMismatch(chunk_id)
        return await asyncio.to_thread(store.commit, temp)
    finally:
        await asyncio.to_thread(temp.discard)


async def read_whole_body(request: web.Request, length: int) -> bytes:
    """The whole body of a small chunk PUT, which must be ``length`` bytes."""
    parts: list[bytes] = []
    received = 0
    try:
        while data := await request.content.readany():
            parts.append(data)
            received += len(data)
    except ConnectionError:
        raise ChunkdHTTPError(400, "connection lost before the whole body arrived") from None
    if received != length:
        raise ChunkdHTTPError(400, f"received {received} bytes, expected {length}")
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def stream_body(request: web.Request, temp: TempChunk) -> None:
    """Copy the request body into ``temp`` in blocks of about WRITE_BLOCK_BYTES, off the loop.
    A block is written (and checksummed) in a thread while the next one arrives; blocks are
    written in order, one at a time."""
    block = bytearray()
    writing: asyncio.Future[None] | None = None
    try:
        while data := await request.content.readany():
            block += data
            if len(block) >= WRITE_BLOCK_BYTES:
                if writing is not None:
                    await asyncio.shield(writing)
                writing = asyncio.ensure_future(asyncio.to_thread(temp.write, block))
                block = bytearray()
        if writing is not None:
            await asyncio.shield(writing)
            writing = None
    except ConnectionError:
        # HTTP/1.1 can only deliver a short body by closing the connection; answer as for any
        # length mismatch (the answer is usually lost, the clean-up is what matters).
        raise ChunkdHTTPError(400, "connection lost before the whole body arrived") from None
    finally:
        if writing is not None:  # the temporary file is discarded only after its last write
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()  # the error that matters is the one propagating
    if block:
        await asyncio.to_thread(temp.write, block)


@dataclass
class ChunkRead:
    """A GET being answered: the open chunk, the requested range (None: the whole chunk),
    the bytes ``[start, stop)`` to send and the first of them, already read and checked."""

    reader: ChunkReader
    byte_range: tuple[int, int] | None
    start: int
    stop: int
    first: bytes


def open_read(store: ChunkStore, chunk_id: str, range_header: str | None) -> ChunkRead:
    """Blocking: open the chunk, resolve the range and read its first piece (all of a small
    range). A range of an old-format chunk too large to read at once is sent with sendfile
    instead, unchecked, as before block tables (``first`` is then empty)."""
    reader = store.open_chunk(chunk_id)
    try:
        byte_range = parse_range(range_header, reader.meta.length)
        start, stop = byte_range or (0, reader.meta.length)
        if stop - start <= SMALL_CHUNK_BYTES:
            first = reader.read(start, stop)
            reader.close()  # all read: the answer needs the file no more
        elif reader.verified:
            first = reader.read(start, piece_end(start, stop, reader.meta.block_bytes))
        else:
            first = b""
    except BaseException:
        reader.close()
        raise
    return ChunkRead(reader, byte_range, start, stop, first)


def piece_end(position: int, stop: int, block_bytes: int) -> int:
    """Where the piece of a streamed range that starts at ``position`` ends: at the next
    multiple of about SEND_PIECE_BYTES (a whole number of blocks), or at ``stop``."""
    piece_bytes = max(SEND_PIECE_BYTES // block_bytes, 1) * block_bytes
    return min(stop, (position // piece_bytes + 1) * piece_bytes)


async def get_chunk(request: web.Request) -> web.StreamResponse:
    """Send the chunk's data (or one range of it), every byte checked against its block's
    CRC32C first. Corruption found before anything is sent answers 422 like a bad footer;
    found later (in a large range), it cuts the answer short: the reader sees fewer bytes
    than Content-Length and a closed connection, never a wrong byte."""
    store = request.app[STORE_KEY]
    read = await asyncio.to_thread(
        open_read, store, chunk_id_of(request), request.headers.get("Range")
    )
    try:
        headers = chunk_headers(read.reader.meta)
        headers["Accept-Ranges"] = "bytes"
        if read.byte_range is not None:
            headers["Content-Range"] = (
                f"bytes {read.start}-{read.stop - 1}/{read.reader.meta.length}"
            )
        status = 200 if read.byte_range is None else 206
        if len(read.first) == read.stop - read.start:
            return web.Response(status=status, headers=headers, body=read.first)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = read.stop - read.start
        try:
            await response.prepare(request)
            if read.reader.verified:
                await send_checked_range(response, read)
            else:
                await send_file_range(request, read.reader.file, read.start, read.stop - read.start)
        except ConnectionError:
            # The reader hung up before or during the answer (a gateway closing a range read
            # early does, or dropping a slow piece): not an error of ours, and the connection
            # is unusable.
            response.force_close()
            return response
        except ChunkCorrupt as corrupt:
            log.warning("%s; answer cut short after the bytes that passed", corrupt)
            response.force_close()  # the missing bytes tell the reader the answer failed
            return response
        await response.write_eof()
        return response
    finally:
        read.reader.close()


async def send_checked_range(response: web.StreamResponse, read: ChunkRead) -> None:
    """Send ``read.first``, then the rest of the range piece by piece, each read and checked
    in a thread while the previous one is being sent. Raises ChunkCorrupt at the first piece
    that fails its check, before any of its bytes are sent."""
    block_bytes = read.reader.meta.block_bytes
    position = read.start + len(read.first)
    piece = read.first
    reading: asyncio.Future[bytes] | None = None
    try:
        while True:
            if position < read.stop:
                end = piece_end(position, read.stop, block_bytes)
                reading = asyncio.ensure_future(asyncio.to_thread(read.reader.read, position, end))
                position = end
            await response.write(piece)
            if reading is None:
                return
            piece = await reading
            reading = None
    finally:
        if reading is not None:  # the file is closed only after its last read
            await asyncio.wait([reading])
            if not reading.cancelled():
                reading.exception()  # the error that matters is the one propagating


async def send_file_range(
    request: web.Request, chunk_file: BinaryIO, offset: int, count: int
) -> None:
    """Hand ``count`` bytes of the file to the kernel; the headers are already flushed."""
    if count == 0:
        return  # loop.sendfile refuses a zero count
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("connection lost")
    # loop.sendfile waits for the buffered headers to drain first, then uses os.sendfile
    # (falling back to reads in a thread on transports that cannot sendfile).
    await asyncio.get_running_loop().sendfile(transport, chunk_file, offset, count)


async def head_chunk(request: web.Request) -> web.Response:
    """Length and checksum of a stored chunk."""
    store = request.app[STORE_KEY]
    meta = await asyncio.to_thread(store.read_meta, chunk_id_of(request))
    headers = chunk_headers(meta)
    # What a GET would send (RFC 9110); without a length aiohttp's client cannot reuse the
    # connection after a HEAD.
    headers["Content-Length"] = str(meta.length)
    return web.Response(status=200, headers=headers)


async def delete_chunk(request: web.Request) -> web.Response:
    """Remove a chunk; deleting an absent chunk succeeds too."""
    store = request.app[STORE_KEY]
    await asyncio.to_thread(store.delete, chunk_id_of(request))
    return web.Response(status=204)


async def verify_chunk(request: web.Request) -> web.Response:
    """Re-read a chunk and report whether its data still matches its checksum."""
    store = request.app[STORE_KEY]
    result = await asyncio.to_thread(store.verify, chunk_id_of(request))
    return web.json_response(
        {
            "chunk_id": result.chunk_id,
            "ok": result.ok,
            "length": result.length,
            "crc32c": format_crc32c(result.crc32c),
        }
    )


async def list_chunks(request: web.Request) -> web.Response:
    """A page of chunks in id order, for garbage collection."""
    store = request.app[STORE_KEY]
    after, limit = parse_list_query(request)
    entries, truncated = await asyncio.to_thread(store.list_chunks, after, limit)
    chunks = [listing_entry(entry) for entry in entries]
    return web.json_response({"chunks": chunks, "truncated": truncated})


async def get_stats(request: web.Request) -> web.Response:
    """Capacity and usage, for heartbeats and placement."""
    stats = request.app[STORE_KEY].stats()
    return web.json_response(
        {
            "capacity_bytes": stats.capacity_bytes,
            "used_bytes": stats.used_bytes,
            "chunk_count": stats.chunk_count,
            "free_bytes": stats.free_bytes,
        }
    )
