"""How an encrypted segment is laid out, and the streams that seal and open it.

A segment (a single PUT's body, or one multipart part) of `n` plaintext bytes is stored as

    salt (16 random bytes) | block 0 | block 1 | ... | block k-1

where block i is AES-256-GCM of plaintext bytes [i*B, (i+1)*B) (B = 64 KiB, the last block
shorter) followed by its 16-byte tag. Each segment has its own key, HMAC-SHA256(object key,
salt), so a part uploaded twice under one key never reuses a (key, nonce) pair; the nonce of
block i is i, so blocks cannot be reordered, and the associated data says whether a block is
the last one, so a segment cut at a block boundary does not open. The catalog records the
stored length; the plaintext length follows from it (`plain_length`). A range read needs the
salt and only the blocks covering the range.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s3compat.store.checksums import MultiHasher
from s3compat.store.errors import StoreError
from s3compat.store.pieces import THREAD_HASH_MIN_BYTES, ByteSource, read_exactly

SALT_BYTES = 16
TAG_BYTES = 16
KEY_BYTES = 32
BLOCK_PLAIN_BYTES = 64 * 1024
BLOCK_STORED_BYTES = BLOCK_PLAIN_BYTES + TAG_BYTES
# Plaintext sealed per thread hop on the write path (hashing and encrypting it).
SEAL_BATCH_BYTES = 16 * BLOCK_PLAIN_BYTES
_SEGMENT_KEY_LABEL = b"s3compat segment key v1"
_LAST, _MORE = b"last", b"more"

# Reads stored bytes [low, high) of one segment.
SegmentReader = Callable[[int, int], AsyncIterator[bytes]]


class SealBroken(StoreError):
    """A block of an encrypted segment does not open: it was altered, or the key is wrong."""


def block_count(plain: int) -> int:
    return -(-plain // BLOCK_PLAIN_BYTES)


def stored_length(plain: int) -> int:
    """Stored bytes of a segment of `plain` plaintext bytes."""
    return SALT_BYTES + plain + TAG_BYTES * block_count(plain)


def plain_length(stored: int) -> int:
    """Plaintext bytes of a segment stored in `stored` bytes (the inverse of stored_length)."""
    sealed = stored - SALT_BYTES
    if sealed < 0:
        raise SealBroken(f"an encrypted segment of {stored} bytes has no salt")
    blocks = -(-sealed // BLOCK_STORED_BYTES)
    plain = sealed - TAG_BYTES * blocks
    if plain < 0 or stored_length(plain) != stored:
        raise SealBroken(f"{stored} bytes is not the length of an encrypted segment")
    return plain


def covering_blocks(plain: int, start: int, end: int) -> tuple[int, int, int, int]:
    """Blocks [first, last) holding plaintext [start, end) of a segment of `plain` bytes, and
    the stored bytes [low, high) that hold those blocks."""
    first = start // BLOCK_PLAIN_BYTES
    last = block_count(end)
    low = SALT_BYTES + first * BLOCK_STORED_BYTES
    high = min(SALT_BYTES + last * BLOCK_STORED_BYTES, stored_length(plain))
    return first, last, low, high


class SegmentCipher:
    """The cipher of one segment: its key is derived from the object key and the salt."""

    def __init__(self, object_key: bytes, salt: bytes, plain: int) -> None:
        if len(object_key) != KEY_BYTES or len(salt) != SALT_BYTES:
            raise ValueError("an object key is 32 bytes and a salt 16")
        derived = hmac.new(object_key, _SEGMENT_KEY_LABEL + salt, hashlib.sha256).digest()
        self._aead = AESGCM(derived)
        self.salt = salt
        self.blocks = block_count(plain)

    @classmethod
    def fresh(cls, object_key: bytes, plain: int) -> SegmentCipher:
        return cls(object_key, secrets.token_bytes(SALT_BYTES), plain)

    def _context(self, index: int) -> tuple[bytes, bytes]:
        return index.to_bytes(12, "big"), _LAST if index == self.blocks - 1 else _MORE

    def seal(self, index: int, plain: bytes) -> bytes:
        nonce, aad = self._context(index)
        return self._aead.encrypt(nonce, plain, aad)

    def open(self, index: int, sealed: bytes) -> bytes:
        nonce, aad = self._context(index)
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag as error:
            raise SealBroken(f"block {index} of an encrypted segment does not open") from error


class SealingSource:
    """A ByteSource of a segment's stored bytes, made from the plaintext of `inner` (exactly
    `plain` bytes are read from it), which are hashed on the way (ETag, checksums)."""

    def __init__(
        self, inner: ByteSource, object_key: bytes, plain: int, hasher: MultiHasher | None
    ) -> None:
        self._inner = inner
        self._cipher = SegmentCipher.fresh(object_key, plain)
        self._hasher = hasher
        self._left = plain
        self._index = 0
        self._pending = self._cipher.salt

    async def read(self, n: int) -> bytes:
        while len(self._pending) < n and self._left:
            size = min(self._left, max(n - len(self._pending), BLOCK_PLAIN_BYTES), SEAL_BATCH_BYTES)
            size = min(self._left, block_count(size) * BLOCK_PLAIN_BYTES)
            plain = await read_exactly(self._inner, size)
            self._left -= size
            if size >= THREAD_HASH_MIN_BYTES:
                sealed = await asyncio.to_thread(self._seal, plain)
            else:
                sealed = self._seal(plain)
            self._pending += sealed
        taken, self._pending = self._pending[:n], self._pending[n:]
        return taken

    def _seal(self, plain: bytes) -> bytes:
        if self._hasher is not None:
            self._hasher.update(plain)
        sealed = []
        for offset in range(0, len(plain), BLOCK_PLAIN_BYTES):
            sealed.append(
                self._cipher.seal(self._index, plain[offset : offset + BLOCK_PLAIN_BYTES])
            )
            self._index += 1
        return b"".join(sealed)


async def open_range(
    read: SegmentReader, object_key: bytes, stored: int, start: int, end: int
) -> AsyncGenerator[bytes, None]:
    """Plaintext [start, end) of a segment stored in `stored` bytes, reading only its salt
    and the blocks that cover the range."""
    plain = plain_length(stored)
    first, last, low, high = covering_blocks(plain, start, end)
    if low == SALT_BYTES:
        blocks = read(0, high)
        buffer = b""
    else:
        salt = b"".join([part async for part in read(0, SALT_BYTES)])
        blocks = read(low, high)
        buffer = salt
    index = first
    salt_seen = low != SALT_BYTES
    cipher: SegmentCipher | None = None
    position = first * BLOCK_PLAIN_BYTES  # plaintext offset of block `index`
    async for part in blocks:
        buffer += part
        if not salt_seen and len(buffer) >= SALT_BYTES:
            salt_seen = True
        if cipher is None and salt_seen:
            cipher = SegmentCipher(object_key, buffer[:SALT_BYTES], plain)
            buffer = buffer[SALT_BYTES:]
        while cipher is not None and index < last:
            size = min(BLOCK_PLAIN_BYTES, plain - position) + TAG_BYTES
            if len(buffer) < size:
                break
            opened = cipher.open(index, buffer[:size])
            buffer = buffer[size:]
            low_cut, high_cut = max(start - position, 0), min(end - position, len(opened))
            if low_cut < high_cut:
                yield opened[low_cut:high_cut]
            index += 1
            position += len(opened)
    if index < last:
        raise SealBroken("an encrypted segment ended before its last block")
