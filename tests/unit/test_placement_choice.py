"""Placement keeps fill levels even, spreads writes, and fills a new server gradually."""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.records import ChunkRecord
from s3compat.store.placement import (
    Candidate,
    RecentWrites,
    Reservation,
    choose_servers,
    fill_ratio,
)
from s3compat.store.split import split_sizes
from s3compat.store.stripes import Geometry

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


def write_objects(
    rooms: dict[str, int], used: dict[str, int], objects: int, parity: int, rng: random.Random
) -> Counter[str]:
    """Write `objects` objects of log-uniform sizes (1 KiB - 64 MiB), each as 6 + `parity`
    pieces on distinct servers; `used` grows. How many writes each server was in."""
    writes = Counter[str]()
    for _ in range(objects):
        geometry = Geometry(
            int(math.exp(rng.uniform(math.log(KIB), math.log(64 * MIB)))), parity=parity
        )
        candidates = [Candidate(s, room, used[s], room - used[s]) for s, room in rooms.items()]
        for role, server in enumerate(choose_servers(candidates, geometry.roles, rng=rng)):
            used[server.server_id] += geometry.piece_length(role)
            writes[server.server_id] += 1
    return writes


def fill_spread(rooms: dict[str, int], used: dict[str, int]) -> float:
    fills = [used[s] / room for s, room in rooms.items()]
    return max(fills) / min(fills)


# Rooms as multiples of CAPACITY. A server takes at most one piece of a write, so an uneven
# cluster can only be evenly filled if no server's share of the room exceeds 1 / pieces.
ROOMS = {
    "9 equal": [1.0] * 9,
    "9, three of them 1.8x": [1.0] * 6 + [1.8] * 3,
    "9, from 1x to 2x": [1 + i / 8 for i in range(9)],
    "12, four of them 1.5x": [1.0] * 8 + [1.5] * 4,
}


@pytest.mark.parametrize(
    ("layout", "parity"),
    [
        ("9 equal", 0),
        ("9 equal", 2),
        ("9, three of them 1.8x", 0),
        ("9, from 1x to 2x", 0),
        ("12, four of them 1.5x", 0),
        ("12, four of them 1.5x", 2),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_fills_stay_within_five_percent(layout: str, parity: int, seed: int) -> None:
    rooms = {f"s{i}": int(CAPACITY * m) for i, m in enumerate(ROOMS[layout])}
    used = dict.fromkeys(rooms, 0)
    write_objects(rooms, used, 2000, parity, random.Random(seed))
    spread = fill_spread(rooms, used)
    print(f"{layout}, 6+{parity}, seed {seed}: max fill / min fill = {spread:.4f}")
    assert spread <= 1.05


def test_a_server_too_big_for_its_share_is_in_every_write() -> None:
    """8 pieces on 9 servers, one of them twice as large: it cannot take more than one piece
    a write, so it is in every write and stays the emptiest (the limit of any rule)."""
    rooms = {f"s{i}": CAPACITY * (2 if i == 0 else 1) for i in range(9)}
    used = dict.fromkeys(rooms, 0)
    writes = write_objects(rooms, used, 500, 2, random.Random(4))
    assert writes["s0"] == 500
    assert min(rooms, key=lambda s: used[s] / rooms[s]) == "s0"


@pytest.mark.parametrize("parity", [0, 2])
def test_added_servers_catch_up_without_taking_every_write(parity: int) -> None:
    rng = random.Random(11)
    rooms = {f"s{i}": CAPACITY for i in range(9)}
    used = dict.fromkeys(rooms, 0)
    write_objects(rooms, used, 2000, parity, rng)
    assert fill_spread(rooms, used) <= 1.05
    new = [f"s{i}" for i in range(9, 12)]
    for server in new:
        rooms[server], used[server] = CAPACITY, 0
    pieces = 6 + parity
    fair = pieces / len(rooms)
    writes = write_objects(rooms, used, 500, parity, rng)
    for server in new:
        share = writes[server] / 500
        print(f"6+{parity}: {server} in {share:.2f} of the writes (fair share {fair:.2f})")
        assert fair < share < 0.95
    done = 500
    while fill_spread(rooms, used) > 1.05:
        write_objects(rooms, used, 250, parity, rng)
        done += 250
        assert done <= 8000, f"fills not within 5 % after {done} more objects"
    print(f"6+{parity}: max fill / min fill within 1.05 after {done} more objects")


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


def test_recent_writes_count_until_the_server_reports_them() -> None:
    recent = RecentWrites()
    recent.add({"s1": 100, "s2": 50}, when=1000.0)
    recent.add({"s1": 7}, when=1002.0)
    assert recent.unreported("s1", last_seen=None) == 0  # older than RECENT_MAX_SECONDS
    now = time.time()
    recent.add({"s1": 100}, when=now - 2)
    recent.add({"s1": 7}, when=now)
    assert recent.unreported("s1", last_seen=now - 5) == 107
    assert recent.unreported("s1", last_seen=now - 1) == 7  # the report counts the first
    assert recent.unreported("s1", last_seen=now - 5) == 7  # and it is forgotten
    assert recent.unreported("s3", last_seen=None) == 0


def test_a_reservation_counts_its_bytes_as_recent_only_when_the_write_succeeded() -> None:
    reserved = Counter[str]()
    recent = RecentWrites()
    chunks = [ChunkRecord(f"c{n}", f"s{n}", 0, n, 0, 10 * (n + 1), "") for n in range(3)]
    with Reservation(reserved, chunks, recent):
        assert reserved == Counter({"s0": 10, "s1": 20, "s2": 30})
        assert recent.unreported("s1", None) == 0
    assert +reserved == Counter() and recent.unreported("s1", None) == 20
    with pytest.raises(RuntimeError), Reservation(reserved, chunks, recent):
        raise RuntimeError("a piece failed")
    assert +reserved == Counter() and recent.unreported("s1", None) == 20
