"""One chunk file: writing a new one (``TempChunk``) and reading one (``ChunkReader``).

A chunk file is its data, a table of one CRC32C per block, and a footer (``chunkd.footer``).
``TempChunk`` computes the whole-data CRC32C and the table while the data arrives and writes
them, fsynced, before the store renames the file into place. ``ChunkReader`` returns no byte of
a version 2 chunk before the blocks holding it have passed their CRC32C; a chunk written by an
older version (no table) is read unchecked. Both are blocking file I/O, called from threads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from awscrt import checksums

from chunkd.errors import ChunkCorrupt, StoreFull
from chunkd.footer import (
    BLOCK_BYTES,
    BLOCK_CRC_BYTES,
    FOOTER_BYTES,
    decode_footer,
    encode_block_crc32c,
    encode_footer,
    first_bad_block,
    format_crc32c,
)

_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class ChunkMeta:
    """What the footer and the file system say about one stored chunk; ``block_bytes`` is 0
    for a chunk in the old format, which has no block table."""

    chunk_id: str
    length: int
    crc32c: int
    mtime: float
    block_bytes: int = 0

    @property
    def crc32c_hex(self) -> str:
        """The checksum as on the wire: 8 lowercase hex digits."""
        return format_crc32c(self.crc32c)


def status_and_tail(fd: int) -> tuple[os.stat_result, bytes]:
    """A chunk file's status and its last FOOTER_BYTES bytes (all of it when shorter)."""
    status = os.fstat(fd)
    return status, os.pread(fd, FOOTER_BYTES, max(status.st_size - FOOTER_BYTES, 0))


def meta_of_file(chunk_file: BinaryIO, chunk_id: str) -> ChunkMeta:
    """The footer-validated metadata of an open chunk file; raises ChunkCorrupt."""
    status, raw = status_and_tail(chunk_file.fileno())
    if status.st_size < FOOTER_BYTES:
        raise ChunkCorrupt(chunk_id)
    footer = decode_footer(raw, status.st_size)
    return ChunkMeta(chunk_id, footer.length, footer.crc32c, status.st_mtime, footer.block_bytes)


def raise_if_no_space(exc: OSError) -> None:
    if exc.errno in _NO_SPACE_ERRNOS:
        raise StoreFull("no space left on device") from exc


class TempChunk:
    """A chunk being received into ``DIR/tmp``; computes the CRC32C of the data and of each
    block as the data arrives (memory: the table, 4 bytes per block).

    ``write`` and ``discard`` may be called from different threads (a disconnecting client's
    clean-up can race a block still being written), so both take the same lock.
    """

    def __init__(self, chunk_id: str, path: Path, block_bytes: int = BLOCK_BYTES) -> None:
        self.chunk_id = chunk_id
        self.path = path
        self.block_bytes = block_bytes
        self.length = 0
        self.crc32c = 0
        self._table = bytearray()  # the CRC32C of every complete block so far
        self._block_crc32c = 0  # of the block being filled
        self._block_filled = 0
        self._lock = threading.Lock()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: bytes | bytearray) -> None:
        """Append ``data`` to the file and fold it into the running checksums."""
        with self._lock:
            fd = self._require_open()
            self._write_all(fd, data)
            self.crc32c = checksums.crc32c(data, self.crc32c)
            self._add_to_blocks(memoryview(data))
            self.length += len(data)

    def _add_to_blocks(self, view: memoryview) -> None:
        while view:
            taken = min(len(view), self.block_bytes - self._block_filled)
            self._block_crc32c = checksums.crc32c(view[:taken], self._block_crc32c)
            self._block_filled += taken
            view = view[taken:]
            if self._block_filled == self.block_bytes:
                self._table += encode_block_crc32c(self._block_crc32c)
                self._block_crc32c, self._block_filled = 0, 0

    def finish(self) -> None:
        """Append the block table and the footer, fsync and close; the file is then ready to
        be renamed."""
        with self._lock:
            fd = self._require_open()
            last = encode_block_crc32c(self._block_crc32c) if self._block_filled else b""
            tail = self._table + last + encode_footer(self.length, self.crc32c, self.block_bytes)
            try:
                self._write_all(fd, tail)
                os.fsync(fd)
            finally:
                os.close(fd)
                self._fd = None

    def discard(self) -> None:
        """Close and remove the temporary file; harmless after a commit or a second call."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def _require_open(self) -> int:
        if self._fd is None:
            raise ValueError(f"temporary chunk {self.path} is already closed")
        return self._fd

    @staticmethod
    def _write_all(fd: int, data: bytes | bytearray) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise_if_no_space(exc)
            raise


class ChunkReader:
    """An open chunk, for reading ranges of its data; the caller closes it.

    A version 2 chunk's bytes are checked block by block against its table before they are
    returned; an old (version 1) chunk has no table and its bytes are returned unchecked
    (``verified`` is False). ``read`` runs in a thread; ``close`` may be called from another
    one and waits for a read in progress, so the descriptor is never closed under a read.
    """

    def __init__(self, chunk_file: BinaryIO, meta: ChunkMeta) -> None:
        self.file = chunk_file
        self.meta = meta
        self._lock = threading.Lock()

    @property
    def verified(self) -> bool:
        """Whether reads are checked (the chunk has a block table)."""
        return self.meta.block_bytes > 0

    def read(self, start: int, stop: int) -> bytes:
        """Data bytes ``[start, stop)``. Reads the whole blocks that cover them and raises
        ChunkCorrupt, returning nothing, if any of those blocks fails its CRC32C."""
        if not 0 <= start <= stop <= self.meta.length:
            raise ValueError(f"range [{start}, {stop}) outside {self.meta.length} data bytes")
        if start == stop:
            return b""
        block_bytes = self.meta.block_bytes
        if not block_bytes:
            return self._pread(stop - start, start)
        first_block, end_block = start // block_bytes, -(-stop // block_bytes)
        low = first_block * block_bytes
        high = min(end_block * block_bytes, self.meta.length)
        table_offset = self.meta.length + first_block * BLOCK_CRC_BYTES
        expected = self._pread((end_block - first_block) * BLOCK_CRC_BYTES, table_offset)
        data = self._pread(high - low, low)
        bad = first_bad_block(data, expected, block_bytes)
        if bad is not None:
            block_number = first_block + bad
            raise ChunkCorrupt(f"chunk {self.meta.chunk_id}: block {block_number} is corrupt")
        return data if (low, high) == (start, stop) else data[start - low : stop - low]

    def _pread(self, size: int, offset: int) -> bytes:
        with self._lock:
            if self.file.closed:
                raise ValueError(f"chunk {self.meta.chunk_id} is closed")
            data = os.pread(self.file.fileno(), size, offset)
        if len(data) != size:  # the file shrank under us
            raise ChunkCorrupt(f"chunk {self.meta.chunk_id} is shorter than its footer says")
        return data

    def close(self) -> None:
        with self._lock:
            self.file.close()
