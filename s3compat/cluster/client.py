"""The gateway's pooled HTTP client for chunk daemons.

One aiohttp ClientSession with keep-alive connections and a per-host limit serves every chunk
daemon. Small chunks given as bytes, and small range reads, travel in batches when several meet
on their way to one daemon (``batches.py``). Every failure leaves as a ``ChunkServerError``
subclass (see ``errors.py``), except an exception raised by a caller's own body iterable, which
reaches the caller unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp
from awscrt import checksums

from chunkd.batch import BATCH_ITEM_MAX_BYTES, BatchItem, BatchRead
from chunkd.protocol import CRC_HEADER, LENGTH_HEADER
from s3compat.cluster.answers import (
    ChunkInfo,
    chunk_info,
    chunk_url,
    json_answer,
    raise_for_status,
    translate,
    translated,
)
from s3compat.cluster.batches import ChunkBatches
from s3compat.cluster.errors import ChunkServerError, ChunkServerUnavailable, error_for_status

__all__ = ["ChunkClient", "ChunkInfo", "ServerStats"]

READ_BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ServerStats:
    """A daemon's capacity and usage, in bytes of chunk data."""

    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    free_bytes: int


class _BodyRelay:
    """Passes the caller's body to aiohttp, keeping any exception the body raises.

    aiohttp wraps a failing body in its own connection error; the relay lets ``put_chunk``
    re-raise the caller's original exception instead. It also refuses a body whose size
    differs from the declared length, which would otherwise hang or be silently truncated.
    """

    def __init__(self, body: AsyncIterable[bytes], length: int) -> None:
        self._body = body
        self._length = length
        self.error: Exception | None = None

    async def blocks(self) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for block in self._body:
                sent += len(block)
                if sent > self._length:
                    raise ValueError(f"chunk body exceeds its declared length {self._length}")
                yield block
            if sent != self._length:
                raise ValueError(f"chunk body has {sent} bytes, declared {self._length}")
        except Exception as exc:
            self.error = exc
            raise

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


KEEPALIVE_SECONDS = 5.0


