"""Placement keeps fill levels even, spreads writes, and fills a new server gradually."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.store.placement import Candidate, choose_servers, fill_ratio
from s3compat.store.split import split_sizes

KIB = 1024
MIB = 1024 * KIB
CAPACITY = 100 * 1024 * MIB


def simulate(used: dict[str, int], objects: int, rng: random.Random) -> dict[str, int]:
    """Write `objects` objects of random sizes (1 KiB - 8 MiB), each as 6 pieces."""
    for _ in range(objects):
        size = rng.randint(KIB, 8 * MIB)
        candidates = [Candidate(s, CAPACITY, u, CAPACITY - u) for s, u in used.items()]
        chosen = choose_servers(candidates, 6, rng=rng)
        for server, length in zip(chosen, split_sizes(size), strict=True):
            used[server.server_id] += length
    return used


@pytest.mark.parametrize("seed", range(5))
def test_fills_stay_even_on_nine_equal_servers(seed: int) -> None:
    used = simulate({f"s{i}": 0 for i in range(9)}, 2000, random.Random(seed))
    spread = max(used.values()) / min(used.values())
    print(f"seed {seed}: max fill / min fill = {spread:.4f}")
    assert spread <= 1.10


def test_new_empty_servers_fill_gradually_and_catch_up() -> None:
    rng = random.Random(7)
    used = simulate({f"s{i}": 0 for i in range(6)}, 500, rng)
    for i in range(6, 9):
        used[f"s{i}"] = 0
    first_writes = Counter[str]()
    for _ in range(50):
        candidates = [Candidate(s, CAPACITY, u, CAPACITY - u) for s, u in used.items()]
        for server in choose_servers(candidates, 6, rng=rng):
            first_writes[server.server_id] += 1
    # The empty servers are preferred, but the old ones still take a share: no write storm.
    assert all(first_writes[f"s{i}"] > 30 for i in range(6, 9))
    assert sum(first_writes[f"s{i}"] for i in range(6)) > 50
    # Over time the new servers take more than their share, so the spread shrinks.
    before = max(used.values()) - min(used.values())
    simulate(used, 1500, rng)
    assert max(used.values()) - min(used.values()) < before / 2


def test_reserved_bytes_steer_concurrent_writes_apart() -> None:
    candidates = [Candidate(f"s{i}", CAPACITY, 0, CAPACITY) for i in range(12)]
    reserved = {f"s{i}": 10 * 1024 * MIB for i in range(6)}
    counts = Counter[str]()
    rng = random.Random(3)
    for _ in range(200):
        for server in choose_servers(candidates, 6, reserved_bytes=reserved, rng=rng):
            counts[server.server_id] += 1
    busy = sum(counts[f"s{i}"] for i in range(6))
    idle = sum(counts[f"s{i}"] for i in range(6, 12))
    assert idle > 2 * busy


@given(
    st.lists(st.integers(min_value=0, max_value=CAPACITY), min_size=6, max_size=20),
    st.integers(min_value=0, max_value=2**32),
)
def test_always_six_distinct_servers(fills: list[int], seed: int) -> None:
    candidates = [Candidate(f"s{i}", CAPACITY, u, CAPACITY - u) for i, u in enumerate(fills)]
    chosen = choose_servers(candidates, 6, rng=random.Random(seed))
    assert len({c.server_id for c in chosen}) == 6


def test_too_few_servers_is_refused() -> None:
    with pytest.raises(ValueError):
        choose_servers([Candidate("a", 1, 0, 1)] * 5, 6)


def test_fill_ratio_counts_reservations() -> None:
    server = Candidate("a", 1000, 250, 750)
    assert fill_ratio(server) == 0.25
    assert fill_ratio(server, 250) == 0.5
