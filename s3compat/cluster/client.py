"""The gateway's pooled HTTP client for chunk daemons.

One aiohttp ClientSession with keep-alive connections and a per-host limit serves every chunk
daemon. Small chunks given as bytes travel in batches when several meet on their way to one
daemon (``batching.py``). Every failure leaves as a ``ChunkServerError`` subclass (see
``errors.py``), except an exception raised by a caller's own body iterable, which reaches the
caller unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from awscrt import checksums

from chunkd.batch import BATCH_ITEM_MAX_BYTES, BATCH_PUT_PATH, BatchItem, encode_batch
from chunkd.protocol import CRC_HEADER, LENGTH_HEADER
from s3compat.cluster.batching import PutBatcher
from s3compat.cluster.errors import (
    ChunkServerError,
    ChunkServerUnavailable,
    error_for_status,
)

READ_BLOCK_BYTES = 256 * 1024
# How much of an error answer is read to find its message; error bodies are tiny JSON.
ERROR_BODY_MAX_BYTES = 4096

_CHUNK_ID_PATTERN = re.compile(r"[0-9a-f]{32}")

# aiohttp failures that mean "the daemon is not (or no longer) reachable".
_UNAVAILABLE_ERRORS = (
    aiohttp.ClientConnectionError,  # refused, reset, disconnected, socket timeouts
    aiohttp.ClientPayloadError,  # the answer's body was cut short
    TimeoutError,
)


@dataclass(frozen=True)
class ChunkInfo:
    """A stored chunk; ``crc32c`` is 8 lowercase hex digits ("" if the daemon finds it corrupt
    while listing)."""

    chunk_id: str
    length: int
    crc32c: str
    # seconds since the epoch when the daemon wrote it (listings only)
    mtime: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class ServerStats:
    """A daemon's capacity and usage, in bytes of chunk data."""

    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    free_bytes: int


