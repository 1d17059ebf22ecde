"""How the gateway reads a chunk daemon's answers: the URL of a chunk, the translation of
aiohttp's failures into ``ChunkServerError``s, JSON answers, error answers and chunk
documents. Shared by the client (``client.py``) and its batches (``batches.py``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from s3compat.cluster.errors import (
    ChunkServerError,
    ChunkServerUnavailable,
    error_for_status,
)

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


def chunk_url(base_url: str, chunk_id: str) -> str:
    """The URL of a chunk; refuses anything that is not a chunk id (it becomes part of a path,
    and must not reach another route)."""
    if not _CHUNK_ID_PATTERN.fullmatch(chunk_id):
        raise ValueError(f"invalid chunk id {chunk_id!r}")
    return f"{base_url.rstrip('/')}/chunks/{chunk_id}"


def translate(exc: Exception, url: str) -> ChunkServerError:
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return ChunkServerUnavailable(f"chunk server unreachable: {exc!r}", url=url)
    return ChunkServerError(f"chunk server request failed: {exc!r}", url=url)


@contextmanager
def translated(url: str) -> Iterator[None]:
    """aiohttp's and the clock's failures of a request to `url`, as ChunkServerErrors."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise translate(exc, url) from exc


def as_error_of(error: ChunkServerError, url: str) -> ChunkServerError:
    """The same failure, reported for another URL (a batch's, for each of its items)."""
    return type(error)(error.message, url=url, status=error.status)


async def json_answer(response: aiohttp.ClientResponse, url: str) -> dict[str, Any]:
    """The JSON object a successful answer carries; the error an error answer stands for."""
    await raise_for_status(response, url)
    try:
        document = json.loads(await response.read())
    except ValueError as exc:
        raise ChunkServerError("answer is not JSON", url=url, status=response.status) from exc
    if not isinstance(document, dict):
        raise ChunkServerError("answer is not a JSON object", url=url, status=response.status)
    return document


async def raise_for_status(response: aiohttp.ClientResponse, url: str) -> None:
    if response.status < 400:
        return
    body = await response.content.read(ERROR_BODY_MAX_BYTES)
    try:
        message = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        message = response.reason or "error"
    raise error_for_status(response.status, message, url)


def chunk_info(document: dict[str, Any], url: str) -> ChunkInfo:
    """The chunk a chunk document describes."""
    try:
        return ChunkInfo(
            str(document["chunk_id"]), int(document["length"]), str(document["crc32c"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChunkServerError(f"bad chunk answer: {exc!r}", url=url) from exc
