"""Waiting for a write's piece PUTs: every answer, or the quorum and a short while more."""

from __future__ import annotations

import asyncio

import pytest

from s3compat.store import stripe_write
from s3compat.store.stripe_write import until_quorum


async def answer(after: float, fail: bool = False) -> str:
    await asyncio.sleep(after)
    if fail:
        raise OSError("refused")
    return "stored"


@pytest.fixture(autouse=True)
def short_post_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe_write, "POST_QUORUM_SECONDS", 0.2)


async def test_pieces_that_answer_in_time_are_all_awaited() -> None:
    tasks = [asyncio.ensure_future(answer(0.01 * n)) for n in range(8)]
    tasks.append(asyncio.ensure_future(answer(0.15)))  # late, but within the post-quorum wait
    await until_quorum(tasks, 7)
    assert [t.result() for t in tasks] == ["stored"] * 9


async def test_a_hung_piece_is_cancelled_after_the_quorum_and_the_wait() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    tasks = [asyncio.ensure_future(answer(0.01)) for _ in range(7)]
    hung = asyncio.ensure_future(answer(3600))
    await until_quorum([*tasks, hung], 7)
    assert hung.cancelled()
    assert all(t.result() == "stored" for t in tasks)
    assert loop.time() - began < 60  # not the hour the hung piece would take


async def test_without_a_quorum_every_answer_is_awaited() -> None:
    """Failures do not count towards the quorum: the slow piece that could still make it is
    waited for, however long it takes."""
    failed = [asyncio.ensure_future(answer(0.01, fail=True)) for _ in range(2)]
    stored = [asyncio.ensure_future(answer(0.01)) for _ in range(5)]
    slow = asyncio.ensure_future(answer(0.5))
    await until_quorum([*failed, *stored, slow], 6)
    assert slow.result() == "stored"
    assert all(isinstance(t.exception(), OSError) for t in failed)


async def test_cancelling_the_wait_cancels_every_piece() -> None:
    tasks = [asyncio.ensure_future(answer(3600)) for _ in range(3)]
    waiting = asyncio.ensure_future(until_quorum(tasks, 2))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert all(t.cancelled() for t in tasks)


async def test_a_long_write_waits_as_long_again_for_its_last_pieces() -> None:
    """A write that took a while before its quorum (large pieces) gives the rest that long
    again, not just POST_QUORUM_SECONDS: a large piece's fsync may lag its peers'."""
    loop = asyncio.get_running_loop()
    began = loop.time() - 1.0  # the write has been going for a second
    tasks = [asyncio.ensure_future(answer(0.01)) for _ in range(7)]
    lagging = asyncio.ensure_future(answer(0.6))  # later than 0.2 s, within 1 s
    await until_quorum([*tasks, lagging], 7, began=began)
    assert lagging.result() == "stored"
