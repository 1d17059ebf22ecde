"""Small chunks in pack files (chunkd.packs) through the chunk store: durable group commits,
recovery from torn and damaged records, listing beside chunk files, compaction."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from awscrt import checksums

from chunkd import packs
from chunkd.errors import ChunkCorrupt, ChunkMismatch, ChunkMissing
from chunkd.packs import HEADER_BYTES, PACK_MAX_BYTES
from chunkd.storage import ChunkStore


def new_id() -> str:
    return secrets.token_hex(16)


def opened(root: Path) -> ChunkStore:
    store = ChunkStore(root)
    store.open()
    return store


def pack_files(root: Path) -> list[Path]:
    return sorted((root / "packs").glob("*.pack"))


def read_back(store: ChunkStore, chunk_id: str) -> bytes:
    with contextlib.closing(store.open_chunk(chunk_id)) as reader:
        return reader.read(0, reader.meta.length)


def test_small_chunks_are_packed_read_listed_and_deleted(tmp_path: Path) -> None:
    store = opened(tmp_path)
    bodies = {new_id(): os.urandom(size) for size in (0, 1, 700, PACK_MAX_BYTES)}
    for chunk_id, data in bodies.items():
        meta, created = store.put_whole(chunk_id, data, checksums.crc32c(data))
        assert created and meta.length == len(data)
        assert not store.chunk_path(chunk_id).exists()  # no file of its own
    assert all(read_back(store, chunk_id) == data for chunk_id, data in bodies.items())
    assert store.stats().chunk_count == 4
    assert store.stats().used_bytes == sum(map(len, bodies.values()))
    listed, more = store.list_chunks("", 100)
    assert [entry.chunk_id for entry in listed] == sorted(bodies) and not more
    gone = sorted(bodies)[1]
    assert store.delete(gone)
    assert not store.exists(gone) and not store.delete(gone)
    with pytest.raises(ChunkMissing):
        store.read_meta(gone)
    assert store.stats().chunk_count == 3


def test_a_chunk_over_the_pack_limit_is_a_file(tmp_path: Path) -> None:
    store = opened(tmp_path)
    chunk_id = new_id()
    store.put_whole(chunk_id, os.urandom(PACK_MAX_BYTES + 1), None)
    assert store.chunk_path(chunk_id).exists()


def test_puts_and_deletes_survive_a_restart(tmp_path: Path) -> None:
    store = opened(tmp_path)
    kept = {new_id(): os.urandom(100) for _ in range(20)}
    for chunk_id, data in kept.items():
        store.put_whole(chunk_id, data, None)
    deleted = sorted(kept)[:5]
    for chunk_id in deleted:
        assert store.delete(chunk_id)
        del kept[chunk_id]
    again = opened(tmp_path)
    assert {entry.chunk_id for entry in again.list_chunks("", 100)[0]} == set(kept)
    assert all(read_back(again, chunk_id) == data for chunk_id, data in kept.items())
    assert again.stats().chunk_count == 15
    assert len(pack_files(tmp_path)) == 1  # a start writes nothing...
    again.put_whole(new_id(), b"later", None)
    assert len(pack_files(tmp_path)) == 2  # ...and appends to a new pack


def test_a_torn_last_record_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    store = opened(tmp_path)
    first, torn = new_id(), new_id()
    store.put_whole(first, b"x" * 300, None)
    store.put_whole(torn, b"y" * 300, None)
    pack = pack_files(tmp_path)[-1]
    os.truncate(pack, pack.stat().st_size - 100)  # a crash in the middle of the last append
    again = opened(tmp_path)
    assert read_back(again, first) == b"x" * 300
    assert not again.exists(torn)


def test_a_damaged_header_loses_its_record_only(tmp_path: Path) -> None:
    store = opened(tmp_path)
    ids = [new_id() for _ in range(3)]
    for chunk_id in ids:
        store.put_whole(chunk_id, chunk_id.encode() * 10, None)
    pack = pack_files(tmp_path)[-1]
    raw = bytearray(pack.read_bytes())
    second = HEADER_BYTES + 320  # the second record's header
    raw[second + 10] ^= 0xFF
    pack.write_bytes(bytes(raw))
    again = opened(tmp_path)
    assert [again.exists(chunk_id) for chunk_id in ids] == [True, False, True]
    assert read_back(again, ids[2]) == ids[2].encode() * 10


def test_damaged_data_is_never_returned(tmp_path: Path) -> None:
    store = opened(tmp_path)
    chunk_id = new_id()
    store.put_whole(chunk_id, b"z" * 500, None)
    pack = pack_files(tmp_path)[-1]
    raw = bytearray(pack.read_bytes())
    raw[HEADER_BYTES + 7] ^= 0x01
    pack.write_bytes(bytes(raw))
    with pytest.raises(ChunkCorrupt):
        store.open_chunk(chunk_id)
    result = store.verify(chunk_id)
    assert not result.ok and result.length == 500
    listed = store.list_chunks("", 10)[0]
    assert [entry.chunk_id for entry in listed] == [chunk_id]  # still listed, for scrub


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls = [0]
    real: Callable[[int], None] = getattr(os, name)

    def counted(fd: int) -> None:
        calls[0] += 1
        real(fd)

    monkeypatch.setattr(os, name, counted)
    return calls


def test_concurrent_writers_share_syncs_and_every_write_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(tmp_path)
    syncs = count_calls(monkeypatch, "fdatasync")
    written: dict[str, bytes] = {}
    lock = threading.Lock()
    start = threading.Barrier(32)

    def writer() -> None:
        start.wait()
        for _ in range(20):
            chunk_id, data = new_id(), os.urandom(700)
            store.put_whole(chunk_id, data, None)
            with lock:
                written[chunk_id] = data

    threads = [threading.Thread(target=writer) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(written) == 640
    assert syncs[0] < 640, "every write synced on its own: no group commit"
    again = opened(tmp_path)
    assert all(read_back(again, chunk_id) == data for chunk_id, data in written.items())


def test_listing_merges_packed_chunks_and_files_in_id_order(tmp_path: Path) -> None:
    store = opened(tmp_path)
    ids = sorted(new_id() for _ in range(30))
    for number, chunk_id in enumerate(ids):
        size = PACK_MAX_BYTES + 1 if number % 3 == 0 else 10  # every third one a file
        store.put_whole(chunk_id, os.urandom(size), None)
    pages: list[str] = []
    after = ""
    while True:
        page, more = store.list_chunks(after, 7)
        pages += [entry.chunk_id for entry in page]
        if not more:
            break
        after = page[-1].chunk_id
    assert pages == ids


def test_compaction_gives_back_deleted_space_and_keeps_deletes_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "PACK_ROLL_BYTES", 20_000)
    store = opened(tmp_path)
    bodies = {new_id(): os.urandom(1000) for _ in range(100)}
    for chunk_id, data in bodies.items():
        store.put_whole(chunk_id, data, None)
    assert len(pack_files(tmp_path)) > 3
    doomed = sorted(bodies)[:70]
    for chunk_id in doomed:
        assert store.delete(chunk_id)
    before = sum(path.stat().st_size for path in pack_files(tmp_path))
    freed = store.compact_packs()
    after = sum(path.stat().st_size for path in pack_files(tmp_path))
    assert freed > 0 and after < before
    survivors = {chunk_id: data for chunk_id, data in bodies.items() if chunk_id not in doomed}
    for reopened in (store, opened(tmp_path)):
        assert {entry.chunk_id for entry in reopened.list_chunks("", 200)[0]} == set(survivors)
        assert all(read_back(reopened, key) == data for key, data in survivors.items())


def test_a_delete_record_outlives_the_compaction_of_its_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The put stays in an older pack (kept by its live neighbours) while the pack holding the
    delete is compacted away: the chunk must stay deleted after a restart."""
    monkeypatch.setattr(packs, "PACK_ROLL_BYTES", 5_000)
    store = opened(tmp_path)
    victim = new_id()
    store.put_whole(victim, os.urandom(1000), None)
    neighbours = [new_id() for _ in range(4)]
    for chunk_id in neighbours:  # pack 1 (full now) stays mostly live
        store.put_whole(chunk_id, os.urandom(1000), None)
    assert store.delete(victim)  # its delete record opens pack 2
    fillers = [new_id() for _ in range(5)]
    for chunk_id in fillers:  # fill pack 2
        store.put_whole(chunk_id, os.urandom(1000), None)
    last = new_id()
    store.put_whole(last, b"pack 3", None)
    for chunk_id in fillers:  # pack 2 is all dead now
        assert store.delete(chunk_id)
    assert len(pack_files(tmp_path)) == 3
    store.compact_packs()
    assert len(pack_files(tmp_path)) == 2  # pack 2 is gone, pack 1 kept
    again = opened(tmp_path)
    assert not again.exists(victim)
    assert all(again.exists(chunk_id) for chunk_id in [*neighbours, last])
    assert not any(again.exists(chunk_id) for chunk_id in fillers)


