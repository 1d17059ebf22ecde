"""The chunk daemon's wire format, pure: what a request says (chunk id, declared CRC32C, range,
listing page) and how an answer renders a chunk, a listing entry or an error."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from chunkd.chunkfile import ChunkMeta
from chunkd.errors import HTTP_ANSWERS, StorageError
from chunkd.footer import format_crc32c
from chunkd.layout import is_chunk_id
from chunkd.listing import ListedChunk
from chunkd.protocol import CRC_HEADER, LENGTH_HEADER

LIST_DEFAULT_LIMIT = 1000
LIST_MAX_LIMIT = 10_000

_CRC_PATTERN = re.compile(r"[0-9a-f]{8}")
_RANGE_PATTERN = re.compile(r"bytes=(\d*)-(\d*)")


class ChunkdHTTPError(Exception):
    """An error answered to the caller as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A small JSON error document."""
    return web.json_response({"error": message}, status=status, headers=headers)


def chunk_id_of(request: web.Request) -> str:
    """The chunk id from the path, validated."""
    chunk_id = request.match_info["chunk_id"]
    if not is_chunk_id(chunk_id):
        raise ChunkdHTTPError(400, "invalid chunk id")
    return chunk_id


def parse_crc32c_header(value: str | None) -> int | None:
    """The declared CRC32C, or None when the header is absent."""
    if value is None:
        return None
    if not _CRC_PATTERN.fullmatch(value):
        raise ChunkdHTTPError(400, f"{CRC_HEADER} must be 8 lowercase hex digits")
    return int(value, 16)


def parse_range(value: str | None, length: int) -> tuple[int, int] | None:
    """Resolve a single ``Range: bytes=...`` header against ``length`` data bytes.

    Returns ``(start, stop)`` with ``stop`` exclusive, or None for the whole chunk. Supports
    ``a-b``, ``a-`` and the suffix form ``-n``; an end past the data is clamped (RFC 9110).
    """
    if value is None:
        return None
    match = _RANGE_PATTERN.fullmatch(value.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise ChunkdHTTPError(400, "invalid range")
    first, last = match.group(1), match.group(2)
    if first == "":
        start, stop = max(length - int(last), 0), length
        if int(last) == 0:
            raise _unsatisfiable(length)
    else:
        start = int(first)
        stop = length if last == "" else min(int(last) + 1, length)
        if last != "" and int(last) < start:
            raise ChunkdHTTPError(400, "invalid range")
    if start >= length:
        raise _unsatisfiable(length)
    return start, stop


def _unsatisfiable(length: int) -> ChunkdHTTPError:
    return ChunkdHTTPError(416, "range not satisfiable", {"Content-Range": f"bytes */{length}"})


def parse_list_query(request: web.Request) -> tuple[str, int]:
    """``after`` and ``limit`` of a listing request, validated."""
    after = request.query.get("after", "")
    if after and not is_chunk_id(after):
        raise ChunkdHTTPError(400, "after must be a chunk id")
    try:
        limit = int(request.query.get("limit", LIST_DEFAULT_LIMIT))
    except ValueError:
        raise ChunkdHTTPError(400, "limit must be an integer") from None
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise ChunkdHTTPError(400, f"limit must be between 1 and {LIST_MAX_LIMIT}")
    return after, limit


def chunk_document(meta: ChunkMeta) -> dict[str, Any]:
    """The JSON answer describing a stored chunk."""
    return {"chunk_id": meta.chunk_id, "length": meta.length, "crc32c": meta.crc32c_hex}


def batch_result(chunk_id: str, outcome: tuple[ChunkMeta, bool] | StorageError) -> dict[str, Any]:
    """One item's entry in a batch answer: its chunk document, or the error its own PUT would
    have answered."""
    if isinstance(outcome, StorageError):
        status, message = HTTP_ANSWERS[type(outcome)]
        return {"chunk_id": chunk_id, "status": status, "error": message}
    meta, created = outcome
    return {**chunk_document(meta), "created": created}


def chunk_headers(meta: ChunkMeta) -> dict[str, str]:
    """Headers describing a stored chunk, sent with HEAD and GET."""
    return {LENGTH_HEADER: str(meta.length), CRC_HEADER: meta.crc32c_hex}


def listing_entry(entry: ListedChunk) -> dict[str, Any]:
    """One element of a listing; a corrupt chunk has ``crc32c`` null and ``corrupt`` true."""
    document: dict[str, Any] = {
        "chunk_id": entry.chunk_id,
        "length": entry.length,
        "crc32c": None if entry.crc32c is None else format_crc32c(entry.crc32c),
        "mtime": entry.mtime,
    }
    if entry.crc32c is None:
        document["corrupt"] = True
    return document
