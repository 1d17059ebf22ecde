"""The errors the chunk store reports, one class per outcome the HTTP layer answers.

Each class is a distinct ``StorageError`` subclass, mapped by exact type to exactly one HTTP
status and message in one table, ``HTTP_ANSWERS``, beside the classes (``chunkd/app.py``
renders it), so that a new outcome and its answer are written in one place.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors the store reports to the HTTP layer."""


class InvalidChunkId(StorageError):
    """The id is not 32 lowercase hex digits."""


class ChunkMissing(StorageError):
    """No chunk with this id is stored."""


class ChunkCorrupt(StorageError):
    """The chunk file exists but its footer is invalid."""


class ChunkMismatch(StorageError):
    """A chunk with this id exists with a different length or checksum."""


class ChunkDeleted(StorageError):
    """The chunk was deleted while it was being received; it stays deleted."""


class StoreFull(StorageError):
    """The write would exceed the configured capacity or the disk is full."""


class ChecksumMismatch(StorageError):
    """The received data does not match the CRC32C the sender declared."""


HTTP_ANSWERS: dict[type[StorageError], tuple[int, str]] = {
    InvalidChunkId: (400, "invalid chunk id"),
    ChunkMissing: (404, "no such chunk"),
    ChunkMismatch: (409, "chunk exists with different content"),
    ChunkDeleted: (410, "chunk was deleted while it was being written"),
    ChunkCorrupt: (422, "corrupt chunk"),
    StoreFull: (507, "insufficient storage"),
    ChecksumMismatch: (400, "checksum mismatch"),
}
