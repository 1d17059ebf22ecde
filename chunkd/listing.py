"""Listing a data directory's chunks in id order: chunk files (``chunkd.layout``) and packed
chunks (``chunkd.packs``) merged, and what a listing and the start-up count read of a file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chunkd.chunkfile import ChunkMeta, meta_of_file, status_and_tail
from chunkd.errors import ChunkCorrupt
from chunkd.footer import data_bytes_of_file


@dataclass(frozen=True)
class ListedChunk:
    """One entry of a listing; ``crc32c`` is None when the chunk's footer is invalid."""

    chunk_id: str
    length: int
    crc32c: int | None
    mtime: float


def merged(
    packed_ids: list[str],
    packed_entry: Callable[[str], ListedChunk | None],
    files: Iterator[Path],
    limit: int,
) -> tuple[list[ListedChunk], bool]:
    """Up to ``limit`` entries of two id-ordered sources (packed ids, chunk files), in id
    order, and whether more follow. An entry gone meanwhile (None) is left out."""
    listed: list[ListedChunk] = []
    next_file = next(files, None)
    taken = 0  # of packed_ids
    while next_file is not None or taken < len(packed_ids):
        if len(listed) == limit:
            return listed, True
        entry: ListedChunk | None
        if next_file is None or (taken < len(packed_ids) and packed_ids[taken] < next_file.name):
            entry = packed_entry(packed_ids[taken])
            taken += 1
        else:
            entry = file_entry(next_file)
            next_file = next(files, None)
        if entry is not None:
            listed.append(entry)
    return listed, False


def file_entry(chunk_path: Path) -> ListedChunk | None:
    """A chunk file's entry; one with an invalid footer is listed too (``crc32c`` None), so
    that a garbage collector still sees its id. None if it is gone."""
    try:
        meta = file_meta_if_present(chunk_path, chunk_path.name)
    except ChunkCorrupt:
        with contextlib.suppress(FileNotFoundError):
            length, mtime = data_bytes_at(chunk_path)
            return ListedChunk(chunk_path.name, length, None, mtime)
        return None
    if meta is None:  # deleted while we were listing
        return None
    return ListedChunk(meta.chunk_id, meta.length, meta.crc32c, meta.mtime)


def file_meta_if_present(chunk_path: Path, chunk_id: str) -> ChunkMeta | None:
    """A chunk file's footer-validated metadata; None if there is no such file."""
    try:
        chunk_file = open(chunk_path, "rb")
    except FileNotFoundError:
        return None
    with chunk_file:
        return meta_of_file(chunk_file, chunk_id)


def data_bytes_at(chunk_path: Path) -> tuple[int, float]:
    """The data length of a chunk file (its footer read, damaged or not) and its mtime."""
    fd = os.open(chunk_path, os.O_RDONLY)
    try:
        status, raw_footer = status_and_tail(fd)
    finally:
        os.close(fd)
    return data_bytes_of_file(status.st_size, raw_footer), status.st_mtime
