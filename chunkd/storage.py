"""The on-disk chunk store: immutable chunks by id under one data directory.

Layout (the paths are made in ``chunkd.layout``)::

    DIR/tmp/<chunk_id>.<random>.tmp     chunks being received (deleted at start-up)
    DIR/chunks/<id[0:2]>/<id[2:4]>/<id>  complete chunks: data, a table of one CRC32C per
                                         64 KiB block, a 32-byte footer (the file formats
                                         are in ``chunkd.footer``)
    DIR/packs/<number>.pack              small chunks (up to 64 KiB, received whole) as
                                         records of append-only packs, committed in groups
                                         (``chunkd.packs``); everything below about files
                                         is about the others

A chunk becomes visible only by a rename after its file (data + footer) has been fsynced, and
the rename is made durable by fsyncing the directory, so a crash at any moment leaves only
complete chunks in ``chunks/``; nothing is acknowledged before all three are done. The block
table is computed while the data arrives and written, with the footer, before that fsync.

Every byte read from a chunk is checked against its block's CRC32C before it is returned
(``chunkd.chunkfile``): a range costs the blocks that cover it, not the whole chunk. Chunks written
by older versions (no block table) are still read, unchecked, as before; ``verify``
(``chunkd.verify``) recomputes the whole-data CRC32C of both kinds, and of a version 2 file
every block's too.

The 256 first-level fan-out directories are created (and fsynced) at start-up; a second-level
one is created when its first chunk arrives, and the fsync of its parent that makes it durable
is done after that chunk's own fsyncs (before the chunk is acknowledged), so that one journal
commit usually covers both. Directory fsyncs are shared (``chunkd.dirsync``): concurrent
writers into one directory wait for one fsync that started after their rename instead of each
issuing their own.

A batch of small chunks (``put_many``) takes the locks of all its ids, in id order, appends
every record and has them all made durable by one pack sync before any is indexed or answered.

Everything here is blocking file I/O: the HTTP layer calls it through ``asyncio.to_thread``. The
store is thread-safe: the usage counters (``chunkd.usage``) sit behind a lock and operations on one
chunk id are serialised by a per-id lock (``chunkd.locks``), so two concurrent writers of one id
cannot both win. A deleted id is remembered for a while (``chunkd.deleted_ids``) so that a commit
of it that was still being received fails with ChunkDeleted. The errors are in ``chunkd.errors``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from awscrt import checksums

from chunkd import layout
from chunkd.chunkfile import (
    ChunkMeta,
    ChunkReader,
    TempChunk,
    meta_of_file,
    raise_if_no_space,
)
from chunkd.deleted_ids import DeletedIds
from chunkd.dirsync import DirSyncer, fsync_dir
from chunkd.errors import (
    ChecksumMismatch,
    ChunkDeleted,
    ChunkMismatch,
    ChunkMissing,
    StorageError,
)
from chunkd.footer import BLOCK_BYTES
from chunkd.listing import ListedChunk, data_bytes_at, file_meta_if_present, merged
from chunkd.locks import KeyedLocks
from chunkd.packs import PACK_MAX_BYTES, Packed, PackedChunkReader, PackStore, meta_of
from chunkd.usage import StoreStats, Usage
from chunkd.verify import VerifyResult, verify_file


class ChunkStore:
    """Immutable chunks by id in one data directory, with in-memory usage counters.

    New chunks get a block table of one CRC32C per ``block_bytes`` (the default is the
    measured choice; tests pass others).
    """

    def __init__(
        self,
        root: Path,
        capacity_bytes: int | None = None,
        block_bytes: int = BLOCK_BYTES,
        pack_small: bool = True,
    ) -> None:
        self.root = root
        self.block_bytes = block_bytes
        self.chunks_dir = root / "chunks"
        self.tmp_dir = root / "tmp"
        self.usage = Usage(root, capacity_bytes)
        self._id_locks = KeyedLocks()
        self._deleted_ids = DeletedIds()
        self._dir_syncer = DirSyncer()
        # second-level fan-out directories known to exist durably (their parent was fsynced
        # after they were created, by this process); others get that fsync at their next write
        self._durable_dirs: set[str] = set()  # "abcd" for chunks/ab/cd
        # chunks up to PACK_MAX_BYTES received whole (chunkd.packs); None: every chunk a file
        self.packs: PackStore | None = PackStore(root / "packs") if pack_small else None

    # -- start-up -----------------------------------------------------------------------------

    def open(self) -> None:
        """Create the layout, delete leftover temporary files and count the stored chunks."""
        for directory in (self.root, self.chunks_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._create_fan_out_dirs()
        self._remove_leftover_temps()
        used_bytes, chunk_count = self._scan()
        if self.packs is not None:
            self.packs.open()
            used_bytes += sum(where.length for where in self.packs.index.values())
            chunk_count += len(self.packs.index)
        self.usage.start(used_bytes, chunk_count)

    def _create_fan_out_dirs(self) -> None:
        """Create the 256 first-level directories now, so that writes never wait for one."""
        present = set(os.listdir(self.chunks_dir))
        missing = [f"{n:02x}" for n in range(256) if f"{n:02x}" not in present]
        for name in missing:
            with contextlib.suppress(FileExistsError):
                (self.chunks_dir / name).mkdir()
        if missing:
            fsync_dir(self.chunks_dir)
            fsync_dir(self.root)

    def _remove_leftover_temps(self) -> None:
        removed = False
        with os.scandir(self.tmp_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed = True
        if removed:
            fsync_dir(self.tmp_dir)

    def _scan(self) -> tuple[int, int]:
        used_bytes = 0
        chunk_count = 0
        for chunk_path in layout.iter_chunk_paths(self.chunks_dir, after=""):
            with contextlib.suppress(FileNotFoundError):
                used_bytes += data_bytes_at(chunk_path)[0]
                chunk_count += 1
        return used_bytes, chunk_count

    # -- paths --------------------------------------------------------------------------------

    def chunk_path(self, chunk_id: str) -> Path:
        """Where chunk ``chunk_id`` lives; refuses anything that is not a chunk id."""
        return layout.chunk_path(self.chunks_dir, chunk_id)

    def _prepare_dir(self, directory: Path) -> bool:
        """Make sure the second-level directory exists; whether its parent still needs an
        fsync to make it durable. The first level exists since start-up."""
        if layout.dir_key(directory) in self._durable_dirs:
            return False
        try:
            directory.mkdir()
        except FileExistsError:
            pass
        except FileNotFoundError:  # the first level was removed behind our back
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_syncer.sync(self.chunks_dir)
        return True

    # -- capacity -----------------------------------------------------------------------------

    def reserve(self, length: int) -> contextlib.AbstractContextManager[None]:
        """Hold ``length`` bytes of capacity while a chunk is received, or raise StoreFull."""
        return self.usage.reserve(length)

    def stats(self) -> StoreStats:
        """Capacity, usage and the free space left for new chunks."""
        return self.usage.stats()

    # -- writing ------------------------------------------------------------------------------

    def exists(self, chunk_id: str) -> bool:
        """Whether a chunk with this id is present (valid or not)."""
        return self._packed(chunk_id) is not None or self.chunk_path(chunk_id).exists()

    def _packed(self, chunk_id: str) -> Packed | None:
        return None if self.packs is None else self.packs.index.get(chunk_id)

    def create_temp(self, chunk_id: str) -> TempChunk:
        """Start receiving a chunk into a fresh temporary file."""
        self.chunk_path(chunk_id)  # validates the id before it is used in a file name
        name = f"{chunk_id}.{secrets.token_hex(8)}.tmp"
        try:
            return TempChunk(chunk_id, self.tmp_dir / name, self.block_bytes)
        except OSError as exc:
            raise_if_no_space(exc)
            raise

    def commit(self, temp: TempChunk) -> tuple[ChunkMeta, bool]:
        """Make a fully received chunk visible; returns its metadata and whether it is new.

        An existing chunk with the same length and checksum makes this a no-op (the temporary
        file is left for the caller to discard); a different one raises ChunkMismatch.
        """
        chunk_path = self.chunk_path(temp.chunk_id)
        with self._id_locks.hold(temp.chunk_id):
            existing = self._stored_as(temp.chunk_id, temp.length, temp.crc32c)
            if existing is not None:
                return existing, False
            directory = chunk_path.parent
            try:
                new_directory = self._prepare_dir(directory)
                temp.finish()
                os.rename(temp.path, chunk_path)
                self._dir_syncer.sync(directory)
                if new_directory:
                    self._dir_syncer.sync(directory.parent)
                    self._durable_dirs.add(layout.dir_key(directory))
            except OSError as exc:
                raise_if_no_space(exc)
                raise
            self.usage.added(temp.length)
            mtime = chunk_path.stat().st_mtime
        return ChunkMeta(temp.chunk_id, temp.length, temp.crc32c, mtime, temp.block_bytes), True

    def _stored_as(self, chunk_id: str, length: int, crc32c: int) -> ChunkMeta | None:
        """Under the id's lock, before a chunk is made visible: the chunk already stored with
        this length and checksum (the write is then a no-op), or None if there is none; raises
        ChunkDeleted if the id was deleted meanwhile, ChunkMismatch if it holds other bytes."""
        if chunk_id in self._deleted_ids:
            raise ChunkDeleted(chunk_id)
        existing = self._meta_if_present(chunk_id)
        if existing is not None and (existing.length, existing.crc32c) != (length, crc32c):
            raise ChunkMismatch(chunk_id)
        return existing

    def put_whole(
        self, chunk_id: str, data: bytes, declared_crc32c: int | None
    ) -> tuple[ChunkMeta, bool]:
        """Store a chunk received whole (a small one) in one call: capacity check, temporary
        file (or pack record: a batch of one), checksum check, commit. Returns its metadata
        and whether it is new."""
        if self.packs is not None and len(data) <= PACK_MAX_BYTES:
            outcome = self.put_many([(chunk_id, data, declared_crc32c)])[0]
            if isinstance(outcome, StorageError):
                raise outcome
            return outcome
        if self.exists(chunk_id):
            # A re-put of an existing chunk takes no new space: never refused as full.
            return self._put_file(chunk_id, data, declared_crc32c)
        with self.reserve(len(data)):
            return self._put_file(chunk_id, data, declared_crc32c)

    def _put_file(
        self, chunk_id: str, data: bytes, declared_crc32c: int | None
    ) -> tuple[ChunkMeta, bool]:
        temp = self.create_temp(chunk_id)
        try:
            temp.write(data)
            if declared_crc32c is not None and declared_crc32c != temp.crc32c:
                raise ChecksumMismatch(chunk_id)
            return self.commit(temp)
        finally:
            temp.discard()

    def put_many(
        self, items: Sequence[tuple[str, bytes, int | None]]
    ) -> list[tuple[ChunkMeta, bool] | StorageError]:
        """Store small chunks received whole (id, data, declared CRC32C or None) as
        ``put_whole`` would each, with one pack sync for all: every id's lock (taken in id
        order) and room is held until that sync has returned and the chunks are indexed. Each
        item's outcome, in order. (A single small chunk is a batch of one.)"""
        ids = {chunk_id for chunk_id, _, _ in items}
        packs = self.packs
        if (
            packs is None
            or len(ids) < len(items)
            or any(len(d) > PACK_MAX_BYTES for _, d, _ in items)
        ):
            return [_outcome(self.put_whole, *item) for item in items]
        outcomes: dict[int, tuple[ChunkMeta, bool] | StorageError] = {}
        appended: list[tuple[int, str, Packed]] = []
        with contextlib.ExitStack() as held:
            for chunk_id in sorted(ids):
                self.chunk_path(chunk_id)  # validates the id
                held.enter_context(self._id_locks.hold(chunk_id))
            try:
                for number, (chunk_id, data, declared_crc32c) in enumerate(items):
                    try:
                        crc32c = checksums.crc32c(data)
                        if declared_crc32c is not None and declared_crc32c != crc32c:
                            raise ChecksumMismatch(chunk_id)
                        existing = self._stored_as(chunk_id, len(data), crc32c)
                        if existing is not None:
                            outcomes[number] = (existing, False)
                            continue
                        held.enter_context(self.reserve(len(data)))
                        where = packs.append(chunk_id, data, crc32c)
                        appended.append((number, chunk_id, where))
                    except StorageError as error:
                        outcomes[number] = error
                for pack in sorted({where.pack for _, _, where in appended}):
                    packs.sync(pack)
            except BaseException as error:
                for _, _, where in appended:
                    packs.abandon(where)
                if isinstance(error, OSError):
                    raise_if_no_space(error)
                raise
            for number, chunk_id, where in appended:
                packs.index_put(chunk_id, where)
                self.usage.added(where.length)
                outcomes[number] = (meta_of(chunk_id, where), True)
        return [outcomes[number] for number in range(len(items))]

    def compact_packs(self) -> int:
        """Give back the space of deleted packed chunks (chunkd.packs); bytes freed."""
        return 0 if self.packs is None else self.packs.compact()

    def delete(self, chunk_id: str) -> bool:
        """Remove a chunk durably; returns whether it existed."""
        chunk_path = self.chunk_path(chunk_id)
        with self._id_locks.hold(chunk_id):
            self._deleted_ids.remember(chunk_id)
            if self.packs is not None:
                removed = self.packs.delete(chunk_id)
                if removed is not None:
                    self.usage.removed(removed.length)
                    return True
            try:
                length = data_bytes_at(chunk_path)[0]
                os.unlink(chunk_path)
            except FileNotFoundError:
                return False
            self._dir_syncer.sync(chunk_path.parent)
            self.usage.removed(length)
        return True

    # -- reading ------------------------------------------------------------------------------

    def read_meta(self, chunk_id: str) -> ChunkMeta:
        """The chunk's footer-validated metadata; raises ChunkMissing or ChunkCorrupt."""
        meta = self._meta_if_present(chunk_id)
        if meta is None:
            raise ChunkMissing(chunk_id)
        return meta

    def _meta_if_present(self, chunk_id: str) -> ChunkMeta | None:
        where = self._packed(chunk_id)
        if where is not None:
            return meta_of(chunk_id, where)
        return file_meta_if_present(self.chunk_path(chunk_id), chunk_id)

    def open_chunk(self, chunk_id: str) -> ChunkReader:
        """Open a chunk for reading; raises ChunkMissing or ChunkCorrupt (bad footer, or
        packed data failing its CRC32C)."""
        where = self._packed(chunk_id)
        if self.packs is not None and where is not None:
            return PackedChunkReader(meta_of(chunk_id, where), self.packs.read(chunk_id, where))
        try:
            chunk_file = open(self.chunk_path(chunk_id), "rb")
        except FileNotFoundError:
            raise ChunkMissing(chunk_id) from None
        try:
            return ChunkReader(chunk_file, meta_of_file(chunk_file, chunk_id))
        except BaseException:
            chunk_file.close()
            raise

    def verify(self, chunk_id: str) -> VerifyResult:
        """Re-read the chunk whole and check it against its footer and block table
        (``chunkd.verify``)."""
        where = self._packed(chunk_id)
        if self.packs is not None and where is not None:
            data = self.packs.read_unchecked(chunk_id, where)
            crc32c = checksums.crc32c(data)
            ok = (len(data), crc32c) == (where.length, where.crc32c)
            return VerifyResult(chunk_id, ok, len(data), crc32c)
        try:
            chunk_file = open(self.chunk_path(chunk_id), "rb")
        except FileNotFoundError:
            raise ChunkMissing(chunk_id) from None
        with chunk_file:
            return verify_file(chunk_file, chunk_id)

    def list_chunks(self, after: str, limit: int) -> tuple[list[ListedChunk], bool]:
        """Up to ``limit`` chunks with ids greater than ``after``, in id order, and whether
        more follow (``chunkd.listing``)."""
        packed = self.packs.sorted_ids(after) if self.packs is not None else []
        files = layout.iter_chunk_paths(self.chunks_dir, after)
        return merged(packed, self._packed_entry, files, limit)

    def _packed_entry(self, chunk_id: str) -> ListedChunk | None:
        where = self._packed(chunk_id)
        if where is None:  # deleted while we were listing
            return None
        return ListedChunk(chunk_id, where.length, where.crc32c, where.mtime)


def _outcome(
    put: Callable[[str, bytes, int | None], tuple[ChunkMeta, bool]],
    chunk_id: str,
    data: bytes,
    crc32c: int | None,
) -> tuple[ChunkMeta, bool] | StorageError:
    try:
        return put(chunk_id, data, crc32c)
    except StorageError as error:
        return error
