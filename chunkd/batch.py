"""Several small chunk requests in one: the framing, shared by the daemon and the gateway.

A small object's 6-8 pieces go to 6-8 daemons, each as a request whose HTTP handling costs far
more CPU, on both ends, than its few KiB of data. When pieces for the same daemon meet in time
(concurrent PUTs or GETs), the gateway sends them as one request; the daemon handles each item
as if it had come alone (same checks, same durability before the answer) and answers one
result per item, in order::

    POST /batch/put
    body:   (chunk id (16 bytes), data length (u32), data CRC32C (u32), data)*
    answer: {"results": [{"chunk_id", "length", "crc32c", "created"}
                         | {"chunk_id", "status", "error"}, ...]}

    POST /batch/get
    body:   (chunk id (16 bytes), start (u32), end (u32))*      data bytes [start, end)
    answer: (status (u16), length (u32), the bytes, or the error message if status != 200)*

An item's error is what its own request would have answered (status and message as in an
error document). Integers are little-endian. Pure; no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

BATCH_PUT_PATH = "/batch/put"
BATCH_GET_PATH = "/batch/get"
# Items up to this size are batched (the daemon packs chunks up to this size: chunkd.packs).
BATCH_ITEM_MAX_BYTES = 64 * 1024
# At most this many items and body bytes in one request.
BATCH_MAX_ITEMS = 64
BATCH_MAX_BYTES = 2 * 1024 * 1024

_ITEM_HEADER = struct.Struct("<16sII")
ITEM_HEADER_BYTES = _ITEM_HEADER.size
_ANSWER_HEADER = struct.Struct("<HI")


class BatchFormatError(ValueError):
    """A batch body that does not follow the framing."""


@dataclass(frozen=True)
class BatchItem:
    """One chunk to store: its bytes and their CRC32C, which the daemon checks."""

    chunk_id: str
    data: bytes
    crc32c: int


def encode_batch(items: Iterable[BatchItem]) -> bytes:
    """The request body for ``items``."""
    parts: list[bytes] = []
    for item in items:
        parts.append(_ITEM_HEADER.pack(bytes.fromhex(item.chunk_id), len(item.data), item.crc32c))
        parts.append(item.data)
    return b"".join(parts)


def decode_batch(body: bytes) -> list[BatchItem]:
    """The items of a request body; BatchFormatError if it is cut short or too large."""
    items: list[BatchItem] = []
    view = memoryview(body)
    position = 0
    while position < len(body):
        if position + _ITEM_HEADER.size > len(body):
            raise BatchFormatError("batch body ends inside an item header")
        raw_id, length, crc32c = _ITEM_HEADER.unpack_from(body, position)
        position += _ITEM_HEADER.size
        if length > BATCH_ITEM_MAX_BYTES:
            raise BatchFormatError(f"batch item of {length} bytes, at most {BATCH_ITEM_MAX_BYTES}")
        if position + length > len(body):
            raise BatchFormatError("batch body ends inside an item's data")
        items.append(BatchItem(raw_id.hex(), bytes(view[position : position + length]), crc32c))
        position += length
        if len(items) > BATCH_MAX_ITEMS:
            raise BatchFormatError(f"more than {BATCH_MAX_ITEMS} items in one batch")
    return items


@dataclass(frozen=True)
class BatchRead:
    """One range to read, ``[start, end)`` of a chunk's data."""

    chunk_id: str
    start: int
    end: int


def encode_reads(reads: Iterable[BatchRead]) -> bytes:
    """The request body for ``reads``."""
    return b"".join(_ITEM_HEADER.pack(bytes.fromhex(r.chunk_id), r.start, r.end) for r in reads)


def decode_reads(body: bytes) -> list[BatchRead]:
    """The reads of a request body; BatchFormatError if it is cut, too large or a range is
    empty, reversed or longer than BATCH_ITEM_MAX_BYTES."""
    if len(body) % _ITEM_HEADER.size:
        raise BatchFormatError("batch body ends inside an item header")
    if len(body) // _ITEM_HEADER.size > BATCH_MAX_ITEMS:
        raise BatchFormatError(f"more than {BATCH_MAX_ITEMS} items in one batch")
    reads = []
    for raw_id, start, end in _ITEM_HEADER.iter_unpack(body):
        if not 0 <= start < end or end - start > BATCH_ITEM_MAX_BYTES:
            raise BatchFormatError(f"invalid batch read range [{start}, {end})")
        reads.append(BatchRead(raw_id.hex(), start, end))
    return reads


def encode_answer(status: int, data: bytes) -> bytes:
    """One item of a read answer: its bytes (status 200) or its error message."""
    return _ANSWER_HEADER.pack(status, len(data)) + data


def decode_answers(body: bytes, count: int) -> list[tuple[int, bytes]]:
    """``count`` (status, bytes or message) items of a read answer; BatchFormatError if the
    answer is cut short or longer."""
    answers: list[tuple[int, bytes]] = []
    position = 0
    while len(answers) < count:
        if position + _ANSWER_HEADER.size > len(body):
            raise BatchFormatError("batch answer ends inside an item header")
        status, length = _ANSWER_HEADER.unpack_from(body, position)
        position += _ANSWER_HEADER.size
        if position + length > len(body):
            raise BatchFormatError("batch answer ends inside an item")
        answers.append((status, body[position : position + length]))
        position += length
    if position != len(body):
        raise BatchFormatError("batch answer has bytes after its last item")
    return answers
