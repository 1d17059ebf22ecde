"""The on-disk chunk file format: the chunk's data followed by a 32-byte footer.

Footer layout: magic ``S3CKv1\\0\\0``, data length (u64 big-endian), CRC32C of the data (u32
big-endian), 12 reserved zero bytes. A footer is valid only if its magic and reserved bytes are
exact and its length plus the footer's size is the file's size; anything else is ChunkCorrupt.
Pure functions, no I/O.
"""

from __future__ import annotations

import struct

from chunkd.errors import ChunkCorrupt

FOOTER_MAGIC = b"S3CKv1\0\0"
# magic, data length (u64 BE), crc32c (u32 BE), 12 reserved zero bytes.
_FOOTER = struct.Struct(">8sQI12s")
FOOTER_BYTES = _FOOTER.size
_FOOTER_PADDING = bytes(12)


def format_crc32c(crc32c: int) -> str:
    """Render a CRC32C as 8 lowercase hex digits (big-endian u32)."""
    return f"{crc32c:08x}"


def encode_footer(length: int, crc32c: int) -> bytes:
    """The 32-byte footer appended to a chunk's data."""
    return _FOOTER.pack(FOOTER_MAGIC, length, crc32c, _FOOTER_PADDING)


def decode_footer(raw: bytes, file_size: int) -> tuple[int, int]:
    """Return ``(length, crc32c)`` from a footer, checking it against the file's size."""
    if len(raw) != FOOTER_BYTES:
        raise ChunkCorrupt("short footer")
    magic, length, crc32c, padding = _FOOTER.unpack(raw)
    if magic != FOOTER_MAGIC or padding != _FOOTER_PADDING:
        raise ChunkCorrupt("bad footer magic")
    if length + FOOTER_BYTES != file_size:
        raise ChunkCorrupt("footer length disagrees with file size")
    return length, crc32c


def data_bytes_of_file(file_size: int) -> int:
    """How many data bytes a chunk file of ``file_size`` bytes holds (0 for a runt file)."""
    return max(file_size - FOOTER_BYTES, 0)
