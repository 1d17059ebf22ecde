"""The striped layout (layout 2): where each byte of a segment lives. Pure; no I/O.

A *segment* is what one write stores: the body of a single PUT, or one multipart part. It is cut
into stripes of `DATA_PIECES` blocks of `block_bytes` each; data piece i holds block i of every
stripe, one after the other. The last stripe, if the segment does not fill it, is cut into
`DATA_PIECES` blocks as equal as bytes allow (`split_sizes`), so the data pieces differ in size
by at most one byte. Parity piece j holds the j-th Reed-Solomon code block of every stripe; a
stripe's code blocks are as long as its longest data block (shorter blocks are zero-padded for
coding), so every parity piece has the length of data piece 0.

Roles: 0..5 are the data pieces, 6..6+M-1 the parity pieces (`piece` in the catalog).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from s3compat.store.split import PIECES, split_sizes

DATA_PIECES = PIECES
# Chosen by measurement (README, *Redundancy*): 256 KiB blocks keep a write's buffers at about
# 2 MiB (a 6+2 stripe and its parity), code at GB/s with pyeclib, and cost a degraded 4 KiB read
# six 256 KiB block reads rather than six 1 MiB ones.
BLOCK_BYTES = 256 * 1024
LAYOUT_CONTIGUOUS = 1
LAYOUT_STRIPED = 2


@dataclass(frozen=True)
class Block:
    """One data block of a stripe: where it is in the segment and in its piece."""

    stripe: int
    role: int
    segment_offset: int
    piece_offset: int
    length: int


@dataclass(frozen=True)
class Geometry:
    """The striped layout of a `length`-byte segment with `parity` code pieces."""

    length: int
    block_bytes: int = BLOCK_BYTES
    parity: int = 0

    def __post_init__(self) -> None:
        if self.length < 0 or self.block_bytes <= 0 or self.parity < 0:
            raise ValueError("length >= 0, block_bytes > 0 and parity >= 0 are required")

    @property
    def stripe_bytes(self) -> int:
        return DATA_PIECES * self.block_bytes

    @property
    def full_stripes(self) -> int:
        return self.length // self.stripe_bytes

    @property
    def tail_bytes(self) -> int:
        """Bytes of the last, partial stripe (0 if the segment ends on a stripe boundary)."""
        return self.length - self.full_stripes * self.stripe_bytes

    @property
    def stripes(self) -> int:
        return self.full_stripes + (1 if self.tail_bytes else 0)

    @property
    def roles(self) -> int:
        return DATA_PIECES + self.parity

    def tail_sizes(self) -> list[int]:
        return split_sizes(self.tail_bytes, DATA_PIECES)

    def stripe_data_bytes(self, stripe: int) -> int:
        """Data bytes of stripe `stripe`."""
        return self.stripe_bytes if stripe < self.full_stripes else self.tail_bytes

    def block_sizes(self, stripe: int) -> list[int]:
        """The data blocks' lengths in stripe `stripe`."""
        if stripe < self.full_stripes:
            return [self.block_bytes] * DATA_PIECES
        return self.tail_sizes()

    def code_block_bytes(self, stripe: int) -> int:
        """Length of every block of the stripe as coded: its longest data block, which is also
        the length of each parity block."""
        return max(self.block_sizes(stripe))

    def piece_length(self, role: int) -> int:
        """Bytes of piece `role` (data 0..5, parity 6..)."""
        if not 0 <= role < self.roles:
            raise ValueError(f"no role {role} in a {DATA_PIECES}+{self.parity} layout")
        full = self.full_stripes * self.block_bytes
        if role < DATA_PIECES:
            return full + self.tail_sizes()[role]
        return full + (self.code_block_bytes(self.full_stripes) if self.tail_bytes else 0)

    def stripe_of(self, segment_offset: int) -> int:
        """The stripe holding byte `segment_offset`."""
        if not 0 <= segment_offset < self.length:
            raise ValueError(f"offset {segment_offset} outside a {self.length}-byte segment")
        return min(segment_offset // self.stripe_bytes, self.stripes - 1)

    def stripe_start(self, stripe: int) -> int:
        """Segment offset of the stripe's first byte."""
        return stripe * self.stripe_bytes

    def blocks(self, start: int, end: int) -> Iterator[Block]:
        """The data blocks, cut to [start, end), in segment order."""
        if not 0 <= start <= end <= self.length:
            raise ValueError(f"range [{start}, {end}) outside a {self.length}-byte segment")
        if start == end:
            return
        for stripe in range(self.stripe_of(start), self.stripe_of(end - 1) + 1):
            block_start = self.stripe_start(stripe)
            for role, size in enumerate(self.block_sizes(stripe)):
                low, high = max(start, block_start), min(end, block_start + size)
                if low < high:
                    piece_offset = stripe * self.block_bytes + (low - block_start)
                    yield Block(stripe, role, low, piece_offset, high - low)
                block_start += size

    def piece_ranges(self, start: int, end: int) -> dict[int, tuple[int, int]]:
        """For each data role that holds bytes of [start, end): the piece byte range
        [low, high) holding them. Block i of consecutive stripes lies back to back in piece i,
        so each range is contiguous."""
        ranges: dict[int, tuple[int, int]] = {}
        for block in self.blocks(start, end):
            low = ranges.get(block.role, (block.piece_offset, 0))[0]
            ranges[block.role] = (low, block.piece_offset + block.length)
        return ranges

    def stripe_piece_range(self, role: int, first: int, last: int) -> tuple[int, int]:
        """Piece byte range of role `role` covering whole stripes first..last (inclusive)."""
        low = first * self.block_bytes
        if last < self.full_stripes:
            return low, (last + 1) * self.block_bytes
        return low, self.piece_length(role)

    def role_block_bytes(self, role: int, stripe: int) -> int:
        """Bytes piece `role` holds of stripe `stripe`."""
        if role < DATA_PIECES:
            return self.block_sizes(stripe)[role]
        return self.code_block_bytes(stripe)
