"""OpenReads: which chunks this process's reads stream, and which of them have lasted."""

from __future__ import annotations

import time

import pytest

from s3compat.store.reads import MIN_HOLD_INTERVAL_SECONDS, OpenReads, hold_interval


def test_a_chunk_is_read_while_any_read_of_it_streams() -> None:
    reads = OpenReads()
    with reads.streaming(["a", "b"]):
        with reads.streaming(["b", "c"]):
            assert all(chunk in reads for chunk in "abc")
        assert "a" in reads and "b" in reads
        assert "c" not in reads
    assert not any(chunk in reads for chunk in "abc")


def test_a_read_that_fails_is_forgotten() -> None:
    reads = OpenReads()
    with pytest.raises(RuntimeError), reads.streaming(["a"]):
        raise RuntimeError("the read broke")
    assert "a" not in reads
    assert reads.older_than(0) == set()


def test_only_reads_older_than_the_age_are_named() -> None:
    reads = OpenReads()
    with reads.streaming(["old-1", "old-2"]):
        time.sleep(0.05)
        with reads.streaming(["new", "old-1"]):
            assert reads.older_than(0.03) == {"old-1", "old-2"}
            assert reads.older_than(0) == {"old-1", "old-2", "new"}
        assert reads.older_than(0) == {"old-1", "old-2"}


def test_holds_are_published_four_times_a_grace_and_never_in_a_busy_loop() -> None:
    assert hold_interval(60.0) == 15.0
    assert hold_interval(1.0) == 0.25
    assert hold_interval(0.0) == MIN_HOLD_INTERVAL_SECONDS