def test_nothing_is_acknowledged_into_a_pack_removed_behind_the_daemon(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.put_whole(new_id(), b"before", None)
    for pack in pack_files(tmp_path):
        pack.unlink()
    with pytest.raises(OSError):
        store.put_whole(new_id(), b"after", None)


def test_a_streamed_put_of_a_packed_id_with_other_bytes_is_a_mismatch(tmp_path: Path) -> None:
    store = opened(tmp_path)
    chunk_id = new_id()
    store.put_whole(chunk_id, b"small", None)
    temp = store.create_temp(chunk_id)
    try:
        temp.write(os.urandom(PACK_MAX_BYTES + 1))
        with pytest.raises(ChunkMismatch):
            store.commit(temp)
    finally:
        temp.discard()
    assert read_back(store, chunk_id) == b"small"
    assert not store.chunk_path(chunk_id).exists()


def test_a_batch_is_stored_with_one_sync_and_each_item_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ChunkStore(tmp_path, capacity_bytes=5_000)
    store.open()
    kept, other, gone = new_id(), new_id(), new_id()
    store.put_whole(kept, b"kept", None)
    store.put_whole(other, b"other", None)
    store.delete(gone)  # remembered as deleted
    syncs = count_calls(monkeypatch, "fdatasync")
    fresh = {new_id(): os.urandom(100 + n) for n in range(5)}
    items = [(chunk_id, data, checksums.crc32c(data)) for chunk_id, data in fresh.items()]
    too_big = os.urandom(4_800)  # over what is left of the capacity once the rest is in
    items += [
        (kept, b"kept", checksums.crc32c(b"kept")),  # the same again: stored, not new
        (other, b"OTHER", checksums.crc32c(b"OTHER")),  # other bytes under its id
        (new_id(), b"bad", checksums.crc32c(b"bad") ^ 1),  # fails its CRC32C
        (gone, b"late", checksums.crc32c(b"late")),  # deleted while on its way
        (new_id(), too_big, checksums.crc32c(too_big)),
    ]
    outcomes = store.put_many(items)
    assert syncs[0] == 1
    assert [o[1] for o in outcomes[:6] if isinstance(o, tuple)] == [True] * 5 + [False]
    kinds = [type(o).__name__ for o in outcomes[6:]]
    assert kinds == ["ChunkMismatch", "ChecksumMismatch", "ChunkDeleted", "StoreFull"]
    assert store.stats().chunk_count == 2 + 5
    again = opened(tmp_path)  # durable: a new start finds them
    assert all(read_back(again, chunk_id) == data for chunk_id, data in fresh.items())
    assert not again.exists(gone) and read_back(again, other) == b"other"


def test_a_batch_naming_an_id_twice_is_stored_item_by_item(tmp_path: Path) -> None:
    store = opened(tmp_path)
    chunk_id, crc = new_id(), checksums.crc32c(b"twice")
    outcomes = store.put_many([(chunk_id, b"twice", crc), (chunk_id, b"twice", crc)])
    assert [o[1] for o in outcomes if isinstance(o, tuple)] == [True, False]
    assert read_back(store, chunk_id) == b"twice"


def test_a_pack_is_not_compacted_under_a_put_still_on_its_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A put appended but not yet synced and indexed when its pack rolls over and falls under
    half live must not lose its record to the compaction of that pack."""
    store = opened(tmp_path)
    pack_store = store.packs
    assert pack_store is not None
    neighbours = [new_id() for _ in range(10)]
    for chunk_id in neighbours:
        store.put_whole(chunk_id, os.urandom(1000), None)
    late, data = new_id(), os.urandom(1000)
    where = pack_store.append(late, data, checksums.crc32c(data))  # its writer: not done yet
    for chunk_id in neighbours:
        store.delete(chunk_id)  # the pack is now under half live
    monkeypatch.setattr(packs, "PACK_ROLL_BYTES", 1)
    store.put_whole(new_id(), b"rolls over to a new pack", None)
    assert pack_store.compact() == 0  # the late put's pack is left alone
    pack_store.sync(where.pack)
    pack_store.index_put(late, where)
    assert read_back(store, late) == data
    assert pack_store.compact() > 0  # now it may go: the late put is copied out first
    for reopened in (store, opened(tmp_path)):
        assert read_back(reopened, late) == data
