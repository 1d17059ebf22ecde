"""Re-reading a whole chunk file to check it (scrub): its data against the footer's CRC32C
and, in a version 2 file, every block against its table entry. Blocking file I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from awscrt import checksums

from chunkd.chunkfile import status_and_tail
from chunkd.errors import ChunkCorrupt
from chunkd.footer import (
    BLOCK_CRC_BYTES,
    Footer,
    data_bytes_of_file,
    decode_footer,
    first_bad_block,
)

# verify reads this much at a time (rounded to whole blocks)
READ_BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of re-reading a chunk's data and recomputing its checksum."""

    chunk_id: str
    ok: bool
    length: int
    crc32c: int


def verify_file(chunk_file: BinaryIO, chunk_id: str) -> VerifyResult:
    """Re-read the data and compare its length and CRC32C with the footer, and (version 2)
    every block's CRC32C with the table. The length and checksum returned are those of the
    data found (with a damaged footer: of the bytes that look like data)."""
    fd = chunk_file.fileno()
    status, raw_footer = status_and_tail(fd)
    file_size = status.st_size
    try:
        footer = decode_footer(raw_footer, file_size)
    except ChunkCorrupt:
        length = data_bytes_of_file(file_size, raw_footer)
        return VerifyResult(chunk_id, False, length, _checksum_of_prefix(fd, length))
    crc32c, blocks_ok = _checksum_and_blocks(fd, footer)
    ok = blocks_ok and crc32c == footer.crc32c
    return VerifyResult(chunk_id, ok, footer.length, crc32c)


def _checksum_of_prefix(fd: int, length: int) -> int:
    crc32c = 0
    offset = 0
    while offset < length:
        block = os.pread(fd, min(READ_BLOCK_BYTES, length - offset), offset)
        if not block:
            break
        crc32c = checksums.crc32c(block, crc32c)
        offset += len(block)
    return crc32c


def _checksum_and_blocks(fd: int, footer: Footer) -> tuple[int, bool]:
    """The CRC32C of the data, and whether every block matches its table entry (True for a
    version 1 file, which has none)."""
    if not footer.block_bytes:
        return _checksum_of_prefix(fd, footer.length), True
    block_bytes = footer.block_bytes
    piece_bytes = max(READ_BLOCK_BYTES // block_bytes, 1) * block_bytes
    crc32c = 0
    blocks_ok = True
    for offset in range(0, footer.length, piece_bytes):
        data = os.pread(fd, min(piece_bytes, footer.length - offset), offset)
        first_block = offset // block_bytes
        count = -(-len(data) // block_bytes)
        table = os.pread(fd, count * BLOCK_CRC_BYTES, footer.length + first_block * BLOCK_CRC_BYTES)
        crc32c = checksums.crc32c(data, crc32c)
        blocks_ok = blocks_ok and first_bad_block(data, table, block_bytes) is None
        if len(data) < min(piece_bytes, footer.length - offset):
            break  # the file shrank under us: the checksum will not match
    return crc32c, blocks_ok
