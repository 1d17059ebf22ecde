"""The errors the chunk store reports, one class per outcome the HTTP layer answers.

Each class is a distinct ``StorageError`` subclass so that ``chunkd/app.py`` can map it, by exact
type, to exactly one HTTP status in one table.
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
