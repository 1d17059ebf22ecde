"""Placement: every object is 6 data pieces (block i of every stripe in piece i, the pieces
differing by at most one byte) and 2 parity pieces on 8 distinct chunk servers, and the bytes on
those servers are the object's bytes and codes that rebuild them."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.client import BaseClient
from support.data import locate, read_chunk
from support.processes import Cluster
from support.signing import raw_request

from s3compat.store.coding import StripeCoder
from s3compat.store.stripes import BLOCK_BYTES, DATA_PIECES, Geometry

PARITY = 2
STRIPE = DATA_PIECES * BLOCK_BYTES


def model_pieces(data: bytes, geometry: Geometry) -> list[bytes]:
    """The data pieces by definition: block i of every stripe, in stripe order."""
    pieces = [b""] * DATA_PIECES
    offset = 0
    for stripe in range(geometry.stripes):
        for role, size in enumerate(geometry.block_sizes(stripe)):
            pieces[role] += data[offset : offset + size]
            offset += size
    return pieces


def check_layout(found: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """Assert the layout invariants; return the pieces ordered by role."""
    assert found["size"] == size
    chunks = sorted(found["chunks"], key=lambda chunk: chunk["index"])
    assert [chunk["index"] for chunk in chunks] == list(range(DATA_PIECES + PARITY))
    assert [chunk["role"] for chunk in chunks] == [f"data {i}" for i in range(DATA_PIECES)] + [
        f"parity {j}" for j in range(PARITY)
    ]
    assert {chunk["offset"] for chunk in chunks} == {0}
    assert len({chunk["part_number"] for chunk in chunks}) == 1
    geometry = Geometry(size, BLOCK_BYTES, PARITY)
    for chunk in chunks:
        assert chunk["length"] == geometry.piece_length(chunk["index"]), chunk
    data_lengths = [chunk["length"] for chunk in chunks[:DATA_PIECES]]
    assert sum(data_lengths) == size
    assert max(data_lengths) - min(data_lengths) <= 1, data_lengths
    servers = [chunk["server"] for chunk in chunks]
    assert len(set(servers)) == DATA_PIECES + PARITY, servers
    return chunks


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, 5 * 1024 * 1024 + 3])
def test_pieces_of_every_size(cluster: Cluster, s3: BaseClient, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="split", Body=data)
    found = locate(cluster, bucket, "split")
    assert found["etag"].strip('"') == put["ETag"].strip('"')
    chunks = check_layout(found, size)
    geometry = Geometry(size, BLOCK_BYTES, PARITY)
    # The bytes each data piece's server holds are exactly that piece of the object...
    held = []
    for chunk in chunks:
        assert chunk["url"] in cluster.chunk_urls
        status, body = read_chunk(cluster, chunk["url"], chunk["chunk_id"])
        assert status == 200, chunk
        held.append(body)
    assert held[:DATA_PIECES] == model_pieces(data, geometry)
    # ...and the parity pieces rebuild any two lost data pieces, stripe by stripe.
    coder = StripeCoder(PARITY)
    for stripe in range(geometry.stripes):
        low = stripe * BLOCK_BYTES
        code_bytes = geometry.code_block_bytes(stripe)
        blocks = {
            role: held[role][low : low + geometry.role_block_bytes(role, stripe)]
            for role in range(DATA_PIECES + PARITY)
        }
        kept = {role: block for role, block in blocks.items() if role not in (0, 4)}
        rebuilt = coder.rebuild(kept, code_bytes, [0, 4])
        for role in (0, 4):
            assert rebuilt[role][: len(blocks[role])] == blocks[role], (stripe, role)


def test_ranged_reads_across_block_and_stripe_boundaries(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    size = 5 * 1024 * 1024 + 3  # 3 full stripes of 1.5 MiB, then a tail of 512 KiB + 3
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    check_layout(locate(cluster, bucket, "big"), size)
    tail_block = (size - 3 * STRIPE) // DATA_PIECES
    ranges = [
        (BLOCK_BYTES - 1, BLOCK_BYTES),  # last byte of block 0, first of block 1
        (STRIPE - 1, STRIPE),  # across a stripe boundary (piece 5 to piece 0)
        (BLOCK_BYTES - 10, 2 * STRIPE + 10),  # many blocks and two stripe boundaries
        (2 * BLOCK_BYTES, 3 * BLOCK_BYTES - 1),  # exactly one block
        (3 * STRIPE - 5, 3 * STRIPE + tail_block + 1),  # into the tail's short blocks
        (size - 7, size - 1),  # the last bytes
        (1, size - 1),  # all but the first byte
        (12345, 12345),  # one byte
    ]
    # Raw requests: this test is about which bytes come back, not about checksum headers.
    for start, end in ranges:
        got = raw_request(cluster, "GET", f"/{bucket}/big", {"Range": f"bytes={start}-{end}"})
        assert got.status == 206, (start, end)
        assert got.header("Content-Range") == f"bytes {start}-{end}/{size}"
        assert got.body == data[start : end + 1], (start, end)
    suffix = raw_request(cluster, "GET", f"/{bucket}/big", {"Range": "bytes=-700000"})
    assert suffix.body == data[-700000:]
