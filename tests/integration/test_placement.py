"""Placement: every object is split into 6 contiguous, near-equal pieces on 6 distinct chunk
servers, and the bytes on those servers are the object's bytes."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.client import BaseClient
from conftest import Cluster, locate, raw_request, read_chunk

PIECES = 6


def expected_lengths(size: int) -> list[int]:
    base, extra = divmod(size, PIECES)
    return [base + 1 if index < extra else base for index in range(PIECES)]


def check_layout(found: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """Assert the layout invariants; return the chunks ordered by piece index."""
    assert found["size"] == size
    chunks = sorted(found["chunks"], key=lambda chunk: chunk["index"])
    indexes = [chunk["index"] for chunk in chunks]
    assert len(set(indexes)) == len(indexes), indexes
    assert set(indexes) <= set(range(PIECES)), indexes
    assert len({chunk["part_number"] for chunk in chunks}) <= 1
    wanted = expected_lengths(size)
    # Zero-length pieces may be left out; every piece that holds bytes must be there.
    assert {i for i in range(PIECES) if wanted[i] > 0} <= set(indexes), indexes
    for chunk in chunks:
        assert chunk["length"] == wanted[chunk["index"]], chunk
    lengths = [chunk["length"] for chunk in chunks]
    assert sum(lengths) == size
    if lengths:
        assert max(lengths) - min(lengths) <= 1, lengths
    offset = 0
    for chunk in chunks:
        if chunk["length"] == 0:
            continue
        assert chunk["offset"] == offset, chunks
        offset += chunk["length"]
    assert offset == size
    servers = [chunk["server"] for chunk in chunks if chunk["length"] > 0]
    assert len(set(servers)) == len(servers), servers
    if size >= PIECES:
        assert len(set(servers)) == PIECES
    return chunks


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, 5 * 1024 * 1024 + 3])
def test_six_way_split(cluster: Cluster, s3: BaseClient, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="split", Body=data)
    found = locate(cluster, bucket, "split")
    assert found["etag"].strip('"') == put["ETag"].strip('"')
    chunks = check_layout(found, size)
    # The bytes each chunk server holds are exactly that piece of the object.
    for chunk in chunks:
        if chunk["length"] == 0:
            continue
        assert chunk["url"] in cluster.chunk_urls
        status, body = read_chunk(cluster, chunk["url"], chunk["chunk_id"])
        assert status == 200, chunk
        assert body == data[chunk["offset"] : chunk["offset"] + chunk["length"]], chunk


def test_ranged_reads_across_piece_boundaries(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    size = 5 * 1024 * 1024 + 3
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    chunks = check_layout(locate(cluster, bucket, "big"), size)
    boundaries = [chunk["offset"] for chunk in chunks[1:]]
    ranges = [
        (boundaries[0] - 1, boundaries[0]),  # the last byte of piece 0 and first of piece 1
        (boundaries[0] - 10, boundaries[2] + 10),  # across a whole piece
        (boundaries[1], boundaries[2] - 1),  # exactly one piece
        (boundaries[4] - 5, size - 1),  # into the last piece, to the end
        (1, size - 1),  # all but the first byte
        (12345, boundaries[3] + 777),
    ]
    # Raw requests: this test is about which bytes come back, not about checksum headers.
    for start, end in ranges:
        got = raw_request(cluster, "GET", f"/{bucket}/big", {"Range": f"bytes={start}-{end}"})
        assert got.status == 206, (start, end)
        assert got.header("Content-Range") == f"bytes {start}-{end}/{size}"
        assert got.body == data[start : end + 1], (start, end)
    suffix_length = size - boundaries[4] + 3
    suffix = raw_request(cluster, "GET", f"/{bucket}/big", {"Range": f"bytes=-{suffix_length}"})
    assert suffix.body == data[boundaries[4] - 3 :]
