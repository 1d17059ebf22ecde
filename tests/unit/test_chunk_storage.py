"""The on-disk chunk store and the daemon's pure request parsing, without a server."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from pathlib import Path

import pytest
from awscrt import checksums

from chunkd.deleted_ids import DeletedIds
from chunkd.dirsync import DirSyncer
from chunkd.errors import (
    ChecksumMismatch,
    ChunkCorrupt,
    ChunkDeleted,
    ChunkMismatch,
    ChunkMissing,
    InvalidChunkId,
    StoreFull,
)
from chunkd.footer import (
    BLOCK_BYTES,
    FOOTER_BYTES,
    Footer,
    chunk_file_bytes,
    data_bytes_of_file,
    decode_footer,
    encode_block_crc32c,
    encode_footer,
    encode_footer_v1,
    first_bad_block,
)
from chunkd.storage import ChunkStore
from chunkd.verify import VerifyResult
from chunkd.wire import ChunkdHTTPError, parse_range

CHUNK_A = "aa" + "0" * 30
CHUNK_B = "ab" + "1" * 30
CHUNK_C = "ff" + "2" * 30


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    opened = ChunkStore(tmp_path / "data", capacity_bytes=10_000)
    opened.open()
    return opened


@pytest.fixture
def big_store(tmp_path: Path) -> ChunkStore:
    """A store without a capacity limit, for chunks of several blocks."""
    opened = ChunkStore(tmp_path / "big")
    opened.open()
    return opened


def write_chunk(store: ChunkStore, chunk_id: str, data: bytes) -> bool:
    temp = store.create_temp(chunk_id)
    try:
        for offset in range(0, len(data), 7):
            temp.write(data[offset : offset + 7])
        return store.commit(temp)[1]
    finally:
        temp.discard()


# -- footer -----------------------------------------------------------------------------------


def test_footer_layout() -> None:
    footer = encode_footer(5, 0xDEADBEEF, 65536)
    body = b"S3CKv2\0\0" + (5).to_bytes(8, "big") + bytes.fromhex("deadbeef")
    body += (65536).to_bytes(4, "big") + bytes(4)
    assert len(footer) == FOOTER_BYTES == 32
    assert footer == body + checksums.crc32c(body).to_bytes(4, "big")
    # 5 data bytes, one table entry, the footer
    assert decode_footer(footer, 5 + 4 + 32) == Footer(5, 0xDEADBEEF, 65536)


def test_old_footer_layout_is_still_read() -> None:
    footer = encode_footer_v1(5, 0xDEADBEEF)
    assert footer == b"S3CKv1\0\0" + (5).to_bytes(8, "big") + bytes.fromhex("deadbeef") + bytes(12)
    assert decode_footer(footer, 37) == Footer(5, 0xDEADBEEF, 0)
    assert decode_footer(footer, 37).block_count == 0


def _reencoded_v2(footer: bytes, **replace: bytes) -> bytes:
    """A version 2 footer with fields replaced and a valid footer checksum again."""
    fields = {
        "magic": footer[:8],
        "rest": footer[8:20],
        "block": footer[20:24],
        "pad": footer[24:28],
    }
    body = b"".join({**fields, **replace}.values())
    footer_crc32c: int = checksums.crc32c(body)
    return body + footer_crc32c.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("footer", "file_size"),
    [
        (encode_footer_v1(5, 1), 36),  # size disagrees with the length
        (b"S3CKv3\0\0" + encode_footer_v1(5, 1)[8:], 37),  # unknown magic
        (encode_footer_v1(5, 1)[:-1] + b"\x01", 37),  # reserved bytes not zero
        (encode_footer_v1(5, 1)[:31], 37),  # short
        (encode_footer(5, 1), 40),  # size disagrees (the table entry is missing)
        (encode_footer(5, 1), 37),  # an old file's size
        (encode_footer(5, 1)[:12] + b"\x01" + encode_footer(5, 1)[13:], 41),  # flipped bit
        (_reencoded_v2(encode_footer(5, 1), pad=b"\0\0\0\x01"), 41),  # reserved not zero
        (_reencoded_v2(encode_footer(5, 1), block=(0).to_bytes(4, "big")), 37),  # no blocks
        (_reencoded_v2(encode_footer(5, 1), block=(2**31).to_bytes(4, "big")), 41),  # huge
    ],
)
def test_bad_footer_is_corrupt(footer: bytes, file_size: int) -> None:
    with pytest.raises(ChunkCorrupt):
        decode_footer(footer, file_size)


@pytest.mark.parametrize(
    ("length", "file_size"),
    [
        (0, 32),
        (1, 1 + 4 + 32),
        (BLOCK_BYTES, BLOCK_BYTES + 4 + 32),
        (BLOCK_BYTES + 1, BLOCK_BYTES + 1 + 8 + 32),
        # 850 MiB (a 5 GiB single PUT): a 54 KiB table
        (850 * 2**20, 850 * 2**20 + 13_600 * 4 + 32),
    ],
)
def test_file_size_and_data_length_of_both_formats(length: int, file_size: int) -> None:
    assert chunk_file_bytes(length) == file_size
    assert data_bytes_of_file(file_size, encode_footer(length, 0)) == length
    assert data_bytes_of_file(length + 32, encode_footer_v1(length, 0)) == length
    # A damaged footer of either version: the length the file's size implies.
    damaged_v2 = encode_footer(length, 0)[:-1] + b"?"
    assert data_bytes_of_file(file_size, damaged_v2) == length
    assert data_bytes_of_file(length + 32, b"junk" * 8) == length


# -- writing ----------------------------------------------------------------------------------


def test_commit_makes_chunk_visible_with_checksum(store: ChunkStore) -> None:
    data = os.urandom(100)
    assert write_chunk(store, CHUNK_A, data) is True
    meta = store.read_meta(CHUNK_A)
    assert (meta.length, meta.crc32c) == (100, checksums.crc32c(data))
    assert store.chunk_path(CHUNK_A).read_bytes()[:100] == data
    assert os.listdir(store.tmp_dir) == []


def test_recommit_same_data_is_not_new_and_different_data_conflicts(store: ChunkStore) -> None:
    assert write_chunk(store, CHUNK_A, b"same") is True
    assert write_chunk(store, CHUNK_A, b"same") is False
    with pytest.raises(ChunkMismatch):
        write_chunk(store, CHUNK_A, b"diff")
    assert store.stats().chunk_count == 1
    assert os.listdir(store.tmp_dir) == []


def test_discarded_temp_leaves_nothing(store: ChunkStore) -> None:
    temp = store.create_temp(CHUNK_A)
    temp.write(b"partial")
    temp.discard()
    temp.discard()  # idempotent
    assert os.listdir(store.tmp_dir) == []
    with pytest.raises(ChunkMissing):
        store.read_meta(CHUNK_A)


@pytest.mark.parametrize("chunk_id", ["../" + "a" * 29, "A" * 32, "a" * 31, "", "a" * 30 + "/x"])
def test_ids_never_name_other_files(store: ChunkStore, chunk_id: str) -> None:
    with pytest.raises(InvalidChunkId):
        store.chunk_path(chunk_id)
    with pytest.raises(InvalidChunkId):
        store.create_temp(chunk_id)


def test_reserve_refuses_beyond_capacity(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, bytes(4000))
    with store.reserve(5000):
        with pytest.raises(StoreFull):
            with store.reserve(1001):
                pass
        with store.reserve(1000):
            pass
    with store.reserve(6000):
        pass


# -- start-up, accounting, listing, verification ----------------------------------------------


def test_open_removes_temps_and_counts_chunks(tmp_path: Path) -> None:
    first = ChunkStore(tmp_path / "data")
    first.open()
    write_chunk(first, CHUNK_A, bytes(10))
    write_chunk(first, CHUNK_B, bytes(20))
    first.create_temp(CHUNK_C).write(b"left behind by a crash")

    reopened = ChunkStore(tmp_path / "data")
    reopened.open()
    assert os.listdir(reopened.tmp_dir) == []
    stats = reopened.stats()
    assert (stats.chunk_count, stats.used_bytes) == (2, 30)
    assert stats.capacity_bytes > 0


def test_delete_updates_counters(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, bytes(10))
    assert store.delete(CHUNK_A) is True
    assert store.delete(CHUNK_A) is False
    stats = store.stats()
    assert (stats.chunk_count, stats.used_bytes, stats.free_bytes) == (0, 0, 10_000)


def test_list_is_ordered_and_paged(store: ChunkStore) -> None:
    for chunk_id in (CHUNK_C, CHUNK_A, CHUNK_B):
        write_chunk(store, chunk_id, b"x")
    page, truncated = store.list_chunks("", 2)
    assert ([entry.chunk_id for entry in page], truncated) == ([CHUNK_A, CHUNK_B], True)
    page, truncated = store.list_chunks(CHUNK_B, 2)
    assert ([entry.chunk_id for entry in page], truncated) == ([CHUNK_C], False)
    page, truncated = store.list_chunks(CHUNK_A[:31] + "1", 10)
    assert [entry.chunk_id for entry in page] == [CHUNK_B, CHUNK_C]


def test_list_shows_corrupt_chunks_without_checksum(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, b"data")
    with open(store.chunk_path(CHUNK_A), "ab") as chunk_file:
        chunk_file.write(b"junk")
    (entry,), _ = store.list_chunks("", 10)
    assert (entry.chunk_id, entry.crc32c) == (CHUNK_A, None)
    with pytest.raises(ChunkCorrupt):
        store.read_meta(CHUNK_A)


def test_verify_notices_changed_data(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, b"hello world")
    assert store.verify(CHUNK_A).ok is True
    path = store.chunk_path(CHUNK_A)
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0x80
    path.write_bytes(bytes(raw))
    result = store.verify(CHUNK_A)
    assert (result.ok, result.length) == (False, 11)
    with pytest.raises(ChunkMissing):
        store.verify(CHUNK_B)


# -- Range parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "length", "expected"),
    [
        (None, 10, None),
        ("bytes=0-9", 10, (0, 10)),
        ("bytes=3-3", 10, (3, 4)),
        ("bytes=3-", 10, (3, 10)),
        ("bytes=3-100", 10, (3, 10)),
        ("bytes=-4", 10, (6, 10)),
        ("bytes=-40", 10, (0, 10)),
    ],
)
def test_parse_range(header: str | None, length: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, length) == expected


@pytest.mark.parametrize(
    ("header", "length", "status"),
    [
        ("bytes=10-", 10, 416),
        ("bytes=0-", 0, 416),
        ("bytes=-0", 10, 416),
        ("bytes=4-3", 10, 400),
        ("bytes=-", 10, 400),
        ("bytes=1-2,4-5", 10, 400),
        ("chars=1-2", 10, 400),
    ],
)
def test_parse_range_refusals(header: str, length: int, status: int) -> None:
    with pytest.raises(ChunkdHTTPError) as refusal:
        parse_range(header, length)
    assert refusal.value.status == status


# -- whole small chunks, fan-out directories, shared directory fsyncs --------------------------


def test_open_creates_every_first_level_directory(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "data")
    store.open()
    assert sorted(os.listdir(store.chunks_dir)) == [f"{n:02x}" for n in range(256)]
    store.open()  # a restart finds them there
    assert len(os.listdir(store.chunks_dir)) == 256


def test_put_whole_stores_checks_and_refuses(store: ChunkStore) -> None:
    data = os.urandom(3000)
    crc = checksums.crc32c(data)
    with pytest.raises(ChecksumMismatch):
        store.put_whole(CHUNK_A, data, crc ^ 1)
    assert not store.exists(CHUNK_A)
    assert os.listdir(store.tmp_dir) == []

    meta, created = store.put_whole(CHUNK_A, data, crc)
    assert (created, meta.length, meta.crc32c) == (True, 3000, crc)
    assert store.put_whole(CHUNK_A, data, None)[1] is False  # the same again: not new
    with pytest.raises(ChunkMismatch):
        store.put_whole(CHUNK_A, os.urandom(3000), None)
    with pytest.raises(StoreFull):  # 3000 of 10,000 bytes used
        store.put_whole(CHUNK_B, bytes(7001), None)
    assert store.put_whole(CHUNK_B, bytes(7000), None)[1] is True
    assert store.stats().used_bytes == 10_000
    assert os.listdir(store.tmp_dir) == []


def test_open_chunk_reads_ranges(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, b"small")
    reader = store.open_chunk(CHUNK_A)
    try:
        assert (reader.meta.length, reader.verified) == (5, True)
        assert reader.read(0, 5) == b"small"
        assert reader.read(1, 3) == b"ma"
        assert reader.read(5, 5) == b""
        with pytest.raises(ValueError):
            reader.read(4, 6)
    finally:
        reader.close()
    with pytest.raises(ValueError):
        reader.read(0, 1)  # closed
    with pytest.raises(ChunkMissing):
        store.open_chunk(CHUNK_C)


def test_directory_fsyncs_are_shared_and_start_after_each_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers arriving while an fsync of the directory runs share the next one; every caller
    returns only after an fsync that began after it called."""
    fsyncs: list[tuple[float, float]] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        started = time.monotonic()
        time.sleep(0.3)
        real_fsync(fd)
        fsyncs.append((started, time.monotonic()))

    monkeypatch.setattr(os, "fsync", slow_fsync)
    syncer = DirSyncer()
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def caller() -> None:
        called = time.monotonic()
        syncer.sync(tmp_path)
        with lock:
            calls.append((called, time.monotonic()))

    first = threading.Thread(target=caller)
    first.start()
    time.sleep(0.1)  # the first fsync is under way
    others = [threading.Thread(target=caller) for _ in range(7)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=10)
    assert len(calls) == 8
    assert len(fsyncs) == 2, fsyncs  # one for the first caller, one shared by the other seven
    for called, returned in calls:
        assert any(called <= begun and ended <= returned for begun, ended in fsyncs)


