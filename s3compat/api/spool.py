"""Bodies sent with `Transfer-Encoding: chunked` and no length (`curl -T -`, some SDKs), and
the file of a browser form (POST Object), whose length is known only at its end.

Invariant: the 6-way split needs an object's size before its first byte is placed, and memory
must not grow with the body. Such a body is therefore first copied, block by block, into an
anonymous temporary file (unlinked from the start, so a crash leaves nothing on disk) in the
gateway's spool folder, then read back as an ordinary body of known length. The digests the
client sent are checked on the read back, exactly as for a body sent with Content-Length.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from aiohttp import http_exceptions, web

from s3compat.api import errors
from s3compat.api.stalls import PacedBody

SPOOL_DIR_KEY = web.AppKey("spool_dir", Path)
BLOCK_BYTES = 1024 * 1024


def sends_chunked(request: web.Request) -> bool:
    """The body is HTTP/1.1 chunked (its length is known only at its end)."""
    coding = request.headers.get("Transfer-Encoding", "")
    return "chunked" in coding.lower() and request.content_length is None


class SpooledBody:
    """The spooled body, read from its start; the file is closed at the end of the body."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    async def read(self, n: int) -> bytes:
        if self._file.closed:
            return b""
        block = await asyncio.to_thread(self._file.read, n)
        if not block:
            self._file.close()
        return block

    def close(self) -> None:
        self._file.close()


async def spool(request: web.Request, max_bytes: int) -> tuple[SpooledBody, int]:
    """Copy the request's body to a temporary file; its reader and length.

    A body over `max_bytes` is refused as soon as it passes the limit (EntityTooLarge), and a
    body cut short or malformed in its chunk framing is IncompleteBody.
    """
    return await spool_from(request, PacedBody(request.content.read).read, max_bytes)


async def spool_from(
    request: web.Request, read: Callable[[int], Awaitable[bytes]], max_bytes: int
) -> tuple[SpooledBody, int]:
    """Copy what `read` yields until it answers b"" (a request body, or one part of a form)
    to a temporary file in the request's spool folder; its reader and length."""
    folder = request.config_dict.get(SPOOL_DIR_KEY)
    file = await asyncio.to_thread(_anonymous_file, folder)
    try:
        size = await _copy(read, file, max_bytes)
        await asyncio.to_thread(file.seek, 0)
    except BaseException:
        file.close()
        raise
    return SpooledBody(file), size


def _anonymous_file(folder: Path | None) -> IO[bytes]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        return tempfile.TemporaryFile(dir=folder)
    except OSError as error:
        raise errors.ServiceUnavailable(f"cannot spool the body: {error.strerror}") from error


async def _copy(read: Callable[[int], Awaitable[bytes]], file: IO[bytes], max_bytes: int) -> int:
    size = 0
    while True:
        try:
            block = await read(BLOCK_BYTES)
        except (http_exceptions.HttpProcessingError, ConnectionError) as error:
            raise errors.IncompleteBody() from error
        if not block:
            return size
        size += len(block)
        if size > max_bytes:
            raise errors.EntityTooLarge(MaxSizeAllowed=str(max_bytes))
        try:
            await asyncio.to_thread(file.write, block)
        except OSError as error:
            raise errors.ServiceUnavailable(f"cannot spool the body: {error.strerror}") from error
