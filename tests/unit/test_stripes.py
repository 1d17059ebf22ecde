"""The striped layout's geometry and the Reed-Solomon coder, against a byte-level model."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3compat.records import ChunkRecord
from s3compat.store.coding import MAX_PARITY, StripeCoder
from s3compat.store.segments import runs
from s3compat.store.stripe_read import Segment
from s3compat.store.stripe_write import code_stripe, required_pieces
from s3compat.store.stripes import DATA_PIECES, LAYOUT_STRIPED, Geometry

# Small blocks, so that hypothesis reaches many stripes and tails cheaply.
BLOCK = 16


def pieces_by_model(body: bytes, geometry: Geometry) -> list[bytes]:
    """The 6 data pieces, built directly from the definition: block i of every stripe."""
    pieces = [b""] * DATA_PIECES
    offset = 0
    for stripe in range(geometry.stripes):
        for role, size in enumerate(geometry.block_sizes(stripe)):
            pieces[role] += body[offset : offset + size]
            offset += size
    assert offset == len(body)
    return pieces


@given(st.integers(0, 40 * BLOCK), st.integers(0, 4))
def test_data_pieces_differ_by_at_most_one_byte_and_hold_the_body(length: int, parity: int) -> None:
    geometry = Geometry(length, BLOCK, parity)
    data = [geometry.piece_length(role) for role in range(DATA_PIECES)]
    assert sum(data) == length
    assert max(data) - min(data) <= 1
    for role in range(DATA_PIECES, geometry.roles):
        assert geometry.piece_length(role) == max(data)
    with pytest.raises(ValueError):
        geometry.piece_length(geometry.roles)


@given(st.data())
def test_blocks_and_piece_ranges_cover_a_range_exactly(data: st.DataObject) -> None:
    length = data.draw(st.integers(1, 30 * BLOCK))
    geometry = Geometry(length, BLOCK)
    start = data.draw(st.integers(0, length - 1))
    end = data.draw(st.integers(start + 1, length))
    body = os.urandom(length)
    pieces = pieces_by_model(body, geometry)
    # Reading each block from its piece gives the range back, in order.
    assert (
        b"".join(
            pieces[b.role][b.piece_offset : b.piece_offset + b.length]
            for b in geometry.blocks(start, end)
        )
        == body[start:end]
    )
    # The per-piece ranges hold exactly the blocks' bytes, contiguously.
    for role, (low, high) in geometry.piece_ranges(start, end).items():
        blocks = [b for b in geometry.blocks(start, end) if b.role == role]
        assert low == blocks[0].piece_offset
        assert high == blocks[-1].piece_offset + blocks[-1].length
        assert high - low == sum(b.length for b in blocks)


def test_known_geometry() -> None:
    """1.5 stripes of 256 KiB blocks plus 7 bytes: the tail split 2,1,1,1,1,1."""
    geometry = Geometry(6 * 256 * 1024 + 7, 256 * 1024, 2)
    assert geometry.stripes == 2
    assert geometry.tail_sizes() == [2, 1, 1, 1, 1, 1]
    assert [geometry.piece_length(r) for r in range(8)] == [256 * 1024 + 2] + [
        256 * 1024 + 1
    ] * 5 + [256 * 1024 + 2] * 2
    assert geometry.stripe_piece_range(0, 1, 1) == (256 * 1024, 256 * 1024 + 2)
    assert Geometry(0, 16, 2).stripes == 0
    with pytest.raises(ValueError):
        Geometry(-1)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_six_blocks_rebuild_the_others(data: st.DataObject) -> None:
    parity = data.draw(st.integers(1, MAX_PARITY))
    length = data.draw(st.integers(1, 3 * DATA_PIECES * BLOCK))
    geometry = Geometry(length, BLOCK, parity)
    coder = StripeCoder(parity)
    body = os.urandom(length)
    for stripe in range(geometry.stripes):
        start = geometry.stripe_start(stripe)
        blocks = code_stripe(
            geometry, coder, stripe, body[start : start + geometry.stripe_data_bytes(stripe)]
        )
        assert len(blocks) == geometry.roles
        code_bytes = geometry.code_block_bytes(stripe)
        assert all(len(b) == code_bytes for b in blocks[DATA_PIECES:])
        lost = data.draw(
            st.lists(st.integers(0, geometry.roles - 1), min_size=1, max_size=parity, unique=True)
        )
        kept = {role: block for role, block in enumerate(blocks) if role not in lost}
        rebuilt = coder.rebuild(kept, code_bytes, sorted(lost))
        for role in lost:
            want = blocks[role]
            assert rebuilt[role][: len(want)] == want, (stripe, role, lost)


def test_coder_refuses_too_few_blocks_and_bad_parity() -> None:
    coder = StripeCoder(2)
    blocks = [bytes([n]) * 8 for n in range(DATA_PIECES)]
    codes = coder.encode(blocks, 8)
    assert len(codes) == 2 and codes[0] != codes[1]
    with pytest.raises(ValueError):
        coder.rebuild({r: b for r, b in enumerate(blocks[:5])}, 8, [5])
    with pytest.raises(ValueError):
        StripeCoder(0)
    with pytest.raises(ValueError):
        StripeCoder(MAX_PARITY + 1)
    assert required_pieces(0) == 6 and required_pieces(2) == 7


def chunk(piece: int, offset: int, *, layout: int, part: int = 1, length: int = 10) -> ChunkRecord:
    return ChunkRecord(
        f"c{part}-{offset}-{piece}",
        f"s{piece}",
        part,
        piece,
        offset,
        length,
        "",
        layout=layout,
        segment_length=60 if layout == LAYOUT_STRIPED else 0,
        block_bytes=16 if layout == LAYOUT_STRIPED else 0,
        parity=2 if layout == LAYOUT_STRIPED else 0,
    )


def test_runs_group_segments_and_contiguous_pieces_in_object_order() -> None:
    contiguous = [chunk(p, p * 10, layout=1) for p in range(6)]
    striped = [chunk(p, 60, layout=LAYOUT_STRIPED, part=2) for p in (7, 0, 3, 1, 2, 4, 5, 6)]
    found = runs([*striped, *reversed(contiguous)])
    assert len(found) == 2
    assert found[0] == contiguous
    segment = found[1]
    assert isinstance(segment, Segment)
    assert segment.offset == 60 and sorted(segment.pieces) == list(range(8))
    assert segment.geometry == Geometry(60, 16, 2)
