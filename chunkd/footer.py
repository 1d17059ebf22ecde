"""The on-disk chunk file formats. Pure functions, no I/O.

Version 2 (every chunk written now)::

    data (length bytes) | block table | footer (32 bytes)

The block table holds one CRC32C (u32 big-endian) per ``block_bytes`` of data, the last block
possibly shorter; an empty chunk has an empty table. Footer: magic ``S3CKv2\\0\\0``, data
length (u64 BE), CRC32C of the whole data (u32 BE), block size (u32 BE), 4 reserved zero
bytes, and the CRC32C (u32 BE) of the footer's first 28 bytes.

Version 1 (chunks written before; still read)::

    data (length bytes) | footer (32 bytes)

Footer: magic ``S3CKv1\\0\\0``, data length (u64 BE), CRC32C of the data (u32 BE), 12 reserved
zero bytes. There is no block table, so only a whole-data check is possible.

A footer is valid only if its magic, reserved bytes (and, in version 2, its own CRC32C and
block size) are right and the sizes it implies add up to the file's size; anything else is
ChunkCorrupt. Both footers are 32 bytes, so the version is read from the file's last 32 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from awscrt import checksums

from chunkd.errors import ChunkCorrupt

FOOTER_BYTES = 32
FOOTER_MAGIC_V1 = b"S3CKv1\0\0"
FOOTER_MAGIC_V2 = b"S3CKv2\0\0"
# One table entry per block; the block size is written into each footer, so it may change
# without making older chunks unreadable. 64 KiB (measured against 16 KiB, 256 KiB, 1 MiB): a
# 4 KiB range reads and checks one block (two if it straddles a boundary), about 20 us; 256
# KiB blocks triple that, 16 KiB ones save 8 us but quadruple the table, which is 54 KiB here
# for an 850 MiB chunk (a 5 GiB single PUT).
BLOCK_BYTES = 64 * 1024
MIN_BLOCK_BYTES = 512
MAX_BLOCK_BYTES = 64 * 1024 * 1024
BLOCK_CRC_BYTES = 4

# magic, data length (u64 BE), crc32c (u32 BE), 12 reserved zero bytes.
_FOOTER_V1 = struct.Struct(">8sQI12s")
_V1_PADDING = bytes(12)
# magic, data length, crc32c, block size, 4 reserved zero bytes; then the footer's own crc32c.
_FOOTER_V2_BODY = struct.Struct(">8sQII4s")
_V2_PADDING = bytes(4)
_U32 = struct.Struct(">I")
assert _FOOTER_V1.size == _FOOTER_V2_BODY.size + _U32.size == FOOTER_BYTES


@dataclass(frozen=True)
class Footer:
    """What a chunk file's footer says; ``block_bytes`` is 0 for a version 1 file."""

    length: int
    crc32c: int
    block_bytes: int = 0

    @property
    def block_count(self) -> int:
        """Entries in the block table (0 for version 1)."""
        return block_count(self.length, self.block_bytes)

    @property
    def file_bytes(self) -> int:
        """The size of the file this footer ends."""
        return self.length + self.block_count * BLOCK_CRC_BYTES + FOOTER_BYTES


def format_crc32c(crc32c: int) -> str:
    """Render a CRC32C as 8 lowercase hex digits (big-endian u32)."""
    return f"{crc32c:08x}"