def test_a_chunk_deleted_while_being_received_stays_deleted(store: ChunkStore) -> None:
    """The collector deletes a failed write's chunks; a PUT of one still being received
    must not make it visible afterwards (it would be an orphan nothing tracks)."""
    temp = store.create_temp(CHUNK_A)
    temp.write(b"arrives late")
    assert store.delete(CHUNK_A) is False
    with pytest.raises(ChunkDeleted):
        store.commit(temp)
    temp.discard()
    assert not store.exists(CHUNK_A)
    assert store.stats().chunk_count == 0


def test_deleted_ids_are_forgotten_after_their_memory() -> None:
    deleted_ids = DeletedIds(memory_seconds=0.2)
    deleted_ids.remember(CHUNK_A)
    assert CHUNK_A in deleted_ids
    assert CHUNK_B not in deleted_ids
    time.sleep(0.3)
    assert CHUNK_A not in deleted_ids
    deleted_ids.remember(CHUNK_B)  # a later delete does not bring the old one back
    assert CHUNK_B in deleted_ids
    assert CHUNK_A not in deleted_ids


# -- version 2: the block table ------------------------------------------------------------------

MULTI_BLOCK_BYTES = 3 * BLOCK_BYTES + 3392  # three whole blocks and a short one


def write_in_odd_pieces(store: ChunkStore, chunk_id: str, data: bytes) -> None:
    """Write ``data`` in pieces that start and end on and off block boundaries."""
    temp = store.create_temp(chunk_id)
    try:
        cuts = [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, 2 * BLOCK_BYTES + 7, len(data)]
        for low, high in itertools.pairwise(cuts):
            temp.write(bytearray(data[low:high]))
        store.commit(temp)
    finally:
        temp.discard()


