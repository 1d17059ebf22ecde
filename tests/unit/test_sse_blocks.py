"""The encrypted segment framing (`store/encryption.py`) and the key rules (`store/sse.py`)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s3compat.store import errors
from s3compat.store.checksums import MultiHasher
from s3compat.store.encryption import (
    BLOCK_PLAIN_BYTES,
    BLOCK_STORED_BYTES,
    SALT_BYTES,
    TAG_BYTES,
    SealBroken,
    SealingSource,
    covering_blocks,
    open_range,
    plain_length,
    stored_length,
)
from s3compat.store.pieces import read_exactly
from s3compat.store.sse import (
    CustomerKey,
    MasterKey,
    public_headers,
    seal_new,
    sealing_for_part,
    sealing_for_read,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
B = BLOCK_PLAIN_BYTES


class Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int) -> bytes:
        taken, self.data = self.data[:n], self.data[n:]
        return taken


async def seal(plain: bytes, key: bytes = KEY) -> bytes:
    source = SealingSource(Bytes(plain), key, len(plain), None)
    return await read_exactly(source, stored_length(len(plain)))


def reader(stored: bytes, piece_bytes: int = 7000) -> object:
    """A segment reader handing out stored bytes in uneven pieces, counting what it read."""
    asked: list[tuple[int, int]] = []

    def read(low: int, high: int) -> AsyncIterator[bytes]:
        asked.append((low, high))

        async def pieces() -> AsyncIterator[bytes]:
            for at in range(low, high, piece_bytes):
                yield stored[at : min(at + piece_bytes, high)]

        return pieces()

    read.asked = asked  # type: ignore[attr-defined]
    return read


async def opened(stored: bytes, start: int, end: int, key: bytes = KEY) -> bytes:
    read = reader(stored)
    return b"".join([p async for p in open_range(read, key, len(stored), start, end)])  # type: ignore[arg-type]


@pytest.mark.parametrize("plain", [0, 1, B - 1, B, B + 1, 3 * B, 5 * B + 17])
def test_lengths_are_inverse(plain: int) -> None:
    stored = stored_length(plain)
    assert stored == SALT_BYTES + plain + TAG_BYTES * -(-plain // B)
    assert plain_length(stored) == plain


@pytest.mark.parametrize("stored", [0, 5, SALT_BYTES + 3, SALT_BYTES + TAG_BYTES])
def test_impossible_stored_lengths_refused(stored: int) -> None:
    with pytest.raises(SealBroken):
        plain_length(stored)


def test_covering_blocks_of_a_range_across_a_boundary() -> None:
    first, last, low, high = covering_blocks(3 * B, B - 10, B + 10)
    assert (first, last) == (0, 2)
    assert (low, high) == (SALT_BYTES, SALT_BYTES + 2 * BLOCK_STORED_BYTES)
    first, last, low, high = covering_blocks(3 * B + 5, 3 * B, 3 * B + 5)
    assert (first, last, low) == (3, 4, SALT_BYTES + 3 * BLOCK_STORED_BYTES)
    assert high == stored_length(3 * B + 5)


async def test_round_trip_and_ranges() -> None:
    plain = os.urandom(3 * B + 1234)
    stored = await seal(plain)
    assert len(stored) == stored_length(len(plain))
    assert plain[:64] not in stored
    for start, end in [
        (0, len(plain)),
        (0, 1),
        (B - 1, B + 1),
        (B, 2 * B),
        (2 * B + 5, 3 * B + 1234),
        (len(plain) - 1, len(plain)),
        (17, 3 * B + 3),
    ]:
        assert await opened(stored, start, end) == plain[start:end], (start, end)


async def test_a_range_reads_only_the_salt_and_its_blocks() -> None:
    plain = os.urandom(8 * B)
    stored = await seal(plain)
    read = reader(stored)
    got = b"".join(
        [p async for p in open_range(read, KEY, len(stored), 5 * B + 3, 5 * B + 9)]  # type: ignore[arg-type]
    )
    assert got == plain[5 * B + 3 : 5 * B + 9]
    low = SALT_BYTES + 5 * BLOCK_STORED_BYTES
    assert read.asked == [(0, SALT_BYTES), (low, low + BLOCK_STORED_BYTES)]  # type: ignore[attr-defined]


async def test_the_same_plaintext_seals_differently_each_time() -> None:
    plain = b"x" * 1000
    assert await seal(plain) != await seal(plain)


async def test_tampered_byte_is_detected() -> None:
    plain = os.urandom(2 * B)
    stored = bytearray(await seal(plain))
    stored[SALT_BYTES + B + 100] ^= 1
    assert await opened(bytes(stored), 0, 10) == plain[:10]  # block 0 is intact
    with pytest.raises(SealBroken):
        await opened(bytes(stored), 0, 2 * B)


async def test_swapped_blocks_and_a_cut_segment_do_not_open() -> None:
    plain = os.urandom(2 * B)
    stored = await seal(plain)
    first = stored[SALT_BYTES : SALT_BYTES + BLOCK_STORED_BYTES]
    second = stored[SALT_BYTES + BLOCK_STORED_BYTES :]
    with pytest.raises(SealBroken):
        await opened(stored[:SALT_BYTES] + second + first, 0, 2 * B)
    cut = stored[: SALT_BYTES + BLOCK_STORED_BYTES]
    # One block alone reads as the last one of a one-block segment: its tag says it is not.
    with pytest.raises(SealBroken):
        await opened(cut, 0, B)


async def test_wrong_key_does_not_open() -> None:
    stored = await seal(b"secret" * 100)
    with pytest.raises(SealBroken):
        await opened(stored, 0, 600, key=OTHER_KEY)


async def test_plaintext_is_hashed_on_the_way() -> None:
    plain = os.urandom(B + 99)
    hasher = MultiHasher()
    source = SealingSource(Bytes(plain), KEY, len(plain), hasher)
    await read_exactly(source, stored_length(len(plain)))
    import hashlib

    assert hasher.md5_hex == hashlib.md5(plain).hexdigest()


def test_master_key_file_is_made_private_and_wraps(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sse-master.key"
    master = MasterKey.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wrapped = master.wrap(KEY)
    assert MasterKey.load(path).unwrap(wrapped) == KEY
    with pytest.raises(errors.MasterKeyMismatch):
        MasterKey(OTHER_KEY).unwrap(wrapped)


def test_sse_s3_headers_keep_the_key_wrapped(tmp_path: Path) -> None:
    master = MasterKey.load(tmp_path / "k")
    headers, sealing = seal_new(None, True, master)
    assert sealing is not None and KEY not in headers.values()
    assert public_headers(headers) == {"x-amz-server-side-encryption": "AES256"}
    opened_sealing = sealing_for_read(headers, None, master)
    assert opened_sealing is not None and opened_sealing.key == sealing.key


def test_customer_key_rules() -> None:
    customer = CustomerKey(KEY, "md5-a")
    headers, sealing = seal_new(customer, False, None)
    assert sealing is not None and sealing.etag_hex(b"\0" * 16) != (b"\0" * 16).hex()
    assert KEY.hex() not in repr(headers)
    with pytest.raises(errors.EncryptedObjectNeedsKey):
        sealing_for_read(headers, None, None)
    with pytest.raises(errors.CustomerKeyMismatch):
        sealing_for_read(headers, CustomerKey(OTHER_KEY, "md5-b"), None)
    with pytest.raises(errors.EncryptionNotApplicable):
        sealing_for_read({"content-type": "text/plain"}, customer, None)
    with pytest.raises(errors.UploadEncryptionMismatch, match="did not match"):
        sealing_for_part(headers, CustomerKey(OTHER_KEY, "md5-b"), None)
    with pytest.raises(errors.UploadEncryptionMismatch, match="Subsequent part"):
        sealing_for_part(headers, None, None)
    assert sealing_for_read({}, None, None) is None
