"""The batched requests of the chunk client (``chunkd.batch`` on the wire, ``batching.py`` for
when): one ``Batcher`` per daemon and kind, and how a batch answer becomes each item's outcome.
A whole request's failure is every item's, reported with the item's own chunk URL as its own
request would have been."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from chunkd.batch import (
    BATCH_GET_PATH,
    BATCH_PUT_PATH,
    ITEM_HEADER_BYTES,
    BatchFormatError,
    BatchItem,
    BatchRead,
    decode_answers,
    encode_batch,
    encode_reads,
)
from s3compat.cluster.answers import (
    ChunkInfo,
    as_error_of,
    chunk_info,
    chunk_url,
    raise_for_status,
    translated,
)
from s3compat.cluster.batching import Batcher
from s3compat.cluster.errors import ChunkServerError, error_for_status

_OCTETS = {"Content-Type": "application/octet-stream"}


class ChunkBatches:
    """Small PUTs and range reads, batched per daemon, over the client's session."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._session = session
        self._puts: dict[str, Batcher[BatchItem, ChunkInfo]] = {}
        self._reads: dict[str, Batcher[BatchRead, bytes]] = {}

    async def put(self, base_url: str, item: BatchItem) -> ChunkInfo:
        base = base_url.rstrip("/")
        batcher = self._puts.get(base)
        if batcher is None:
            batcher = self._puts[base] = Batcher(
                lambda items: self._put(base, items), lambda i: ITEM_HEADER_BYTES + len(i.data)
            )
        return await batcher.run(item)

    async def read(self, base_url: str, read: BatchRead) -> bytes:
        base = base_url.rstrip("/")
        batcher = self._reads.get(base)
        if batcher is None:
            batcher = self._reads[base] = Batcher(
                lambda reads: self._read(base, reads), lambda r: ITEM_HEADER_BYTES + r.end - r.start
            )
        return await batcher.run(read)

    async def _put(self, base_url: str, items: Sequence[BatchItem]) -> list[ChunkInfo | Exception]:
        urls = [chunk_url(base_url, item.chunk_id) for item in items]
        url = base_url + BATCH_PUT_PATH
        try:
            document = json.loads(await self._post(url, encode_batch(items)))
            results = document["results"]
            if not isinstance(results, list) or len(results) != len(items):
                raise ValueError("not one result per item")
        except ChunkServerError as error:
            return [as_error_of(error, item_url) for item_url in urls]
        except (ValueError, TypeError, KeyError) as error:
            return [ChunkServerError(f"bad batch answer: {error}", url=u) for u in urls]
        return [
            _put_outcome(item_url, item, entry)
            for item_url, item, entry in zip(urls, items, results, strict=True)
        ]

    async def _read(self, base_url: str, reads: Sequence[BatchRead]) -> list[bytes | Exception]:
        urls = [chunk_url(base_url, read.chunk_id) for read in reads]
        url = base_url + BATCH_GET_PATH
        try:
            answers = decode_answers(await self._post(url, encode_reads(reads)), len(reads))
        except ChunkServerError as error:
            return [as_error_of(error, item_url) for item_url in urls]
        except BatchFormatError as error:
            return [ChunkServerError(f"bad batch answer: {error}", url=u) for u in urls]
        outcomes: list[bytes | Exception] = []
        for item_url, read, (status, data) in zip(urls, reads, answers, strict=True):
            if status != 200:
                message = data.decode("utf-8", "replace")
                outcomes.append(error_for_status(status, message, item_url))
            elif len(data) != read.end - read.start:
                outcomes.append(ChunkServerError("bad batch answer", url=item_url))
            else:
                outcomes.append(data)
        return outcomes

    async def _post(self, url: str, body: bytes) -> bytes:
        """The body of a successful answer to a batch request (a few MiB at most)."""
        with translated(url):
            async with self._session().post(url, data=body, headers=_OCTETS) as answer:
                await raise_for_status(answer, url)
                return await answer.read()


def _put_outcome(url: str, item: BatchItem, entry: Any) -> ChunkInfo | Exception:
    if not isinstance(entry, dict) or entry.get("chunk_id") != item.chunk_id:
        return ChunkServerError("bad batch answer", url=url)
    if "status" in entry:
        try:
            return error_for_status(int(entry["status"]), str(entry.get("error")), url)
        except (TypeError, ValueError):
            return ChunkServerError("bad batch answer", url=url)
    try:
        return chunk_info(entry, url)
    except ChunkServerError as error:
        return error
