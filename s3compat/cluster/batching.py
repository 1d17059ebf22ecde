"""Small chunk PUTs to one daemon, sent together when they meet in time.

Every small object costs a request to each of its 6-8 daemons, and a request's handling, on
both ends, costs far more CPU than a few KiB of data. ``PutBatcher`` sends a PUT at once when
fewer than ``MAX_IN_FLIGHT`` batches to its daemon are under way; otherwise it waits for the
next one, which takes every PUT waiting then (up to the limits of ``chunkd.batch``). A lone PUT
therefore waits for nothing, and under load a daemon gets one request for many pieces.

Each PUT's outcome is its own: the daemon answers one result per item, and a failure of the
whole request (unreachable, an answer that is not a batch answer) fails every item in it.
Nothing is acknowledged that the daemon did not report stored durably.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chunkd.batch import BATCH_MAX_BYTES, BATCH_MAX_ITEMS, ITEM_HEADER_BYTES, BatchItem

# Batches to one daemon under way at once: a second one is received while the first one's
# fdatasync runs.
MAX_IN_FLIGHT = 2

Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Result]):
    item: BatchItem
    future: asyncio.Future[Result]


class PutBatcher(Generic[Result]):
    """The small PUTs of one daemon. ``send`` delivers a batch and returns, in order, each
    item's result or the Exception it failed with; it should not raise (if it does, every item
    of the batch fails with that error)."""

    def __init__(
        self, send: Callable[[Sequence[BatchItem]], Awaitable[Sequence[Result | Exception]]]
    ) -> None:
        self._send = send
        self._waiting: list[_Waiting[Result]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def put(self, item: BatchItem) -> Result:
        """The daemon's result for ``item``; raises the item's error."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._in_flight < MAX_IN_FLIGHT:
            self._start()
        return await future

    def _start(self) -> None:
        batch: list[_Waiting[Result]] = []
        size = 0
        while self._waiting and len(batch) < BATCH_MAX_ITEMS:
            size += ITEM_HEADER_BYTES + len(self._waiting[0].item.data)
            if batch and size > BATCH_MAX_BYTES:
                break
            batch.append(self._waiting.pop(0))
        self._in_flight += 1
        task = asyncio.ensure_future(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: list[_Waiting[Result]]) -> None:
        try:
            outcomes = await self._send([waiting.item for waiting in batch])
        except Exception as error:
            for waiting in batch:
                _settle(waiting.future, error)
        except BaseException as error:  # cancelled (the loop is closing): nobody is left
            for waiting in batch:
                _settle(waiting.future, error)
            raise
        else:
            for waiting, outcome in zip(batch, outcomes, strict=True):
                _settle(waiting.future, outcome)
        finally:
            self._in_flight -= 1
            if self._waiting:
                self._start()


def _settle(future: asyncio.Future[Result], outcome: Result | BaseException) -> None:
    if future.done():  # its caller was cancelled
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
