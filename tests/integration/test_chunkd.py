"""The chunk daemon's HTTP protocol, against real ``chunkd`` processes on loopback."""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from awscrt import checksums
from support.chunk_daemons import SECRET, ChunkDaemon, data_place, new_chunk_id, wait_until

from chunkd.footer import encode_footer_v1
from chunkd.packs import PACK_MAX_BYTES
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.errors import ChunkCorrupt, ChunkServerUnavailable


def crc32c_hex(data: bytes) -> str:
    return f"{checksums.crc32c(data):08x}"


def put(daemon: ChunkDaemon, chunk_id: str, data: bytes, **headers: str) -> tuple[int, bytes]:
    status, _, body = daemon.request("PUT", f"/chunks/{chunk_id}", data, headers)
    return status, body


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[ChunkDaemon]:
    """A daemon with an empty data directory, for tests that count or kill."""
    fresh = ChunkDaemon(tmp_path / "data")
    fresh.start()
    yield fresh
    fresh.close()


def test_put_get_head_delete_round_trip(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(3 * 1024 * 1024 + 17)  # several write blocks, odd tail

    status, body = put(daemon, chunk_id, data)
    assert status == 201
    expected = {"chunk_id": chunk_id, "length": len(data), "crc32c": crc32c_hex(data)}
    assert json.loads(body) == expected

    status, headers, body = daemon.request("GET", f"/chunks/{chunk_id}")
    assert (status, body) == (200, data)
    assert headers["X-Chunk-Length"] == str(len(data))
    assert headers["X-Chunk-CRC32C"] == crc32c_hex(data)

    status, headers, _ = daemon.request("HEAD", f"/chunks/{chunk_id}")
    assert status == 200
    assert headers["X-Chunk-Length"] == str(len(data))
    assert headers["X-Chunk-CRC32C"] == crc32c_hex(data)

    assert daemon.request("DELETE", f"/chunks/{chunk_id}")[0] == 204
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404
    assert daemon.request("GET", f"/chunks/{chunk_id}")[0] == 404
    assert daemon.request("DELETE", f"/chunks/{chunk_id}")[0] == 204
    assert not daemon.chunk_path(chunk_id).exists()


def test_file_on_disk_is_data_then_block_table_then_footer(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(300_000)
    assert put(daemon, chunk_id, data)[0] == 201
    raw = daemon.chunk_path(chunk_id).read_bytes()
    blocks = [data[start : start + 65536] for start in range(0, len(data), 65536)]
    table = b"".join(checksums.crc32c(block).to_bytes(4) for block in blocks)
    footer = b"S3CKv2\0\0" + len(data).to_bytes(8) + checksums.crc32c(data).to_bytes(4)
    footer += (65536).to_bytes(4) + bytes(4)
    assert raw == data + table + footer + checksums.crc32c(footer).to_bytes(4)


@pytest.mark.parametrize(
    ("range_header", "expected_slice", "content_range"),
    [
        ("bytes=0-0", slice(0, 1), "bytes 0-0/100"),
        ("bytes=10-19", slice(10, 20), "bytes 10-19/100"),
        ("bytes=90-", slice(90, 100), "bytes 90-99/100"),
        ("bytes=95-500", slice(95, 100), "bytes 95-99/100"),
        ("bytes=-3", slice(97, 100), "bytes 97-99/100"),
        ("bytes=0-99", slice(0, 100), "bytes 0-99/100"),
    ],
)
def test_range_reads(
    daemon: ChunkDaemon, range_header: str, expected_slice: slice, content_range: str
) -> None:
    chunk_id = new_chunk_id()
    data = bytes(range(100))
    assert put(daemon, chunk_id, data)[0] == 201
    status, headers, body = daemon.request(
        "GET", f"/chunks/{chunk_id}", headers={"Range": range_header}
    )
    assert status == 206
    assert body == data[expected_slice]
    assert headers["Content-Range"] == content_range
    assert headers["X-Chunk-Length"] == "100"


@pytest.mark.parametrize("range_header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_range_past_the_data_is_416(daemon: ChunkDaemon, range_header: str) -> None:
    chunk_id = new_chunk_id()
    assert put(daemon, chunk_id, bytes(100))[0] == 201
    status, headers, _ = daemon.request(
        "GET", f"/chunks/{chunk_id}", headers={"Range": range_header}
    )
    assert status == 416
    assert headers["Content-Range"] == "bytes */100"


@pytest.mark.parametrize("range_header", ["bytes=5-2", "bytes=-", "items=0-1", "bytes=0-1,3-4"])
def test_malformed_range_is_400(daemon: ChunkDaemon, range_header: str) -> None:
    chunk_id = new_chunk_id()
    assert put(daemon, chunk_id, bytes(10))[0] == 201
    status, _, _ = daemon.request("GET", f"/chunks/{chunk_id}", headers={"Range": range_header})
    assert status == 400


def test_zero_length_chunk(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    status, body = put(daemon, chunk_id, b"", **{"X-Chunk-CRC32C": "00000000"})
    assert status == 201
    assert json.loads(body) == {"chunk_id": chunk_id, "length": 0, "crc32c": "00000000"}
    status, headers, body = daemon.request("GET", f"/chunks/{chunk_id}")
    assert (status, body, headers["X-Chunk-Length"]) == (200, b"", "0")
    status, _, _ = daemon.request("GET", f"/chunks/{chunk_id}", headers={"Range": "bytes=0-"})
    assert status == 416
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 200


def test_reput_same_content_is_idempotent(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(1000)
    first_status, first_body = put(daemon, chunk_id, data)
    place_before = data_place(daemon.data_dir, chunk_id)  # packed: it is small
    pack_bytes_before = place_before[0].stat().st_size
    second_status, second_body = put(daemon, chunk_id, data)
    assert (first_status, second_status) == (201, 200)
    assert json.loads(first_body) == json.loads(second_body)
    assert data_place(daemon.data_dir, chunk_id) == place_before  # not written again
    assert place_before[0].stat().st_size == pack_bytes_before
    assert daemon.tmp_files() == []


def test_reput_different_content_is_409(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(1000)
    assert put(daemon, chunk_id, data)[0] == 201
    assert put(daemon, chunk_id, os.urandom(1000))[0] == 409
    assert put(daemon, chunk_id, data[:-1])[0] == 409
    assert daemon.request("GET", f"/chunks/{chunk_id}")[2] == data
    assert daemon.tmp_files() == []


def test_crc_mismatch_is_400_and_stores_nothing(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(5000)
    wrong = f"{checksums.crc32c(data) ^ 1:08x}"
    status, body = put(daemon, chunk_id, data, **{"X-Chunk-CRC32C": wrong})
    assert status == 400
    assert json.loads(body) == {"error": "checksum mismatch"}
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404
    assert daemon.tmp_files() == []

    status, _ = put(daemon, chunk_id, data, **{"X-Chunk-CRC32C": crc32c_hex(data)})
    assert status == 201


def test_streamed_chunk_crc_mismatch_is_400_and_stores_nothing(daemon: ChunkDaemon) -> None:
    """The same for a chunk too large to be received whole (written block by block)."""
    chunk_id = new_chunk_id()
    data = os.urandom(3 * 1024 * 1024 + 5)
    wrong = f"{checksums.crc32c(data) ^ 1:08x}"
    status, body = put(daemon, chunk_id, data, **{"X-Chunk-CRC32C": wrong})
    assert (status, json.loads(body)) == (400, {"error": "checksum mismatch"})
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404
    assert daemon.tmp_files() == []


def test_head_gives_the_length_and_keeps_the_connection(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(700)
    assert put(daemon, chunk_id, data)[0] == 201
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    headers = {"Authorization": f"Bearer {SECRET}"}
    try:
        for _ in range(2):
            connection.request("HEAD", f"/chunks/{chunk_id}", headers=headers)
            answer = connection.getresponse()
            answer.read()
            assert (answer.status, answer.headers["Content-Length"]) == (200, "700")
            assert not answer.will_close
        connection.request("GET", f"/chunks/{chunk_id}", headers=headers)
        assert connection.getresponse().read() == data
    finally:
        connection.close()


@pytest.mark.parametrize("header_value", ["ABCDEF01", "1234567", "123456789", "xyzxyzxy"])
def test_malformed_crc_header_is_400(daemon: ChunkDaemon, header_value: str) -> None:
    chunk_id = new_chunk_id()
    assert put(daemon, chunk_id, b"abc", **{"X-Chunk-CRC32C": header_value})[0] == 400
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/chunks/{id}"),
        ("GET", "/chunks/{id}"),
        ("HEAD", "/chunks/{id}"),
        ("DELETE", "/chunks/{id}"),
        ("POST", "/chunks/{id}/verify"),
        ("GET", "/chunks"),
        ("GET", "/stats"),
    ],
)
@pytest.mark.parametrize("secret", [None, "wrong-secret", "", "test-cluster-secreT"])
def test_missing_or_wrong_secret_is_401(
    daemon: ChunkDaemon, method: str, path: str, secret: str | None
) -> None:
    chunk_id = new_chunk_id()
    body = b"data" if method == "PUT" else None
    status, _, response_body = daemon.request(
        method, path.format(id=chunk_id), body=body, secret=secret
    )
    assert status == 401
    if method != "HEAD":
        assert "error" in json.loads(response_body)
    assert not daemon.chunk_path(chunk_id).exists()


@pytest.mark.parametrize(
    "chunk_id",
    [
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "0123456789abcdef0123456789abcdeg",
    ],
)
def test_invalid_chunk_id_is_400(daemon: ChunkDaemon, chunk_id: str) -> None:
    for method, body in (("PUT", b"x"), ("GET", None), ("DELETE", None)):
        status, _, response_body = daemon.request(method, f"/chunks/{chunk_id}", body)
        assert status in (400, 404), (method, status)  # ".." is normalised away: no route
        if status == 400:
            assert json.loads(response_body) == {"error": "invalid chunk id"}
    status, _, _ = daemon.request("GET", "/chunks/0123456789ABCDEF0123456789ABCDEF")
    assert status == 400


def test_put_without_content_length_is_411(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    status, _, _ = daemon.request(
        "PUT",
        f"/chunks/{chunk_id}",
        b"5\r\nhello\r\n0\r\n\r\n",
        {"Transfer-Encoding": "chunked"},
    )
    assert status == 411
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404


def test_short_body_leaves_no_chunk(daemon: ChunkDaemon) -> None:
    """HTTP/1.1 can only carry a body shorter than Content-Length by ending the connection."""
    chunk_id = new_chunk_id()
    with closing(daemon.raw_connection_with_partial_put(chunk_id, 1000, 400)) as connection:
        assert connection.sock is not None
        connection.sock.shutdown(socket.SHUT_WR)  # the body ends here
    assert wait_until(lambda: daemon.tmp_files() == [])
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404


def test_client_disconnect_mid_put_leaves_nothing(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    with closing(daemon.raw_connection_with_partial_put(chunk_id, 8 * 2**20, 3 * 2**20)):
        assert wait_until(lambda: len(daemon.tmp_files()) == 1)
    assert wait_until(lambda: daemon.tmp_files() == [])
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 404


def test_capacity_exceeded_is_507(tmp_path: Path) -> None:
    small = ChunkDaemon(tmp_path / "data", capacity_bytes=1000)
    small.start()
    try:
        assert put(small, new_chunk_id(), bytes(600))[0] == 201
        full_id = new_chunk_id()
        status, body = put(small, full_id, bytes(401))
        assert status == 507
        assert "error" in json.loads(body)
        assert small.request("HEAD", f"/chunks/{full_id}")[0] == 404
        assert small.tmp_files() == []
        assert put(small, new_chunk_id(), bytes(400))[0] == 201  # exactly full is fine
        stats = json.loads(small.request("GET", "/stats")[2])
        assert stats["used_bytes"] == 1000
        assert stats["free_bytes"] == 0
    finally:
        small.close()


def test_kill_during_put_leaves_only_complete_chunks(own_daemon: ChunkDaemon) -> None:
    complete_id = new_chunk_id()
    assert put(own_daemon, complete_id, b"survivor")[0] == 201
    partial_id = new_chunk_id()
    with closing(own_daemon.raw_connection_with_partial_put(partial_id, 8 * 2**20, 3 * 2**20)):
        # Wait until the daemon has really written part of the body to its temporary file.
        assert wait_until(lambda: _tmp_bytes(own_daemon) >= 2**20)
        own_daemon.kill()
    assert own_daemon.tmp_files() != []  # the crash did leave debris behind...

    own_daemon.start()
    assert own_daemon.tmp_files() == []  # ...which the restart removed
    assert own_daemon.request("HEAD", f"/chunks/{partial_id}")[0] == 404
    assert own_daemon.request("GET", f"/chunks/{complete_id}")[2] == b"survivor"
    stats = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (stats["chunk_count"], stats["used_bytes"]) == (1, len(b"survivor"))


def _tmp_bytes(daemon: ChunkDaemon) -> int:
    tmp_dir = daemon.data_dir / "tmp"
    return sum((tmp_dir / name).stat().st_size for name in daemon.tmp_files())


def test_stats_count_chunks_and_survive_restart(own_daemon: ChunkDaemon) -> None:
    stats = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (stats["chunk_count"], stats["used_bytes"]) == (0, 0)
    assert stats["capacity_bytes"] > 0
    assert 0 < stats["free_bytes"] <= stats["capacity_bytes"]

    ids = [new_chunk_id() for _ in range(3)]
    for size, chunk_id in zip((10, 0, 1234), ids, strict=True):
        assert put(own_daemon, chunk_id, bytes(size))[0] == 201
    assert put(own_daemon, ids[0], bytes(10))[0] == 200  # idempotent re-put counts once
    assert own_daemon.request("DELETE", f"/chunks/{ids[1]}")[0] == 204
    assert own_daemon.request("DELETE", f"/chunks/{new_chunk_id()}")[0] == 204

    stats = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (stats["chunk_count"], stats["used_bytes"]) == (2, 1244)

    assert own_daemon.stop() == 0
    own_daemon.start()
    restarted = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (restarted["chunk_count"], restarted["used_bytes"]) == (2, 1244)


def test_list_pagination(own_daemon: ChunkDaemon) -> None:
    ids = sorted(new_chunk_id() for _ in range(7))
    for index, chunk_id in enumerate(ids):
        assert put(own_daemon, chunk_id, bytes(index))[0] == 201

    seen: list[dict[str, object]] = []
    after = ""
    while True:
        status, _, body = own_daemon.request("GET", f"/chunks?after={after}&limit=3")
        assert status == 200
        page = json.loads(body)
        seen += page["chunks"]
        if not page["truncated"]:
            break
        after = page["chunks"][-1]["chunk_id"]
    assert [entry["chunk_id"] for entry in seen] == ids
    assert [entry["length"] for entry in seen] == list(range(7))
    assert seen[3]["crc32c"] == crc32c_hex(bytes(3))
    assert all(isinstance(entry["mtime"], float) for entry in seen)

    page = json.loads(own_daemon.request("GET", f"/chunks?after={ids[-1]}")[2])
    assert page == {"chunks": [], "truncated": False}
    page = json.loads(own_daemon.request("GET", "/chunks?limit=7")[2])
    assert (len(page["chunks"]), page["truncated"]) == (7, False)


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=x", "after=XYZ"])
def test_list_rejects_bad_parameters(daemon: ChunkDaemon, query: str) -> None:
    assert daemon.request("GET", f"/chunks?{query}")[0] == 400


def test_verify_detects_a_flipped_byte(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(2 * 1024 * 1024 + 5)
    assert put(daemon, chunk_id, data)[0] == 201
    status, _, body = daemon.request("POST", f"/chunks/{chunk_id}/verify")
    expected = {"chunk_id": chunk_id, "ok": True, "length": len(data), "crc32c": crc32c_hex(data)}
    assert (status, json.loads(body)) == (200, expected)

    daemon.flip_byte(chunk_id, 1_500_000)
    result = json.loads(daemon.request("POST", f"/chunks/{chunk_id}/verify")[2])
    assert result["ok"] is False
    assert result["crc32c"] != crc32c_hex(data)
    assert daemon.request("POST", f"/chunks/{new_chunk_id()}/verify")[0] == 404


def test_corrupt_footer_is_422(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    assert put(daemon, chunk_id, os.urandom(PACK_MAX_BYTES + 1))[0] == 201  # a file
    path = daemon.chunk_path(chunk_id)
    path.write_bytes(path.read_bytes()[:-1])  # truncated: footer no longer matches the size
    status, _, body = daemon.request("GET", f"/chunks/{chunk_id}")
    assert (status, json.loads(body)) == (422, {"error": "corrupt chunk"})
    assert daemon.request("HEAD", f"/chunks/{chunk_id}")[0] == 422
    verify = json.loads(daemon.request("POST", f"/chunks/{chunk_id}/verify")[2])
    assert verify["ok"] is False
    assert daemon.request("DELETE", f"/chunks/{chunk_id}")[0] == 204


def test_unknown_route_answers_json(daemon: ChunkDaemon) -> None:
    status, _, body = daemon.request("GET", "/nowhere")
    assert status == 404
    assert "error" in json.loads(body)


def test_sigterm_exits_cleanly(own_daemon: ChunkDaemon) -> None:
    assert own_daemon.stop() == 0


# -- every byte served is checked against its block's CRC32C ------------------------------------

BLOCK = 65536
LARGE_BYTES = 3 * 2**20 + 5  # streamed in 1 MiB pieces


@dataclass
class GetOutcome:
    status: int
    content_length: int
    body: bytes


def get_cut(daemon: ChunkDaemon, chunk_id: str, range_header: str | None = None) -> GetOutcome:
    """A GET that tolerates an answer cut short: status, Content-Length and the bytes that
    arrived before the daemon closed the connection."""
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    headers = {"Authorization": f"Bearer {SECRET}"}
    if range_header is not None:
        headers["Range"] = range_header
    try:
        connection.request("GET", f"/chunks/{chunk_id}", headers=headers)
        answer = connection.getresponse()
        declared = int(answer.headers["Content-Length"])
        try:
            body = answer.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        return GetOutcome(answer.status, declared, body)
    finally:
        connection.close()


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=0-",
        "bytes=1-3145727",  # ends on a piece boundary
        "bytes=1048576-2097151",  # exactly one piece
        "bytes=1048000-2200000",  # three pieces, both ends inside blocks
        "bytes=70000-330000",  # a small range of a large chunk
        "bytes=3000000-",
        "bytes=-10",
    ],
)
def test_large_chunk_ranges_read_back(daemon: ChunkDaemon, range_header: str) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(LARGE_BYTES)
    assert put(daemon, chunk_id, data)[0] == 201
    first, last = range_header.removeprefix("bytes=").split("-")
    if first == "":
        start, stop = LARGE_BYTES - int(last), LARGE_BYTES
    else:
        start, stop = int(first), min(int(last or LARGE_BYTES) + 1, LARGE_BYTES)
    status, headers, body = daemon.request(
        "GET", f"/chunks/{chunk_id}", headers={"Range": range_header}
    )
    assert (status, len(body)) == (206, stop - start)
    assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{LARGE_BYTES}"
    assert body == data[start:stop]


def test_a_range_inside_a_corrupt_block_is_422(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(200_000)  # blocks 0..3; a small chunk, read whole before answering
    assert put(daemon, chunk_id, data)[0] == 201
    daemon.flip_byte(chunk_id, 70_000)  # in block 1
    for range_header in ("bytes=66000-66099", "bytes=70000-70000", "bytes=0-199999", None):
        headers = {} if range_header is None else {"Range": range_header}
        status, _, body = daemon.request("GET", f"/chunks/{chunk_id}", headers=headers)
        assert (status, json.loads(body)) == (422, {"error": "corrupt chunk"}), range_header
    for low, high in ((0, BLOCK - 1), (2 * BLOCK, 199_999), (BLOCK - 100, BLOCK - 1)):
        status, _, body = daemon.request(
            "GET", f"/chunks/{chunk_id}", headers={"Range": f"bytes={low}-{high}"}
        )
        assert (status, body) == (206, data[low : high + 1])
    assert json.loads(daemon.request("POST", f"/chunks/{chunk_id}/verify")[2])["ok"] is False


def test_corruption_found_mid_answer_cuts_it_short(daemon: ChunkDaemon) -> None:
    """A bad block past the first piece of a large answer: the headers are gone, so the
    answer stops before the piece holding it; every byte that arrived is right."""
    chunk_id = new_chunk_id()
    data = os.urandom(LARGE_BYTES)
    assert put(daemon, chunk_id, data)[0] == 201
    flipped = 2 * 2**20 + 500_000
    daemon.flip_byte(chunk_id, flipped)
    for range_header, start in ((None, 0), ("bytes=1000-", 1000), ("bytes=5-3000000", 5)):
        outcome = get_cut(daemon, chunk_id, range_header)
        assert outcome.status == (200 if range_header is None else 206)
        assert outcome.content_length > flipped - start
        assert len(outcome.body) <= 2 * 2**20 - start, "the bad piece was sent"
        assert outcome.body == data[start : start + len(outcome.body)]
    # A range that starts in the bad block fails before any byte is sent.
    assert get_cut(daemon, chunk_id, f"bytes={flipped - 1000}-").status == 422
    assert (
        daemon.request("GET", f"/chunks/{chunk_id}", headers={"Range": "bytes=0-99"})[2]
        == (data[:100])
    )


async def test_the_gateway_client_never_yields_a_wrong_byte(daemon: ChunkDaemon) -> None:
    """What the gateway's chunk client makes of both answers to a corrupt chunk: 422 is
    ChunkCorrupt before any byte; a cut answer is ChunkServerUnavailable after right bytes."""
    chunk_id = new_chunk_id()
    data = os.urandom(LARGE_BYTES)
    assert put(daemon, chunk_id, data)[0] == 201
    flipped = 2 * 2**20 + 500_000
    daemon.flip_byte(chunk_id, flipped)
    async with ChunkClient(SECRET, connect_timeout=2.0, io_timeout=10.0) as client:
        with pytest.raises(ChunkCorrupt):
            await client.read_chunk(daemon.base_url, chunk_id, flipped - 10, flipped + 10)
        received = bytearray()
        with pytest.raises(ChunkServerUnavailable):
            async for block in client.get_chunk(daemon.base_url, chunk_id, 0, LARGE_BYTES):
                received += block
        assert 0 < len(received) <= 2 * 2**20
        assert received == data[: len(received)]
        with pytest.raises(ChunkServerUnavailable):
            await client.read_chunk(daemon.base_url, chunk_id, 0, LARGE_BYTES)
        # The pool is still usable afterwards.
        assert await client.read_chunk(daemon.base_url, chunk_id, 0, 10) == data[:10]


def put_old_format(daemon: ChunkDaemon, chunk_id: str, data: bytes) -> None:
    """A chunk file as daemons wrote it before block tables (data and a 32-byte footer)."""
    path = daemon.chunk_path(chunk_id)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data + encode_footer_v1(len(data), checksums.crc32c(data)))


def test_old_format_chunks_are_served_as_before(own_daemon: ChunkDaemon) -> None:
    small_id, large_id, new_id = new_chunk_id(), new_chunk_id(), new_chunk_id()
    small, large = os.urandom(5000), os.urandom(LARGE_BYTES)
    put_old_format(own_daemon, small_id, small)
    put_old_format(own_daemon, large_id, large)
    assert put(own_daemon, new_id, bytes(100))[0] == 201
    for chunk_id, data in ((small_id, small), (large_id, large)):
        status, headers, body = own_daemon.request("GET", f"/chunks/{chunk_id}")
        assert (status, body, headers["X-Chunk-CRC32C"]) == (200, data, crc32c_hex(data))
        status, _, body = own_daemon.request(
            "GET", f"/chunks/{chunk_id}", headers={"Range": "bytes=1000-4999"}
        )
        assert (status, body) == (206, data[1000:5000])
        verify = json.loads(own_daemon.request("POST", f"/chunks/{chunk_id}/verify")[2])
        assert (verify["ok"], verify["length"]) == (True, len(data))
        assert own_daemon.request("HEAD", f"/chunks/{chunk_id}")[1]["X-Chunk-Length"] == str(
            len(data)
        )
    status, _, body = own_daemon.request(
        "GET", f"/chunks/{large_id}", headers={"Range": "bytes=2000000-"}
    )
    assert (status, body) == (206, large[2_000_000:])

    own_daemon.stop()  # the daemon counts the files it did not write when it starts
    own_daemon.start()
    stats = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (stats["chunk_count"], stats["used_bytes"]) == (3, 5000 + LARGE_BYTES + 100)
    listing = json.loads(own_daemon.request("GET", "/chunks")[2])["chunks"]
    lengths = {entry["chunk_id"]: entry["length"] for entry in listing}
    assert lengths == {small_id: 5000, large_id: LARGE_BYTES, new_id: 100}
    assert own_daemon.request("DELETE", f"/chunks/{large_id}")[0] == 204
    stats = json.loads(own_daemon.request("GET", "/stats")[2])
    assert (stats["chunk_count"], stats["used_bytes"]) == (2, 5100)