def blocks_of(data: bytes, block_bytes: int = BLOCK_BYTES) -> list[bytes]:
    return [data[start : start + block_bytes] for start in range(0, len(data), block_bytes)]


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def test_file_is_data_then_block_table_then_footer(big_store: ChunkStore) -> None:
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_in_odd_pieces(big_store, CHUNK_A, data)
    raw = big_store.chunk_path(CHUNK_A).read_bytes()
    table = b"".join(checksums.crc32c(block).to_bytes(4, "big") for block in blocks_of(data))
    assert len(table) == 4 * 4
    assert raw == data + table + encode_footer(len(data), checksums.crc32c(data), BLOCK_BYTES)
    meta = big_store.read_meta(CHUNK_A)
    assert (meta.length, meta.crc32c, meta.block_bytes) == (
        len(data),
        checksums.crc32c(data),
        BLOCK_BYTES,
    )
    assert big_store.verify(CHUNK_A).ok is True


def test_block_size_is_the_footers(tmp_path: Path) -> None:
    """Chunks written with another block size stay readable (the size is in each footer)."""
    small_blocks = ChunkStore(tmp_path / "data", block_bytes=4096)
    small_blocks.open()
    data = os.urandom(10_000)
    write_chunk(small_blocks, CHUNK_A, data)
    assert small_blocks.chunk_path(CHUNK_A).stat().st_size == 10_000 + 3 * 4 + 32
    default_blocks = ChunkStore(tmp_path / "data")
    default_blocks.open()
    reader = default_blocks.open_chunk(CHUNK_A)
    with contextlib.closing(reader):
        assert reader.meta.block_bytes == 4096
        assert reader.read(4000, 9000) == data[4000:9000]
    assert default_blocks.verify(CHUNK_A).ok is True


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        (0, MULTI_BLOCK_BYTES),  # everything
        (0, 1),
        (1000, 5096),  # 4 KiB inside the first block
        (BLOCK_BYTES - 10, BLOCK_BYTES + 10),  # across a boundary
        (BLOCK_BYTES, 2 * BLOCK_BYTES),  # exactly one block
        (3 * BLOCK_BYTES + 1, MULTI_BLOCK_BYTES),  # inside the short last block
        (5, 3 * BLOCK_BYTES + 5),  # four blocks, both ends inside one
    ],
)
def test_ranges_read_back(big_store: ChunkStore, start: int, stop: int) -> None:
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_in_odd_pieces(big_store, CHUNK_A, data)
    with contextlib.closing(big_store.open_chunk(CHUNK_A)) as reader:
        assert reader.read(start, stop) == data[start:stop]


