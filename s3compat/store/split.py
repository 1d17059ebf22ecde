"""The 6-way split: how many bytes each piece of an object (or of a multipart part) holds."""

from __future__ import annotations

PIECES = 6


def split_sizes(size: int, pieces: int = PIECES) -> list[int]:
    """Lengths of `pieces` contiguous pieces of `size` bytes, as equal as bytes allow.

    The first `size % pieces` pieces hold one byte more than the rest, so lengths differ by at
    most one and add up to `size`.
    """
    if size < 0 or pieces <= 0:
        raise ValueError("size must be >= 0 and pieces > 0")
    base, extra = divmod(size, pieces)
    return [base + 1 if index < extra else base for index in range(pieces)]


def piece_offsets(size: int, pieces: int = PIECES) -> list[tuple[int, int]]:
    """(offset, length) of each piece within the object."""
    offsets = []
    offset = 0
    for length in split_sizes(size, pieces):
        offsets.append((offset, length))
        offset += length
    return offsets
