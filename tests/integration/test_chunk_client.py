"""ChunkClient, the gateway's pooled client, against real ``chunkd`` processes."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from awscrt import checksums
from support.chunk_daemons import SECRET, ChunkDaemon, new_chunk_id, wait_until

from s3compat.cluster.client import ChunkClient, ChunkInfo
from s3compat.cluster.errors import (
    ChunkConflict,
    ChunkCorrupt,
    ChunkNotFound,
    ChunkRequestRejected,
    ChunkServerFull,
    ChunkServerUnavailable,
)


def crc32c_hex(data: bytes) -> str:
    return f"{checksums.crc32c(data):08x}"


async def blocks_of(data: bytes, block_bytes: int = 100_000) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), block_bytes):
        yield data[offset : offset + block_bytes]


async def read_all(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([block async for block in stream])


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_put_head_get_delete_round_trip(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(1_300_001)
    info = await chunk_client.put_chunk(
        daemon.base_url, chunk_id, len(data), blocks_of(data), crc32c_hex(data)
    )
    assert info == ChunkInfo(chunk_id, len(data), crc32c_hex(data))
    assert await chunk_client.head_chunk(daemon.base_url, chunk_id) == info
    streamed = [
        block async for block in chunk_client.get_chunk(daemon.base_url, chunk_id, 0, len(data))
    ]
    assert b"".join(streamed) == data
    assert max(len(block) for block in streamed) <= 256 * 1024

    await chunk_client.delete_chunk(daemon.base_url, chunk_id)
    assert await chunk_client.head_chunk(daemon.base_url, chunk_id) is None
    await chunk_client.delete_chunk(daemon.base_url, chunk_id)  # absent: still fine


async def test_put_without_checksum_reports_computed_one(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    data = b"no declared checksum"
    info = await chunk_client.put_chunk(daemon.base_url, new_chunk_id(), len(data), blocks_of(data))
    assert info.crc32c == crc32c_hex(data)


@pytest.mark.parametrize(("start", "end"), [(0, 1), (5, 17), (99_999, 100_000), (0, 100_000)])
async def test_get_ranges(
    chunk_client: ChunkClient, daemon: ChunkDaemon, start: int, end: int
) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(100_000)
    await chunk_client.put_chunk(daemon.base_url, chunk_id, len(data), blocks_of(data))
    assert (
        await read_all(chunk_client.get_chunk(daemon.base_url, chunk_id, start, end))
        == data[start:end]
    )


async def test_empty_range_makes_no_request(
    chunk_client: ChunkClient, closed_port_url: str
) -> None:
    assert await read_all(chunk_client.get_chunk(closed_port_url, new_chunk_id(), 7, 7)) == b""


async def test_zero_length_chunk(chunk_client: ChunkClient, daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    info = await chunk_client.put_chunk(daemon.base_url, chunk_id, 0, blocks_of(b""), "00000000")
    assert info.length == 0
    assert await chunk_client.head_chunk(daemon.base_url, chunk_id) == info
    assert await chunk_client.verify_chunk(daemon.base_url, chunk_id) is True


async def test_ranges_past_the_data_are_rejected(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    chunk_id = new_chunk_id()
    await chunk_client.put_chunk(daemon.base_url, chunk_id, 10, blocks_of(bytes(10)))
    with pytest.raises(ChunkRequestRejected):
        await read_all(chunk_client.get_chunk(daemon.base_url, chunk_id, 5, 11))
    with pytest.raises(ChunkRequestRejected) as refusal:
        await read_all(chunk_client.get_chunk(daemon.base_url, chunk_id, 10, 12))
    assert refusal.value.status == 416


async def test_errors_are_typed(chunk_client: ChunkClient, daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = b"original"
    with pytest.raises(ChunkCorrupt):
        await chunk_client.put_chunk(
            daemon.base_url, chunk_id, len(data), blocks_of(data), "00000000"
        )
    await chunk_client.put_chunk(daemon.base_url, chunk_id, len(data), blocks_of(data))
    again = await chunk_client.put_chunk(daemon.base_url, chunk_id, len(data), blocks_of(data))
    assert again.crc32c == crc32c_hex(data)
    with pytest.raises(ChunkConflict) as conflict:
        await chunk_client.put_chunk(daemon.base_url, chunk_id, 8, blocks_of(b"modified"))
    assert (conflict.value.status, conflict.value.url) == (
        409,
        f"{daemon.base_url}/chunks/{chunk_id}",
    )

    missing = new_chunk_id()
    with pytest.raises(ChunkNotFound):
        await read_all(chunk_client.get_chunk(daemon.base_url, missing, 0, 1))
    with pytest.raises(ChunkNotFound):
        await chunk_client.verify_chunk(daemon.base_url, missing)


async def test_wrong_secret_is_rejected(daemon: ChunkDaemon) -> None:
    async with ChunkClient("not-the-secret") as intruder:
        with pytest.raises(ChunkRequestRejected) as refusal:
            await intruder.stats(daemon.base_url)
    assert refusal.value.status == 401


async def test_body_exception_reaches_caller_unchanged(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    class SignatureMismatch(Exception):
        pass

    async def failing_body() -> AsyncIterator[bytes]:
        yield os.urandom(2 * 1024 * 1024)
        await asyncio.sleep(0.05)
        raise SignatureMismatch("bad chunk signature")

    chunk_id = new_chunk_id()
    with pytest.raises(SignatureMismatch, match="bad chunk signature"):
        await chunk_client.put_chunk(daemon.base_url, chunk_id, 4 * 1024 * 1024, failing_body())
    assert await asyncio.to_thread(wait_until, lambda: daemon.tmp_files() == [])
    assert await chunk_client.head_chunk(daemon.base_url, chunk_id) is None
    # The pool is still usable afterwards.
    await chunk_client.put_chunk(daemon.base_url, chunk_id, 3, blocks_of(b"abc"))


@pytest.mark.parametrize("actual", [b"short", b"much too long"])
async def test_body_of_wrong_length_is_refused(
    chunk_client: ChunkClient, daemon: ChunkDaemon, actual: bytes
) -> None:
    chunk_id = new_chunk_id()
    with pytest.raises(ValueError, match="declared"):
        await chunk_client.put_chunk(daemon.base_url, chunk_id, 8, blocks_of(actual, 3))
    assert await chunk_client.head_chunk(daemon.base_url, chunk_id) is None


async def test_verify_detects_flipped_byte(chunk_client: ChunkClient, daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    await chunk_client.put_chunk(daemon.base_url, chunk_id, 1000, blocks_of(bytes(1000)))
    assert await chunk_client.verify_chunk(daemon.base_url, chunk_id) is True
    await asyncio.to_thread(daemon.flip_byte, chunk_id, 999)
    assert await chunk_client.verify_chunk(daemon.base_url, chunk_id) is False


async def test_list_and_stats(chunk_client: ChunkClient, tmp_path: Path) -> None:
    own = ChunkDaemon(tmp_path / "data", capacity_bytes=100_000)
    await asyncio.to_thread(own.start)
    try:
        ids = sorted(new_chunk_id() for _ in range(5))
        for size, chunk_id in enumerate(ids, start=1):
            await chunk_client.put_chunk(own.base_url, chunk_id, size, blocks_of(bytes(size)))

        first, truncated = await chunk_client.list_chunks(own.base_url, limit=3)
        assert [info.chunk_id for info in first] == ids[:3] and truncated
        rest, truncated = await chunk_client.list_chunks(own.base_url, after=first[-1].chunk_id)
        assert [info.chunk_id for info in rest] == ids[3:] and not truncated
        assert rest[-1] == ChunkInfo(ids[4], 5, crc32c_hex(bytes(5)))

        stats = await chunk_client.stats(own.base_url)
        assert (stats.capacity_bytes, stats.used_bytes, stats.chunk_count) == (100_000, 15, 5)
        assert stats.free_bytes == 100_000 - 15

        with pytest.raises(ChunkServerFull):
            await chunk_client.put_chunk(
                own.base_url, new_chunk_id(), 99_990, blocks_of(bytes(99_990))
            )
    finally:
        await asyncio.to_thread(own.close)


async def test_unreachable_server(chunk_client: ChunkClient, closed_port_url: str) -> None:
    chunk_id = new_chunk_id()
    with pytest.raises(ChunkServerUnavailable) as unavailable:
        await chunk_client.put_chunk(closed_port_url, chunk_id, 3, blocks_of(b"abc"))
    assert unavailable.value.url == f"{closed_port_url}/chunks/{chunk_id}"
    with pytest.raises(ChunkServerUnavailable):
        await read_all(chunk_client.get_chunk(closed_port_url, chunk_id, 0, 3))
    with pytest.raises(ChunkServerUnavailable):
        await chunk_client.head_chunk(closed_port_url, chunk_id)
    with pytest.raises(ChunkServerUnavailable):
        await chunk_client.delete_chunk(closed_port_url, chunk_id)
    with pytest.raises(ChunkServerUnavailable):
        await chunk_client.verify_chunk(closed_port_url, chunk_id)
    with pytest.raises(ChunkServerUnavailable):
        await chunk_client.list_chunks(closed_port_url)
    with pytest.raises(ChunkServerUnavailable):
        await chunk_client.stats(closed_port_url)


async def test_early_aclose_does_not_leak_connections(daemon: ChunkDaemon) -> None:
    chunk_id = new_chunk_id()
    data = os.urandom(4 * 1024 * 1024)
    # Two connections per host: a leaked connection per early close would block at once.
    async with ChunkClient(SECRET, limit_per_host=2, io_timeout=5.0) as small_pool:
        await small_pool.put_chunk(daemon.base_url, chunk_id, len(data), blocks_of(data))
        async with asyncio.timeout(20):
            for _ in range(20):
                stream = small_pool.get_chunk(daemon.base_url, chunk_id, 0, len(data))
                first_block = await anext(stream)
                assert first_block == data[: len(first_block)]
                await stream.aclose()
            whole = small_pool.get_chunk(daemon.base_url, chunk_id, 0, len(data))
            assert await read_all(whole) == data
            assert (await small_pool.stats(daemon.base_url)).chunk_count >= 1


async def test_daemon_dying_mid_stream_is_unavailable(
    chunk_client: ChunkClient, tmp_path: Path
) -> None:
    own = ChunkDaemon(tmp_path / "data")
    await asyncio.to_thread(own.start)
    try:
        chunk_id = new_chunk_id()
        data = os.urandom(16 * 1024 * 1024)
        await chunk_client.put_chunk(
            own.base_url, chunk_id, len(data), blocks_of(data, 1024 * 1024)
        )
        stream = chunk_client.get_chunk(own.base_url, chunk_id, 0, len(data))
        await anext(stream)
        await asyncio.to_thread(own.kill)
        with pytest.raises(ChunkServerUnavailable):
            await read_all(stream)
    finally:
        await asyncio.to_thread(own.close)


async def test_concurrent_writers_of_one_id_cannot_both_win(
    chunk_client: ChunkClient, daemon: ChunkDaemon
) -> None:
    chunk_id = new_chunk_id()
    bodies = [os.urandom(300_000) for _ in range(8)]
    outcomes = await asyncio.gather(
        *(chunk_client.put_chunk(daemon.base_url, chunk_id, len(b), blocks_of(b)) for b in bodies),
        return_exceptions=True,
    )
    winners = [outcome for outcome in outcomes if isinstance(outcome, ChunkInfo)]
    assert len(winners) == 1
    assert all(isinstance(outcome, ChunkConflict) for outcome in outcomes if outcome not in winners)
    stored = await read_all(chunk_client.get_chunk(daemon.base_url, chunk_id, 0, 300_000))
    assert crc32c_hex(stored) == winners[0].crc32c