@pytest.mark.parametrize("flipped", [70_000, 3 * BLOCK_BYTES + 3000])  # block 1, last block
def test_a_corrupt_block_fails_every_range_that_touches_it(
    big_store: ChunkStore, flipped: int
) -> None:
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_in_odd_pieces(big_store, CHUNK_A, data)
    flip(big_store.chunk_path(CHUNK_A), flipped)
    block = flipped // BLOCK_BYTES
    block_start = block * BLOCK_BYTES
    with contextlib.closing(big_store.open_chunk(CHUNK_A)) as reader:
        # A range inside the bad block that does not include the bad byte is refused too.
        with pytest.raises(ChunkCorrupt, match=f"block {block} "):
            reader.read(block_start + 10, block_start + 20)
        with pytest.raises(ChunkCorrupt):
            reader.read(flipped, flipped + 1)
        with pytest.raises(ChunkCorrupt):
            reader.read(0, MULTI_BLOCK_BYTES)
        # The other blocks are still served, checked.
        assert reader.read(0, block_start) == data[:block_start]
        after = block_start + BLOCK_BYTES
        assert reader.read(min(after, len(data)), len(data)) == data[after:]
    result = big_store.verify(CHUNK_A)
    assert (result.ok, result.length) == (False, len(data))


def test_a_corrupt_table_entry_fails_its_block(big_store: ChunkStore) -> None:
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_in_odd_pieces(big_store, CHUNK_A, data)
    flip(big_store.chunk_path(CHUNK_A), len(data) + 2 * 4 + 3)  # entry of block 2
    with contextlib.closing(big_store.open_chunk(CHUNK_A)) as reader:
        assert reader.read(0, 2 * BLOCK_BYTES) == data[: 2 * BLOCK_BYTES]
        with pytest.raises(ChunkCorrupt):
            reader.read(2 * BLOCK_BYTES + 5, 2 * BLOCK_BYTES + 6)
    result = big_store.verify(CHUNK_A)
    # The data itself is intact: its checksum is right, but the file is damaged.
    assert (result.ok, result.crc32c) == (False, checksums.crc32c(data))


