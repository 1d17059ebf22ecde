"""Where chunks live in a data directory, and the walk over them in id order.

``DIR/chunks/<id[0:2]>/<id[2:4]>/<id>``: two levels of fan-out directories keyed by the id's
first hex digits, so that sorting names level by level lists chunks in id order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from chunkd.errors import InvalidChunkId

CHUNK_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_PREFIX_PATTERN = re.compile(r"[0-9a-f]{2}")


def is_chunk_id(text: str) -> bool:
    """Whether ``text`` is a well-formed chunk id."""
    return CHUNK_ID_PATTERN.fullmatch(text) is not None


def chunk_path(chunks_dir: Path, chunk_id: str) -> Path:
    """Where chunk ``chunk_id`` lives; refuses anything that is not a chunk id."""
    if not is_chunk_id(chunk_id):
        raise InvalidChunkId(chunk_id)
    return chunks_dir / chunk_id[0:2] / chunk_id[2:4] / chunk_id


def dir_key(directory: Path) -> str:
    """The key of a second-level fan-out directory: "abcd" for chunks/ab/cd."""
    return directory.parent.name + directory.name


def iter_chunk_paths(chunks_dir: Path, after: str) -> Iterator[Path]:
    """Chunk files with ids greater than ``after``, in id order."""
    for first in _sorted_names(chunks_dir, _PREFIX_PATTERN):
        if first < after[0:2]:
            continue
        first_dir = chunks_dir / first
        for second in _sorted_names(first_dir, _PREFIX_PATTERN):
            if first + second < after[0:4]:
                continue
            for chunk_id in _sorted_names(first_dir / second, CHUNK_ID_PATTERN):
                if chunk_id > after and chunk_id.startswith(first + second):
                    yield first_dir / second / chunk_id


def _sorted_names(directory: Path, pattern: re.Pattern[str]) -> list[str]:
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(name for name in names if pattern.fullmatch(name))
