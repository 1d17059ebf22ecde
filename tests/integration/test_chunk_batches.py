"""Small chunk PUTs and range reads in batches (``POST /batch/put``, ``/batch/get``) against a
real ``chunkd`` process: the daemon's per-item answers and the gateway client that sends them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket

from awscrt import checksums
from support.chunk_daemons import SECRET, ChunkDaemon, new_chunk_id

from chunkd.batch import (
    BATCH_GET_PATH,
    BATCH_MAX_BYTES,
    BATCH_PUT_PATH,
    BatchItem,
    BatchRead,
    decode_answers,
    encode_batch,
    encode_reads,
)
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import (
    ChunkConflict,
    ChunkCorrupt,
    ChunkNotFound,
    ChunkRequestRejected,
    ChunkServerUnavailable,
)


def crc(data: bytes) -> int:
    return checksums.crc32c(data)


def batch_requests(daemon: ChunkDaemon, path: str = BATCH_PUT_PATH) -> int:
    _, _, body = daemon.request("GET", "/-/metrics")
    operation = re.escape(f'operation="POST {path}"').encode()
    found = re.search(rb"chunkd_request_seconds_count\{" + operation + rb"\} (\d+)", body)
    return int(float(found.group(1))) if found else 0


def test_daemon_answers_each_item(daemon: ChunkDaemon) -> None:
    stored, data = new_chunk_id(), b"first version"
    assert daemon.request("PUT", f"/chunks/{stored}", data)[0] == 201
    fresh, wrong_crc = new_chunk_id(), new_chunk_id()
    items = [
        BatchItem(fresh, b"fresh bytes", crc(b"fresh bytes")),
        BatchItem(wrong_crc, b"bytes", crc(b"other")),
        BatchItem(stored, b"second version", crc(b"second version")),
        BatchItem(stored, data, crc(data)),
    ]
    status, _, body = daemon.request("POST", BATCH_PUT_PATH, encode_batch(items))
    assert status == 200
    results = json.loads(body)["results"]
    assert results[0] == {
        "chunk_id": fresh,
        "length": 11,
        "crc32c": f"{crc(b'fresh bytes'):08x}",
        "created": True,
    }
    assert results[1] == {"chunk_id": wrong_crc, "status": 400, "error": "checksum mismatch"}
    assert results[2]["status"] == 409
    assert results[3]["created"] is False
    # stored for good: readable on their own, the refused one absent
    assert daemon.request("GET", f"/chunks/{fresh}")[2] == b"fresh bytes"
    assert daemon.request("GET", f"/chunks/{wrong_crc}")[0] == 404
    assert daemon.request("GET", f"/chunks/{stored}")[2] == data


def test_daemon_refuses_a_malformed_or_oversized_batch(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    body = encode_batch([BatchItem(chunk_id, b"abcdef", crc(b"abcdef"))])
    assert daemon.request("POST", BATCH_PUT_PATH, body[:-1])[0] == 400
    assert daemon.request("GET", f"/chunks/{chunk_id}")[0] == 404  # nothing half-stored
    too_big = {"Content-Length": str(BATCH_MAX_BYTES + 1)}
    connection = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    with connection:
        head = f"POST {BATCH_PUT_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in too_big.items()) + "\r\n"
        connection.sendall(head.encode())
        assert connection.recv(100).startswith(b"HTTP/1.1 413")
    assert daemon.request("POST", BATCH_PUT_PATH, body, secret="wrong")[0] == 401


async def test_concurrent_small_puts_share_requests(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    before = batch_requests(daemon)
    bodies = {new_chunk_id(): os.urandom(100 + n) for n in range(60)}
    infos = await asyncio.gather(
        *(chunk_client.put_chunk(daemon.base_url, i, len(b), b) for i, b in bodies.items())
    )
    assert [info.chunk_id for info in infos] == list(bodies)
    assert [info.crc32c for info in infos] == [f"{crc(b):08x}" for b in bodies.values()]
    sent = batch_requests(daemon) - before
    assert 1 <= sent < len(bodies)
    for chunk_id, data in bodies.items():
        assert await chunk_client.read_chunk(daemon.base_url, chunk_id, 0, len(data)) == data


async def test_client_errors_are_the_items_own(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    chunk_id = new_chunk_id()
    await chunk_client.put_chunk(daemon.base_url, chunk_id, 3, b"abc")
    outcomes = await asyncio.gather(
        chunk_client.put_chunk(daemon.base_url, chunk_id, 3, b"xyz"),
        chunk_client.put_chunk(daemon.base_url, new_chunk_id(), 3, b"abc", "00000000"),
        chunk_client.put_chunk(daemon.base_url, chunk_id, 3, b"abc"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], ChunkConflict)
    assert outcomes[0].url == f"{daemon.base_url}/chunks/{chunk_id}"
    assert isinstance(outcomes[1], ChunkCorrupt)
    assert not isinstance(outcomes[2], BaseException)


async def test_unreachable_daemon_fails_every_item(chunk_client: ChunkClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    ids = [new_chunk_id() for _ in range(4)]
    outcomes = await asyncio.gather(
        *(chunk_client.put_chunk(url, i, 1, b"x") for i in ids), return_exceptions=True
    )
    assert all(isinstance(o, ChunkServerUnavailable) for o in outcomes)
    assert [o.url for o in outcomes if isinstance(o, ChunkServerUnavailable)] == [
        f"{url}/chunks/{i}" for i in ids
    ]


def test_daemon_reads_each_range(daemon: ChunkDaemon) -> None:
    stored, bad = new_chunk_id(), new_chunk_id()
    assert daemon.request("PUT", f"/chunks/{stored}", b"0123456789")[0] == 201
    assert daemon.request("PUT", f"/chunks/{bad}", b"rotten bytes")[0] == 201
    daemon.flip_byte(bad, 3)
    reads = [
        BatchRead(stored, 2, 5),
        BatchRead(new_chunk_id(), 0, 1),
        BatchRead(stored, 5, 11),
        BatchRead(bad, 0, 4),
        BatchRead(stored, 0, 10),
    ]
    status, _, body = daemon.request("POST", BATCH_GET_PATH, encode_reads(reads))
    assert status == 200
    assert decode_answers(body, len(reads)) == [
        (200, b"234"),
        (404, b"no such chunk"),
        (416, b"range not satisfiable"),
        (422, b"corrupt chunk"),
        (200, b"0123456789"),
    ]
    assert daemon.request("POST", BATCH_GET_PATH, encode_reads(reads)[:-1])[0] == 400
    empty_range = encode_reads([BatchRead(stored, 3, 3)])
    assert daemon.request("POST", BATCH_GET_PATH, empty_range)[0] == 400


async def test_concurrent_small_reads_share_requests(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    bodies = {new_chunk_id(): os.urandom(200 + n) for n in range(40)}
    for chunk_id, data in bodies.items():
        assert daemon.request("PUT", f"/chunks/{chunk_id}", data)[0] == 201
    before = batch_requests(daemon, BATCH_GET_PATH)
    got = await asyncio.gather(
        *(chunk_client.read_chunk(daemon.base_url, i, 7, len(b)) for i, b in bodies.items())
    )
    assert got == [data[7:] for data in bodies.values()]
    sent = batch_requests(daemon, BATCH_GET_PATH) - before
    assert 1 <= sent < len(bodies)


async def test_read_errors_are_the_items_own(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    chunk_id, rotten = new_chunk_id(), new_chunk_id()
    await chunk_client.put_chunk(daemon.base_url, chunk_id, 3, b"abc")
    await chunk_client.put_chunk(daemon.base_url, rotten, 3, b"xyz")
    daemon.flip_byte(rotten, 0)
    outcomes = await asyncio.gather(
        chunk_client.read_chunk(daemon.base_url, chunk_id, 0, 3),
        chunk_client.read_chunk(daemon.base_url, new_chunk_id(), 0, 3),
        chunk_client.read_chunk(daemon.base_url, chunk_id, 1, 4),
        chunk_client.read_chunk(daemon.base_url, rotten, 0, 3),
        return_exceptions=True,
    )
    assert outcomes[0] == b"abc"
    assert isinstance(outcomes[1], ChunkNotFound)
    assert isinstance(outcomes[2], ChunkRequestRejected) and outcomes[2].status == 416
    assert isinstance(outcomes[3], ChunkCorrupt)
    assert outcomes[3].url == f"{daemon.base_url}/chunks/{rotten}"