class ChunkClient:
    """Pooled HTTP client for chunk daemons (one aiohttp ClientSession, keep-alive, per-host
    connection limit)."""

    def __init__(
        self,
        secret: str,
        *,
        connect_timeout: float = 5.0,
        io_timeout: float = 120.0,
        limit_per_host: int = 64,
    ) -> None:
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=io_timeout
        )
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        self._batches = ChunkBatches(self._require_session)

    async def start(self) -> None:
        """Create the connection pool; must run inside the event loop that will use it."""
        if self._session is not None:
            return
        # aiohttp hands out pooled connections oldest first: with a poll of every daemon each
        # 2 s, a pool grown by a burst (a striped write opens 6+M connections at once) would
        # stay at its peak under the default 15 s keep-alive, each connection used just often
        # enough. 5 s lets it shrink back; reconnecting on a LAN costs well under a ms.
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=self._limit_per_host, keepalive_timeout=KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._secret}"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- operations ---------------------------------------------------------------------------

    async def put_chunk(
        self,
        base_url: str,
        chunk_id: str,
        length: int,
        body: bytes | AsyncIterable[bytes],
        crc32c: str | None = None,
    ) -> ChunkInfo:
        """Store ``length`` bytes from ``body`` (the bytes themselves, or blocks to stream) as
        chunk ``chunk_id``; the daemon checks the optional CRC32C (8 lowercase hex digits)
        before making the chunk visible. Small bytes bodies may share a request with others."""
        url = chunk_url(base_url, chunk_id)
        if isinstance(body, bytes) and length <= BATCH_ITEM_MAX_BYTES:
            if len(body) != length:
                raise ValueError(f"chunk body has {len(body)} bytes, declared {length}")
            declared = checksums.crc32c(body) if crc32c is None else int(crc32c, 16)
            return await self._batches.put(base_url, BatchItem(chunk_id, body, declared))
        headers = {"Content-Length": str(length), "Content-Type": "application/octet-stream"}
        if crc32c is not None:
            headers[CRC_HEADER] = crc32c
        if isinstance(body, bytes):
            if len(body) != length:
                raise ValueError(f"chunk body has {len(body)} bytes, declared {length}")
            relay = None
            data: bytes | AsyncIterator[bytes] = body
        else:
            relay = _BodyRelay(body, length)
            data = relay.blocks()
        try:
            async with self._require_session().put(url, data=data, headers=headers) as response:
                if relay is not None:
                    relay.raise_if_failed()
                document = await json_answer(response, url)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if relay is not None:
                relay.raise_if_failed()
            raise translate(exc, url) from exc
        return chunk_info(document, url)

    async def get_chunk(
        self, base_url: str, chunk_id: str, start: int, end: int
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of a chunk in blocks that end at multiples of
        READ_BLOCK_BYTES of the chunk (the last one at ``end``), so that a reader taking the
        striped layout's blocks (the same size) gets each as one object, never sliced or joined.

        Closing the generator early (``aclose()``) closes its connection instead of returning
        it to the pool, because the unread rest of the answer would poison the next request.
        """
        if start == end:
            return
        position = start
        async with self._range_answer(base_url, chunk_id, start, end) as (response, url):
            while position < end:
                block_end = min(end, (position // READ_BLOCK_BYTES + 1) * READ_BLOCK_BYTES)
                try:
                    block = await response.content.readexactly(block_end - position)
                except asyncio.IncompleteReadError as short:
                    received = position - start + len(short.partial)
                    raise ChunkServerUnavailable(
                        f"answer ended after {received} bytes", url=url
                    ) from None
                position = block_end
                yield block

    async def read_chunk(self, base_url: str, chunk_id: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a chunk in one piece, for small reads (`get_chunk`
        streams); a small range may share a request with others."""
        if 0 <= start < end and end - start <= BATCH_ITEM_MAX_BYTES:
            chunk_url(base_url, chunk_id)  # validates the id
            return await self._batches.read(base_url, BatchRead(chunk_id, start, end))
        async with self._range_answer(base_url, chunk_id, start, end) as (response, url):
            data = await response.read()
        if len(data) != end - start:
            raise ChunkServerUnavailable(f"answer ended after {len(data)} bytes", url=url)
        return data

    @asynccontextmanager
    async def _range_answer(
        self, base_url: str, chunk_id: str, start: int, end: int
    ) -> AsyncIterator[tuple[aiohttp.ClientResponse, str]]:
        """The checked answer to a GET of bytes ``[start, end)`` of a chunk, and its URL;
        failures while it is read, too, leave as ChunkServerErrors."""
        if not 0 <= start < end:
            raise ValueError(f"invalid chunk range [{start}, {end})")
        url = chunk_url(base_url, chunk_id)
        with translated(url):
            async with self._require_session().get(
                url, headers={"Range": f"bytes={start}-{end - 1}"}
            ) as response:
                await raise_for_status(response, url)
                self._check_range_answer(response, url, start, end)
                yield response, url

    async def head_chunk(self, base_url: str, chunk_id: str) -> ChunkInfo | None:
        """The chunk's length and checksum, or None if the daemon does not hold it."""
        url = chunk_url(base_url, chunk_id)
        with translated(url):
            async with self._require_session().head(url) as response:
                if response.status == 404:
                    return None
                await raise_for_status(response, url)
                length = response.headers.get(LENGTH_HEADER, "")
                crc32c = response.headers.get(CRC_HEADER, "")
        if not length.isdigit():
            raise ChunkServerError(f"bad {LENGTH_HEADER} header {length!r}", url=url)
        return ChunkInfo(chunk_id, int(length), crc32c)

    async def delete_chunk(self, base_url: str, chunk_id: str) -> None:
        """Delete a chunk; succeeds when the daemon did not hold it."""
        url = chunk_url(base_url, chunk_id)
        with translated(url):
            async with self._require_session().delete(url) as response:
                await raise_for_status(response, url)

    async def verify_chunk(self, base_url: str, chunk_id: str) -> bool:
        """Have the daemon re-read the chunk; True if its data still matches its checksum."""
        url = chunk_url(base_url, chunk_id) + "/verify"
        document = await self._request_json("POST", url)
        ok = document.get("ok")
        if not isinstance(ok, bool):
            raise ChunkServerError("bad verify answer", url=url)
        return ok

    async def list_chunks(
        self, base_url: str, after: str = "", limit: int = 1000
    ) -> tuple[list[ChunkInfo], bool]:
        """Up to ``limit`` chunks with ids greater than ``after`` in id order, and whether the
        listing was truncated."""
        url = f"{base_url.rstrip('/')}/chunks"
        params = {"after": after, "limit": str(limit)}
        document = await self._request_json("GET", url, params=params)
        try:
            chunks = [
                ChunkInfo(
                    entry["chunk_id"],
                    int(entry["length"]),
                    entry["crc32c"] or "",
                    float(entry.get("mtime") or 0.0),
                )
                for entry in document["chunks"]
            ]
            return chunks, bool(document["truncated"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ChunkServerError(f"bad listing answer: {exc!r}", url=url) from exc

    async def stats(self, base_url: str) -> ServerStats:
        """The daemon's capacity and usage."""
        url = f"{base_url.rstrip('/')}/stats"
        document = await self._request_json("GET", url)
        try:
            return ServerStats(
                capacity_bytes=int(document["capacity_bytes"]),
                used_bytes=int(document["used_bytes"]),
                chunk_count=int(document["chunk_count"]),
                free_bytes=int(document["free_bytes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ChunkServerError(f"bad stats answer: {exc!r}", url=url) from exc

    # -- helpers ------------------------------------------------------------------------------

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ChunkClient used before start()")
        return self._session

    async def _request_json(
        self, method: str, url: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        with translated(url):
            async with self._require_session().request(method, url, params=params) as response:
                return await json_answer(response, url)

    @staticmethod
    def _check_range_answer(
        response: aiohttp.ClientResponse, url: str, start: int, end: int
    ) -> None:
        """The daemon must send exactly the bytes asked for (it clamps ranges past the end)."""
        expected_range = f"bytes {start}-{end - 1}/"
        whole_chunk = response.status == 200 and start == 0
        content_range = response.headers.get("Content-Range", "")
        if response.content_length != end - start or not (
            whole_chunk or content_range.startswith(expected_range)
        ):
            raise error_for_status(
                416, f"chunk cannot serve bytes [{start}, {end}): got {content_range!r}", url
            )
