"""Small chunk requests to one daemon (PUTs, or range reads), sent together when they meet.

Every small object costs a request to each of its 6-8 daemons, and a request's handling, on
both ends, costs far more CPU than a few KiB of data. A ``Batcher`` sends a request at once
when fewer than ``MAX_IN_FLIGHT`` batches to its daemon are under way; otherwise it waits for
the next one, which takes every item waiting then (up to the limits of ``chunkd.batch``). A
lone request therefore waits for nothing, and under load a daemon gets one request for many
pieces.

Each item's outcome is its own: the daemon answers one result per item, and a failure of the
whole request (unreachable, an answer that is not a batch answer) fails every item in it.
Nothing is acknowledged that the daemon did not report stored durably.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chunkd.batch import BATCH_MAX_BYTES, BATCH_MAX_ITEMS

# Batches to one daemon under way at once: a second one is received while the first one's
# fdatasync runs.
MAX_IN_FLIGHT = 2

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class Batcher(Generic[Item, Result]):
    """The small requests of one kind to one daemon. ``send`` delivers a batch and returns, in
    order, each item's result or the Exception it failed with; it should not raise (if it does,
    every item of the batch fails with that error). ``size`` is an item's share of the bytes a
    batch may carry (BATCH_MAX_BYTES)."""

    def __init__(
        self,
        send: Callable[[Sequence[Item]], Awaitable[Sequence[Result | Exception]]],
        size: Callable[[Item], int],
    ) -> None:
        self._send = send
        self._size = size
        self._waiting: list[_Waiting[Item, Result]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, item: Item) -> Result:
        """The daemon's result for ``item``; raises the item's error."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._in_flight < MAX_IN_FLIGHT:
            self._start()
        return await future

    def _start(self) -> None:
        batch: list[_Waiting[Item, Result]] = []
        size = 0
        while self._waiting and len(batch) < BATCH_MAX_ITEMS:
            size += self._size(self._waiting[0].item)
            if batch and size > BATCH_MAX_BYTES:
                break
            batch.append(self._waiting.pop(0))
        self._in_flight += 1
        task = asyncio.ensure_future(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: list[_Waiting[Item, Result]]) -> None:
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