def test_a_damaged_footer_is_corrupt_and_verify_says_so(big_store: ChunkStore) -> None:
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_in_odd_pieces(big_store, CHUNK_A, data)
    path = big_store.chunk_path(CHUNK_A)
    flip(path, path.stat().st_size - 20)  # inside the footer's data checksum
    with pytest.raises(ChunkCorrupt):
        big_store.open_chunk(CHUNK_A)
    result = big_store.verify(CHUNK_A)
    assert (result.ok, result.length, result.crc32c) == (False, len(data), checksums.crc32c(data))
    (entry,), _ = big_store.list_chunks("", 10)
    assert (entry.length, entry.crc32c) == (len(data), None)


def test_empty_chunk_is_a_footer_alone(big_store: ChunkStore) -> None:
    write_chunk(big_store, CHUNK_A, b"")
    raw = big_store.chunk_path(CHUNK_A).read_bytes()
    assert raw == encode_footer(0, 0, BLOCK_BYTES)
    with contextlib.closing(big_store.open_chunk(CHUNK_A)) as reader:
        assert (reader.meta.length, reader.read(0, 0)) == (0, b"")
    assert big_store.verify(CHUNK_A) == VerifyResult(CHUNK_A, True, 0, 0)
    assert big_store.stats().chunk_count == 1


