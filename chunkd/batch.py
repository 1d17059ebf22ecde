"""Several small chunk PUTs in one request: the framing, shared by the daemon and the gateway.

A small object's 6-8 pieces go to 6-8 daemons, each as a request whose HTTP handling costs far
more CPU, on both ends, than its few KiB of data. When pieces for the same daemon meet in time
(concurrent PUTs), the gateway sends them as one ``POST /batch/put``; the daemon stores each as
if it had come alone (same checks, same durability before the answer) and answers one result
per item, in order::

    body:   item*
    item:   chunk id (16 bytes), data length (u32), data CRC32C (u32), data
    answer: {"results": [{"chunk_id", "length", "crc32c", "created"}
                         | {"chunk_id", "status", "error"}, ...]}

An item's error is what its own PUT would have answered (``status`` and ``error`` as in an
error document). Integers are little-endian. Pure; no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

BATCH_PUT_PATH = "/batch/put"
# Items up to this size are batched (the daemon packs chunks up to this size: chunkd.packs).
BATCH_ITEM_MAX_BYTES = 64 * 1024
# At most this many items and body bytes in one request.
BATCH_MAX_ITEMS = 64
BATCH_MAX_BYTES = 2 * 1024 * 1024

_ITEM_HEADER = struct.Struct("<16sII")
ITEM_HEADER_BYTES = _ITEM_HEADER.size


class BatchFormatError(ValueError):
    """A batch body that does not follow the framing."""


@dataclass(frozen=True)
class BatchItem:
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
