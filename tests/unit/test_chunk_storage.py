"""The on-disk chunk store and the daemon's pure request parsing, without a server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from awscrt import checksums

from chunkd.app import ChunkdHTTPError, parse_range
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
from chunkd.footer import FOOTER_BYTES, decode_footer, encode_footer
from chunkd.storage import ChunkStore

CHUNK_A = "aa" + "0" * 30
CHUNK_B = "ab" + "1" * 30
CHUNK_C = "ff" + "2" * 30


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    opened = ChunkStore(tmp_path / "data", capacity_bytes=10_000)
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
    footer = encode_footer(5, 0xDEADBEEF)
    assert len(footer) == FOOTER_BYTES == 32
    assert footer == b"S3CKv1\0\0" + (5).to_bytes(8, "big") + bytes.fromhex("deadbeef") + bytes(12)
    assert decode_footer(footer, 37) == (5, 0xDEADBEEF)


@pytest.mark.parametrize(
    ("footer", "file_size"),
    [
        (encode_footer(5, 1), 36),  # size disagrees with the length
        (b"S3CKv2\0\0" + encode_footer(5, 1)[8:], 37),  # wrong magic
        (encode_footer(5, 1)[:-1] + b"\x01", 37),  # reserved bytes not zero
        (encode_footer(5, 1)[:31], 37),  # short
    ],
)
def test_bad_footer_is_corrupt(footer: bytes, file_size: int) -> None:
    with pytest.raises(ChunkCorrupt):
        decode_footer(footer, file_size)


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


def test_open_for_send_reads_small_chunks_whole(store: ChunkStore) -> None:
    write_chunk(store, CHUNK_A, b"small")
    write_chunk(store, CHUNK_B, bytes(5000))
    meta, data = store.open_for_send(CHUNK_A, small_bytes=4096)
    assert (meta.length, data) == (5, b"small")
    meta, opened = store.open_for_send(CHUNK_B, small_bytes=4096)
    assert meta.length == 5000
    assert not isinstance(opened, bytes)
    with opened:
        assert opened.read(5000) == bytes(5000)
    with pytest.raises(ChunkMissing):
        store.open_for_send(CHUNK_C, small_bytes=4096)


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
