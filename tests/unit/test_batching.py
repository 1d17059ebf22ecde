"""Batching of small chunk requests: the framing (chunkd.batch) and the gateway's Batcher, whose
sender here is a function under the test's control (the daemon side is in
tests/integration/test_chunk_batches.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import pytest

from chunkd.batch import (
    BATCH_ITEM_MAX_BYTES,
    BATCH_MAX_ITEMS,
    BatchFormatError,
    BatchItem,
    decode_batch,
    encode_batch,
)
from s3compat.cluster import batching
from s3compat.cluster.batching import Batcher


def item(size: int = 10) -> BatchItem:
    return BatchItem(os.urandom(16).hex(), os.urandom(size), 1234)


def test_framing_round_trip() -> None:
    items = [item(0), item(1), item(BATCH_ITEM_MAX_BYTES)]
    assert decode_batch(encode_batch(items)) == items
    assert decode_batch(b"") == []


@pytest.mark.parametrize("cut", [1, 23, 24, 25])
def test_cut_body_is_refused(cut: int) -> None:
    body = encode_batch([item(2), item(2)])
    with pytest.raises(BatchFormatError):
        decode_batch(body[:-cut])


def test_oversized_item_and_too_many_items_are_refused() -> None:
    big = encode_batch([item(BATCH_ITEM_MAX_BYTES + 1)])
    with pytest.raises(BatchFormatError, match="at most"):
        decode_batch(big)
    with pytest.raises(BatchFormatError, match="items"):
        decode_batch(encode_batch([item(0) for _ in range(BATCH_MAX_ITEMS + 1)]))


class Sender:
    """Records each batch and holds it until the test releases it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, items: Sequence[BatchItem]) -> list[str | Exception]:
        self.batches.append([i.chunk_id for i in items])
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [ValueError(i.chunk_id) if i.crc32c == 0 else i.chunk_id for i in items]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_put_goes_at_once_and_later_ones_wait_for_a_free_slot() -> None:
    sender = Sender()
    batcher: Batcher[BatchItem, str] = Batcher(sender, lambda i: len(i.data))
    first = [asyncio.ensure_future(batcher.run(item())) for _ in range(batching.MAX_IN_FLIGHT)]
    await settle()
    assert [len(b) for b in sender.batches] == [1] * batching.MAX_IN_FLIGHT
    waiting_items = [item() for _ in range(5)]
    waiting = [asyncio.ensure_future(batcher.run(i)) for i in waiting_items]
    await settle()
    assert len(sender.batches) == batching.MAX_IN_FLIGHT  # all slots busy: nothing sent
    sender.release.set()
    results = await asyncio.gather(*first, *waiting)
    # the five waiting puts went together, in the order they came
    assert sender.batches[-1] == [i.chunk_id for i in waiting_items]
    assert results[batching.MAX_IN_FLIGHT :] == [i.chunk_id for i in waiting_items]


async def test_each_item_gets_its_own_outcome() -> None:
    sender = Sender()
    sender.release.set()
    batcher: Batcher[BatchItem, str] = Batcher(sender, lambda i: len(i.data))
    good, bad = item(), BatchItem(os.urandom(16).hex(), b"x", 0)
    outcomes = await asyncio.gather(batcher.run(good), batcher.run(bad), return_exceptions=True)
    assert outcomes[0] == good.chunk_id
    assert isinstance(outcomes[1], ValueError)


async def test_a_failed_request_fails_every_item_in_it_and_the_next_batch_goes() -> None:
    sender = Sender()
    batcher: Batcher[BatchItem, str] = Batcher(sender, lambda i: len(i.data))
    sender.fail_with = ConnectionError("gone")
    doomed = [asyncio.ensure_future(batcher.run(item())) for _ in range(3)]
    await settle()
    sender.release.set()
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    sender.fail_with = None
    later = item()
    assert await batcher.run(later) == later.chunk_id


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    sender = Sender()
    batcher: Batcher[BatchItem, str] = Batcher(sender, lambda i: len(i.data))
    blockers = [asyncio.ensure_future(batcher.run(item())) for _ in range(batching.MAX_IN_FLIGHT)]
    await settle()
    gone, kept = item(), item()
    cancelled = asyncio.ensure_future(batcher.run(gone))
    staying = asyncio.ensure_future(batcher.run(kept))
    await settle()
    cancelled.cancel()
    sender.release.set()
    assert await staying == kept.chunk_id
    await asyncio.gather(*blockers)
    assert cancelled.cancelled()