def block_count(length: int, block_bytes: int) -> int:
    """How many blocks of ``block_bytes`` cover ``length`` bytes (0 without blocks)."""
    return -(-length // block_bytes) if block_bytes else 0


def chunk_file_bytes(length: int, block_bytes: int = BLOCK_BYTES) -> int:
    """The size of a version 2 chunk file holding ``length`` data bytes."""
    return Footer(length, 0, block_bytes).file_bytes


def encode_footer_v1(length: int, crc32c: int) -> bytes:
    """The 32-byte footer of a version 1 file (only old files have one; kept for tests)."""
    return _FOOTER_V1.pack(FOOTER_MAGIC_V1, length, crc32c, _V1_PADDING)


def encode_footer(length: int, crc32c: int, block_bytes: int = BLOCK_BYTES) -> bytes:
    """The 32-byte footer that ends a version 2 chunk file."""
    body = _FOOTER_V2_BODY.pack(FOOTER_MAGIC_V2, length, crc32c, block_bytes, _V2_PADDING)
    return body + _U32.pack(checksums.crc32c(body))


def decode_footer(raw: bytes, file_size: int) -> Footer:
    """The footer in ``raw`` (a file's last 32 bytes), checked against the file's size."""
    if len(raw) != FOOTER_BYTES:
        raise ChunkCorrupt("short footer")
    if raw.startswith(FOOTER_MAGIC_V2):
        footer = _decode_v2(raw)
    elif raw.startswith(FOOTER_MAGIC_V1):
        _, length, crc32c, padding = _FOOTER_V1.unpack(raw)
        if padding != _V1_PADDING:
            raise ChunkCorrupt("bad footer padding")
        footer = Footer(length, crc32c)
    else:
        raise ChunkCorrupt("bad footer magic")
    if footer.file_bytes != file_size:
        raise ChunkCorrupt("footer length disagrees with file size")
    return footer


def _decode_v2(raw: bytes) -> Footer:
    body, (footer_crc32c,) = raw[: _FOOTER_V2_BODY.size], _U32.unpack(raw[_FOOTER_V2_BODY.size :])
    if checksums.crc32c(body) != footer_crc32c:
        raise ChunkCorrupt("footer checksum mismatch")
    _, length, crc32c, block_bytes, padding = _FOOTER_V2_BODY.unpack(body)
    if padding != _V2_PADDING or not MIN_BLOCK_BYTES <= block_bytes <= MAX_BLOCK_BYTES:
        raise ChunkCorrupt("bad footer fields")
    return Footer(length, crc32c, block_bytes)


def data_bytes_of_file(file_size: int, raw_footer: bytes) -> int:
    """How many data bytes a chunk file holds, from its size and last 32 bytes; a best guess
    (never more than the file holds) when the footer is damaged."""
    try:
        return decode_footer(raw_footer, file_size).length
    except ChunkCorrupt:
        pass
    if raw_footer.startswith(FOOTER_MAGIC_V2):
        # The largest length whose version 2 file fits in file_size bytes.
        room = max(file_size - FOOTER_BYTES, 0)
        blocks = room // (BLOCK_BYTES + BLOCK_CRC_BYTES)
        rest = room - blocks * (BLOCK_BYTES + BLOCK_CRC_BYTES)
        return blocks * BLOCK_BYTES + max(rest - BLOCK_CRC_BYTES, 0)
    return max(file_size - FOOTER_BYTES, 0)


def decode_block_crc32cs(raw: bytes | bytearray) -> tuple[int, ...]:
    """The entries of (a stretch of) a block table."""
    return struct.unpack(f">{len(raw) // BLOCK_CRC_BYTES}I", raw)


def first_bad_block(data: bytes, table: bytes, block_bytes: int) -> int | None:
    """The index of the first block of ``data`` whose CRC32C differs from its entry in
    ``table`` (the stretch of a block table that starts at the same block), or None if all
    match. A block without an entry, or an entry without a block, does not match."""
    expected = decode_block_crc32cs(table[: len(table) - len(table) % BLOCK_CRC_BYTES])
    count = block_count(len(data), block_bytes)
    view = memoryview(data)
    for index in range(max(count, len(expected))):
        if index >= min(count, len(expected)):
            return index
        block = view[index * block_bytes : (index + 1) * block_bytes]
        if checksums.crc32c(block) != expected[index]:
            return index
    return None


def encode_block_crc32c(crc32c: int) -> bytes:
    """One entry of a block table."""
    return _U32.pack(crc32c)