def _translate(exc: Exception, url: str) -> ChunkServerError:
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return ChunkServerUnavailable(f"chunk server unreachable: {exc!r}", url=url)
    return ChunkServerError(f"chunk server request failed: {exc!r}", url=url)


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """aiohttp's and the clock's failures of a request to `url`, as ChunkServerErrors."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _translate(exc, url) from exc


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
        self._batchers: dict[str, PutBatcher[ChunkInfo]] = {}

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
        url = self._chunk_url(base_url, chunk_id)
        if isinstance(body, bytes) and length <= BATCH_ITEM_MAX_BYTES:
            if len(body) != length:
                raise ValueError(f"chunk body has {len(body)} bytes, declared {length}")
            declared = checksums.crc32c(body) if crc32c is None else int(crc32c, 16)
            return await self._batcher(base_url).put(BatchItem(chunk_id, body, declared))
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
                document = await self._json_answer(response, url)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if relay is not None:
                relay.raise_if_failed()
            raise _translate(exc, url) from exc
        return self._chunk_info(document, url)

    def _batcher(self, base_url: str) -> PutBatcher[ChunkInfo]:
        base = base_url.rstrip("/")
        batcher = self._batchers.get(base)
        if batcher is None:
            batcher = PutBatcher(lambda items: self._put_batch(base, items))
            self._batchers[base] = batcher
        return batcher

    async def _put_batch(
        self, base_url: str, items: Sequence[BatchItem]
    ) -> list[ChunkInfo | Exception]:
        """One request for several small chunks; each item's outcome, a whole request's
        failure being every item's (with the item's own chunk URL, as its own PUT would)."""
        url = base_url + BATCH_PUT_PATH
        headers = {"Content-Type": "application/octet-stream"}
        try:
            with _translated(url):
                session = self._require_session()
                async with session.post(url, data=encode_batch(items), headers=headers) as answer:
                    document = await self._json_answer(answer, url)
            results = document.get("results")
            if not isinstance(results, list) or len(results) != len(items):
                raise ChunkServerError("bad batch answer", url=url)
        except ChunkServerError as error:
            return [
                type(error)(
                    error.message, url=self._chunk_url(base_url, item.chunk_id), status=error.status
                )
                for item in items
            ]
        return [
            self._batch_outcome(base_url, item, entry)
            for item, entry in zip(items, results, strict=True)
        ]

    def _batch_outcome(self, base_url: str, item: BatchItem, entry: Any) -> ChunkInfo | Exception:
        url = self._chunk_url(base_url, item.chunk_id)
        if not isinstance(entry, dict) or entry.get("chunk_id") != item.chunk_id:
            return ChunkServerError("bad batch answer", url=url)
        if "status" in entry:
            try:
                return error_for_status(int(entry["status"]), str(entry.get("error")), url)
            except (TypeError, ValueError):
                return ChunkServerError("bad batch answer", url=url)
        try:
            return self._chunk_info(entry, url)
        except ChunkServerError as error:
            return error

    async def get_chunk(
        self, base_url: str, chunk_id: str, start: int, end: int
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of a chunk in blocks of about 256 KiB.

        Closing the generator early (``aclose()``) closes its connection instead of returning
        it to the pool, because the unread rest of the answer would poison the next request.
        """
        if start == end:
            return
        received = 0
        async with self._range_answer(base_url, chunk_id, start, end) as (response, url):
            async for block in response.content.iter_chunked(READ_BLOCK_BYTES):
                received += len(block)
                yield block
        if received != end - start:
            raise ChunkServerUnavailable(f"answer ended after {received} bytes", url=url)

    async def read_chunk(self, base_url: str, chunk_id: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a chunk in one piece, for small reads (`get_chunk`
        streams)."""
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
        url = self._chunk_url(base_url, chunk_id)
        with _translated(url):
            async with self._require_session().get(
                url, headers={"Range": f"bytes={start}-{end - 1}"}
            ) as response:
                await self._raise_for_status(response, url)
                self._check_range_answer(response, url, start, end)
                yield response, url

    async def head_chunk(self, base_url: str, chunk_id: str) -> ChunkInfo | None:
        """The chunk's length and checksum, or None if the daemon does not hold it."""
        url = self._chunk_url(base_url, chunk_id)
        with _translated(url):
            async with self._require_session().head(url) as response:
                if response.status == 404:
                    return None
                await self._raise_for_status(response, url)
                length = response.headers.get(LENGTH_HEADER, "")
                crc32c = response.headers.get(CRC_HEADER, "")
        if not length.isdigit():
            raise ChunkServerError(f"bad {LENGTH_HEADER} header {length!r}", url=url)
        return ChunkInfo(chunk_id, int(length), crc32c)

    async def delete_chunk(self, base_url: str, chunk_id: str) -> None:
        """Delete a chunk; succeeds when the daemon did not hold it."""
        url = self._chunk_url(base_url, chunk_id)
        with _translated(url):
            async with self._require_session().delete(url) as response:
                await self._raise_for_status(response, url)

    async def verify_chunk(self, base_url: str, chunk_id: str) -> bool:
        """Have the daemon re-read the chunk; True if its data still matches its checksum."""
        url = self._chunk_url(base_url, chunk_id) + "/verify"
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

    @staticmethod
    def _chunk_url(base_url: str, chunk_id: str) -> str:
        # The id becomes part of a URL path: refuse anything that could reach another route.
        if not _CHUNK_ID_PATTERN.fullmatch(chunk_id):
            raise ValueError(f"invalid chunk id {chunk_id!r}")
        return f"{base_url.rstrip('/')}/chunks/{chunk_id}"

    async def _request_json(
        self, method: str, url: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        with _translated(url):
            async with self._require_session().request(method, url, params=params) as response:
                return await self._json_answer(response, url)

    async def _json_answer(self, response: aiohttp.ClientResponse, url: str) -> dict[str, Any]:
        await self._raise_for_status(response, url)
        try:
            document = json.loads(await response.read())
        except ValueError as exc:
            raise ChunkServerError("answer is not JSON", url=url, status=response.status) from exc
        if not isinstance(document, dict):
            raise ChunkServerError("answer is not a JSON object", url=url, status=response.status)
        return document

    @staticmethod
    async def _raise_for_status(response: aiohttp.ClientResponse, url: str) -> None:
        if response.status < 400:
            return
        body = await response.content.read(ERROR_BODY_MAX_BYTES)
        try:
            message = str(json.loads(body)["error"])
        except (ValueError, KeyError, TypeError):
            message = response.reason or "error"
        raise error_for_status(response.status, message, url)

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

    @staticmethod
    def _chunk_info(document: dict[str, Any], url: str) -> ChunkInfo:
        try:
            return ChunkInfo(
                str(document["chunk_id"]), int(document["length"]), str(document["crc32c"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ChunkServerError(f"bad chunk answer: {exc!r}", url=url) from exc
