"""Clients that stall: a request body that stops arriving, an answer that stops being taken.

A stalled client would otherwise keep what its request holds for as long as it keeps the
connection open: an upload its handler, its write's intents and the chunk PUTs open to the
daemons; a download its handler, buffers, and its version's chunks, which no collector deletes
while a read streams them. S3 answers an upload that stops sending `RequestTimeout` (400).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from s3compat.api import errors

T = TypeVar("T")

# A body that brings no byte for this long is refused.
RECEIVE_STALL_SECONDS = 60.0
# An answer whose client does not take a block (up to 256 KiB) in this long is cut.
SEND_STALL_SECONDS = 120.0


async def received(waiting: Awaitable[T]) -> T:
    """What a read of the request body gives; RequestTimeout if nothing comes for
    RECEIVE_STALL_SECONDS."""
    try:
        async with asyncio.timeout(RECEIVE_STALL_SECONDS):
            return await waiting
    except TimeoutError:
        raise errors.RequestTimeout() from None


class PacedBody:
    """A request body (its `read`, or a form part's `read_chunk`) whose reads raise
    RequestTimeout when no byte arrives for RECEIVE_STALL_SECONDS."""

    def __init__(self, read: Callable[[int], Awaitable[bytes]]) -> None:
        self._read = read

    async def read(self, n: int) -> bytes:
        return await received(self._read(n))


async def send(response: web.StreamResponse, block: bytes) -> None:
    """Write a block of an answer; ConnectionError if the client does not take it in time."""
    try:
        async with asyncio.timeout(SEND_STALL_SECONDS):
            await response.write(block)
    except TimeoutError:
        raise ConnectionError(
            f"the client did not take {len(block)} bytes in {SEND_STALL_SECONDS:.0f} s"
        ) from None