def test_block_boundary_lengths(tmp_path: Path) -> None:
    """A chunk of exactly one block has one entry; one byte more has two (chunk files: with
    packs on, a chunk of one block is packed, chunkd.packs)."""
    big_store = ChunkStore(tmp_path / "files", pack_small=False)
    big_store.open()
    for chunk_id, length, entries in ((CHUNK_A, BLOCK_BYTES, 1), (CHUNK_B, BLOCK_BYTES + 1, 2)):
        data = os.urandom(length)
        big_store.put_whole(chunk_id, data, None)
        path = big_store.chunk_path(chunk_id)
        assert path.stat().st_size == length + 4 * entries + FOOTER_BYTES
        table = path.read_bytes()[length : length + 4 * entries]
        assert table == b"".join(checksums.crc32c(b).to_bytes(4, "big") for b in blocks_of(data))
        with contextlib.closing(big_store.open_chunk(chunk_id)) as reader:
            assert reader.read(length - 1, length) == data[-1:]


# -- version 1 files (written before block tables) -------------------------------------------


def write_v1_chunk(store: ChunkStore, chunk_id: str, data: bytes) -> None:
    """A chunk file as older daemons wrote it: data and a 32-byte footer."""
    path = store.chunk_path(chunk_id)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data + encode_footer_v1(len(data), checksums.crc32c(data)))


def test_old_format_chunks_read_verify_count_and_list(tmp_path: Path) -> None:
    old_data = os.urandom(MULTI_BLOCK_BYTES)
    new_data = os.urandom(MULTI_BLOCK_BYTES)
    store = ChunkStore(tmp_path / "data")
    store.open()
    write_v1_chunk(store, CHUNK_A, old_data)
    write_v1_chunk(store, CHUNK_C, b"")
    write_chunk(store, CHUNK_B, new_data)

    reopened = ChunkStore(tmp_path / "data")
    reopened.open()
    stats = reopened.stats()
    assert (stats.chunk_count, stats.used_bytes) == (3, 2 * MULTI_BLOCK_BYTES)
    listed, _ = reopened.list_chunks("", 10)
    assert [(e.chunk_id, e.length) for e in listed] == [
        (CHUNK_A, MULTI_BLOCK_BYTES),
        (CHUNK_B, MULTI_BLOCK_BYTES),
        (CHUNK_C, 0),
    ]
    meta = reopened.read_meta(CHUNK_A)
    assert (meta.length, meta.crc32c, meta.block_bytes) == (
        len(old_data),
        checksums.crc32c(old_data),
        0,
    )
    with contextlib.closing(reopened.open_chunk(CHUNK_A)) as reader:
        assert reader.verified is False
        assert reader.read(0, len(old_data)) == old_data
        assert reader.read(70_000, 70_010) == old_data[70_000:70_010]
    assert reopened.verify(CHUNK_A) == VerifyResult(
        CHUNK_A, True, len(old_data), checksums.crc32c(old_data)
    )
    # A re-put of the same data leaves the old file as it is.
    assert write_chunk(reopened, CHUNK_A, old_data) is False
    assert reopened.read_meta(CHUNK_A).block_bytes == 0
    assert reopened.delete(CHUNK_A) is True
    assert reopened.stats().used_bytes == MULTI_BLOCK_BYTES


def test_old_format_ranges_stay_unchecked_but_verify_notices(big_store: ChunkStore) -> None:
    """As before block tables: a range of an old chunk is served as it is on disk."""
    data = os.urandom(MULTI_BLOCK_BYTES)
    write_v1_chunk(big_store, CHUNK_A, data)
    flip(big_store.chunk_path(CHUNK_A), 70_000)
    with contextlib.closing(big_store.open_chunk(CHUNK_A)) as reader:
        assert reader.read(70_000, 70_001) == bytes([data[70_000] ^ 0x01])
    result = big_store.verify(CHUNK_A)
    assert (result.ok, result.length) == (False, len(data))


def test_first_bad_block_compares_every_block_with_its_entry() -> None:
    data = bytes(range(256)) * 10  # 2,560 bytes: blocks of 1,024, 1,024 and 512
    table = b"".join(
        encode_block_crc32c(checksums.crc32c(data[start : start + 1024]))
        for start in range(0, 2560, 1024)
    )
    assert first_bad_block(data, table, 1024) is None
    flipped = data[:1500] + bytes([data[1500] ^ 1]) + data[1501:]
    assert first_bad_block(flipped, table, 1024) == 1
    assert first_bad_block(data, table[:8], 1024) == 2  # a block without an entry
    assert first_bad_block(data[:2048], table, 1024) == 2  # an entry without a block
    assert first_bad_block(data, table[:9], 1024) == 2  # a torn entry counts as missing
