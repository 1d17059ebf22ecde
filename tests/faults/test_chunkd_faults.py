"""Chunk daemons that die, fill up, rot or hang, on clusters that store every object as 6 data
pieces and M parity pieces on 6+M daemons.

What a client may see: while no more than M pieces of a stripe are unavailable (killed,
stopped, missing, corrupt), every read is answered whole and byte-exact, rebuilt from parity;
beyond that, a clean 503 with an S3 error document, or a success cut short (fewer bytes than its
Content-Length) whose bytes are right as far as they go. Never a 500, never a wrong byte. A
write is acknowledged only with 6+min(M,1) pieces durable, else a clean 503 and no object.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from faults_support import (
    DATA_PIECES,
    damage_noted,
    exact,
    flipped_bytes,
    fully_healthy,
    get_answer,
    health,
    health_report,
    kill_daemon,
    listening,
    never_wrong,
    piece_byte,
    pieces_of,
    range_header,
    server_states,
    supervisor_paused,
    wait_noted,
)
from support.catalog import catalog_rows
from support.clients import client_for, unique_bucket_name
from support.data import admin, read_chunk, used_bytes
from support.processes import chunkd_pid, running_cluster
from support.signing import RawResponse, raw_request
from support.waiting import wait_for

Cluster = Any
MiB = 1024 * 1024
PARITY = 2  # the default cluster: 8 daemons, 6 + 2
# The striped layout's block: piece i holds block i of every stripe of 6 blocks.
BLOCK = 256 * 1024
STRIPE = DATA_PIECES * BLOCK
# The gateway reads around a piece that gives no bytes for this long (READ_HEDGE_SECONDS).
READ_HEDGE_SECONDS = 5.0
# --down-after (10 s) + one poll interval (2 s) + the poll timeout (2 s) + the probe before a
# server is marked down (5 s), and a margin for a loaded machine.
HEALTH_DOWN_SECONDS = 21.0
HEALTH_WAIT_SECONDS = 45.0
# The catalog has a killed daemon down after --down-after (10 s) and a poll or two. (Before
# that, the gateway counts it down only from a failed request until its next reload, 2 s.)
KNOWN_DOWN_WAIT_SECONDS = 40.0
RECOVERY_SECONDS = 45.0
# How long /-/health took to notice stopped daemons (set by the too-few-daemons test).
HEALTH_DOWN_AFTER: list[float] = []


def put_raw(cluster: Cluster, bucket: str, key: str, body: bytes) -> RawResponse:
    """PUT without retries (boto3 would retry a 503)."""
    return raw_request(cluster, "PUT", f"/{bucket}/{key}", body=body)


def segment_offset(role: int, piece_offset: int) -> int:
    """Where byte `piece_offset` of data piece `role` is in its segment (full stripes)."""
    stripe, within = divmod(piece_offset, BLOCK)
    return stripe * STRIPE + role * BLOCK + within


def check_layout(pieces: dict[int, dict[str, Any]], size: int, parity: int) -> None:
    """6 data pieces summing to the object's size and `parity` parity pieces, on as many
    distinct daemons, all striped."""
    assert sorted(pieces) == list(range(DATA_PIECES + parity)), sorted(pieces)
    assert len({piece["server"] for piece in pieces.values()}) == DATA_PIECES + parity
    assert sum(pieces[role]["length"] for role in range(DATA_PIECES)) == size
    assert all(p["layout"] == "striped" and p["parity"] == parity for p in pieces.values())


def wait_known_down(cluster: Cluster, urls: list[str]) -> None:
    """Until the catalog has the daemons at `urls` down (after --down-after) and the gateway
    has taken that in: from then on it refuses up front what needs them."""
    up = len(cluster.chunk_urls) - len(urls)

    def known() -> bool:
        states = server_states(cluster)
        return all(states[url] == "down" for url in urls) and (
            health_report(cluster)[1].get("servers_up") == up
        )

    wait_for(known, timeout=KNOWN_DOWN_WAIT_SECONDS, interval=0.2)


def wait_back(cluster: Cluster, urls: list[str]) -> None:
    """Until the daemons at `urls` answer again and the catalog has them up."""

    def back() -> bool:
        return all(listening(url) for url in urls) and all(
            server_states(cluster)[url] == "up" for url in urls
        )

    wait_for(back, timeout=RECOVERY_SECONDS, interval=0.2)


def all_whole(cluster: Cluster, bucket: str, objects: dict[str, bytes]) -> bool:
    """Whether every read of `reads_of` each object is whole (each checked: never wrong)."""
    whole = True
    for key, data in objects.items():
        for headers, expected, _ in reads_of(data):
            answer = get_answer(cluster, f"/{bucket}/{key}", headers)
            whole = never_wrong(answer, expected) == "whole" and whole
    return whole


def reads_of(data: bytes) -> list[tuple[dict[str, str], bytes, int]]:
    """A whole GET and three ranges (head, middle, tail): (headers, expected bytes, status)."""
    if not data:
        return [({}, b"", 200)]
    size = len(data)
    middle = (size // 3, max(size // 3, 2 * size // 3))
    tail = (max(0, size - 1000), size - 1)
    reads = [({}, data, 200)]
    for low, high in ((0, min(size, 1000) - 1), middle, tail):
        reads.append((range_header(low, high), data[low : high + 1], 206))
    return reads


# ---------------------------------------------------------------------------------------------
# (a) kill -9


KILL_SIZES = {"empty": 0, "tiny": 5, "small": 100_000, "medium": MiB + 7, "large": 4 * MiB + 17}


def test_killed_daemons_up_to_parity_are_read_around_and_one_more_is_a_503(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """kill -9 one, then two daemons holding data pieces: every GET and range GET is whole and
    byte-exact. A third: nothing whole can be served (5 of 8 pieces left): 503 or a cut body,
    and once the gateway knows the three are down, a clean 503 before the first byte; writes
    are refused (SlowDown). All back: every read byte-exact again, and writes get 8 pieces."""
    cluster = healthy_cluster
    objects = {key: os.urandom(size) for key, size in KILL_SIZES.items()}
    for key, data in objects.items():
        fs3.put_object(Bucket=fbucket, Key=key, Body=data)
    large = pieces_of(cluster, fbucket, "large")
    check_layout(large, len(objects["large"]), PARITY)
    # Data pieces 0 (the first byte), 3 and 5 of the large object; every object has a piece on
    # each of the 8 daemons.
    victims = [large[0]["url"], large[3]["url"], large[5]["url"]]
    outcomes: list[str] = []
    with supervisor_paused(cluster):
        for victim in victims[:PARITY]:
            kill_daemon(cluster, victim)
            for key, data in objects.items():
                for headers, expected, status in reads_of(data):
                    answer = get_answer(cluster, f"/{fbucket}/{key}", headers)
                    exact(answer, expected, status)
        kill_daemon(cluster, victims[PARITY])
        for key, data in objects.items():
            answer = get_answer(cluster, f"/{fbucket}/{key}")
            if not data:
                exact(answer, b"")  # an empty object needs no piece
                continue
            outcome = never_wrong(answer, data)
            outcomes.append(outcome)
            if len(data) >= DATA_PIECES:
                # Every data piece holds bytes of it, and one of them is on a victim (there
                # are only 2 parity pieces): it cannot be read whole from 5 pieces. (The tiny
                # object's sixth data piece is empty: its live data pieces may be all it needs.)
                assert outcome != "whole", f"{key}: whole with 5 of 8 pieces"
        wait_known_down(cluster, victims)
        for key, data in objects.items():
            for headers, expected, _ in reads_of(data) if data else []:
                answer = get_answer(cluster, f"/{fbucket}/{key}", headers)
                outcome = never_wrong(answer, expected)
                # Known down: decided before the first byte, so never cut.
                assert outcome in ("503", "whole"), (key, headers, outcome)
                if len(data) >= DATA_PIECES and not headers:
                    assert outcome == "503", key
                    assert answer.body.startswith(b"<?xml")
        refused = put_raw(cluster, fbucket, "refused", os.urandom(1000))
        assert (refused.status, refused.error_code()) == (503, "SlowDown"), refused.body[:300]
        assert refused.header("Retry-After") is not None
    print("reads with 3 of 8 daemons killed, before the gateway knew:", outcomes)
    # The cluster restarts them.
    wait_back(cluster, victims)
    wait_for(lambda: fully_healthy(cluster), timeout=RECOVERY_SECONDS, interval=0.2)
    wait_for(lambda: all_whole(cluster, fbucket, objects), timeout=30, interval=0.5)
    for key, data in objects.items():
        for headers, expected, status in reads_of(data):
            exact(get_answer(cluster, f"/{fbucket}/{key}", headers), expected, status)
    assert get_answer(cluster, f"/{fbucket}/refused").status == 404
    data = os.urandom(300_000)
    answer = put_raw(cluster, fbucket, "after", data)
    assert answer.status == 200, answer.body[:300]
    check_layout(pieces_of(cluster, fbucket, "after"), len(data), PARITY)
    exact(get_answer(cluster, f"/{fbucket}/after"), data)


@pytest.fixture
def bare_cluster() -> Iterator[Cluster]:
    """6 daemons: parity 0, no redundancy (its own cluster, stopped after the test)."""
    with running_cluster("s3compat-faults-bare-", ["--servers", "6"]) as running:
        yield running


def test_killed_daemon_without_parity_gives_503_then_recovers(bare_cluster: Cluster) -> None:
    """Parity 0: every piece is needed. A killed daemon: reads are a clean 503 (or cut, never
    wrong), writes a 503 that leaves no object; when it is back, both work again."""
    cluster = bare_cluster
    s3 = client_for(cluster)
    bucket = unique_bucket_name("bare")
    s3.create_bucket(Bucket=bucket)
    objects = {"small": os.urandom(100_000), "large": os.urandom(3 * MiB + 5)}
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    large = pieces_of(cluster, bucket, "large")
    check_layout(large, len(objects["large"]), 0)
    victim = large[2]["url"]
    outcomes = []
    with supervisor_paused(cluster):
        kill_daemon(cluster, victim)
        # A small read fetches all its pieces before the status line: a clean 503.
        answer = get_answer(cluster, f"/{bucket}/small")
        assert never_wrong(answer, objects["small"]) == "503"
        assert answer.body.startswith(b"<?xml")
        for key, data in objects.items():
            outcome = never_wrong(get_answer(cluster, f"/{bucket}/{key}"), data)
            assert outcome != "whole", key
            outcomes.append((key, outcome))
        refused = put_raw(cluster, bucket, "refused", os.urandom(5000))
        assert refused.status == 503, refused.body[:300]
        assert refused.error_code() in ("SlowDown", "ServiceUnavailable"), refused.body[:300]
        assert refused.header("Retry-After") is not None
    print("reads with the daemon killed:", outcomes)
    started = time.monotonic()
    # The cluster restarts it: reads recover (each one checked on the way).
    wait_for(lambda: all_whole(cluster, bucket, objects), timeout=RECOVERY_SECONDS)
    print(f"reads whole again {time.monotonic() - started:.1f} s after the restart began")
    assert get_answer(cluster, f"/{bucket}/refused").status == 404
    wait_for(lambda: health(cluster) == 200, timeout=RECOVERY_SECONDS, interval=0.2)
    data = os.urandom(10_000)
    answer = put_raw(cluster, bucket, "after", data)
    assert answer.status == 200, answer.body[:300]
    exact(get_answer(cluster, f"/{bucket}/after"), data)
    s3.close()


# ---------------------------------------------------------------------------------------------
# (b) full chunk daemons


@pytest.fixture
def small_cluster() -> Iterator[Cluster]:
    """8 daemons of 3 MB each (parity 2; its own cluster, stopped after the test)."""
    with running_cluster("s3compat-faults-small-", ["--capacity", "3000000"]) as running:
        yield running


def test_full_chunk_daemons_give_a_clean_error(small_cluster: Cluster) -> None:
    """PUTs until the daemons are full: the failing one is a clean 503/507 and leaves no object;
    every acknowledged object has at least 7 of its 8 pieces, on distinct daemons, and reads
    byte-exact; after GC the daemons hold exactly the pieces the catalog lists."""
    cluster = small_cluster
    s3 = client_for(cluster)
    bucket = unique_bucket_name("full")
    s3.create_bucket(Bucket=bucket)
    object_bytes = 600_000  # 8 pieces of 100 kB, one on each daemon: about 30 fit
    stored: dict[str, bytes] = {}
    failure: RawResponse | None = None
    failed_key = ""
    for n in range(60):
        key = f"fill-{n:03d}"
        data = os.urandom(object_bytes)
        answer = put_raw(cluster, bucket, key, data)
        if answer.status == 200:
            stored[key] = data
            continue
        failure, failed_key = answer, key
        break
    assert failure is not None, f"60 PUTs of {object_bytes} bytes fit into 8 x 3 MB"
    print(f"full cluster answered {failure.status} {failure.error_code()} after {len(stored)}")
    assert len(stored) >= 20, len(stored)
    assert failure.status in (503, 507), failure.body[:300]
    assert failure.error_code() in ("ServiceUnavailable", "SlowDown", "InsufficientStorage")
    # The failed write left no object.
    listed = {item["Key"]: item["Size"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {key: len(data) for key, data in stored.items()}
    # Right after the refusal, what is stored reads byte-exact: the daemons are full, not
    # down, and a 507 must not make the gateway read around them.
    last_key = list(stored)[-1]
    for _ in range(3):
        exact(get_answer(cluster, f"/{bucket}/{last_key}"), stored[last_key])
    answer = get_answer(cluster, f"/{bucket}/{failed_key}")
    assert (answer.status, answer.code) == (404, "NoSuchKey")
    # Acknowledged means 6 + 1 pieces durable at least, each on its own daemon.
    versions = catalog_rows(
        cluster,
        "SELECT version_id, count(*), count(DISTINCT server_id) FROM chunks GROUP BY version_id",
    )
    assert len(versions) == len(stored), versions
    assert all(DATA_PIECES + 1 <= pieces == servers for _, pieces, servers in versions), versions
    for key, data in list(stored.items())[-3:]:
        pieces = pieces_of(cluster, bucket, key)
        assert len(pieces) >= DATA_PIECES + 1, pieces
        exact(get_answer(cluster, f"/{bucket}/{key}"), data)
    # After GC, the daemons hold exactly the catalog's pieces (plus a small footer per chunk:
    # see README "Chunk daemons"); the failed write's pieces are gone.

    def settled() -> tuple[int, int, int] | None:
        admin(cluster, "gc")
        count, expected = catalog_rows(
            cluster, "SELECT count(*), coalesce(sum(length), 0) FROM chunks"
        )[0]
        used = used_bytes(cluster)
        return (used, expected, count) if expected <= used <= expected + 64 * count else None

    used, expected, count = wait_for(settled, timeout=30, interval=1.0)
    print(f"after GC: {used} bytes used for {count} pieces of {expected} bytes")
    assert count >= (DATA_PIECES + 1) * len(stored)
    s3.close()


# ---------------------------------------------------------------------------------------------
# (c) corrupted pieces


ROT_BYTES = 600_000  # one stripe: 6 data pieces of 100 000 bytes, 2 parity pieces as long
ROT_PIECE = 100_000


def _put_rot(fs3: BaseClient, bucket: str, key: str, data: bytes) -> None:
    fs3.put_object(Bucket=bucket, Key=key, Body=data)


def test_corrupted_piece_is_rebuilt_and_noted_for_repair(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """A flipped byte in data piece 1 on disk: the GET is whole and byte-exact anyway (the
    daemon refuses the bad block, the gateway rebuilds it from parity), and the piece is queued
    in `damaged_chunks` as corrupt for the repairer."""
    cluster = healthy_cluster
    data = os.urandom(ROT_BYTES)
    _put_rot(fs3, fbucket, "rot", data)
    pieces = pieces_of(cluster, fbucket, "rot")
    check_layout(pieces, ROT_BYTES, PARITY)
    bad = pieces[1]
    assert damage_noted(cluster, bad["chunk_id"]) is None
    with flipped_bytes(piece_byte(cluster, bad, 1234)):
        # The daemon itself refuses the bad block.
        status, _ = read_chunk(cluster, bad["url"], bad["chunk_id"])
        assert status != 200, status
        exact(get_answer(cluster, f"/{fbucket}/rot"), data)
        noted = wait_noted(cluster, bad["chunk_id"])
        assert noted in ("corrupt", "replaced"), noted
        exact(get_answer(cluster, f"/{fbucket}/rot"), data)
    print(f"damage queue after the read: {noted}")
    exact(get_answer(cluster, f"/{fbucket}/rot"), data)


def test_corrupted_piece_ranges_are_served_byte_exact(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """Ranges over a corrupted 64 KiB block of data piece 1 (each on an object of its own, so
    each meets the bad block): 206 and byte-exact, the piece noted; ranges that do not need the
    bad block (another piece, the same piece's next block) are served without noticing it."""
    cluster = healthy_cluster
    data = os.urandom(ROT_BYTES)
    flipped = 1234  # in data piece 1's first 64 KiB block
    first, second_block = ROT_PIECE, ROT_PIECE + 65536
    ranges = {
        "whole-piece": ((first, first + ROT_PIECE - 1), True),
        "inside": ((first + 1000, first + 1999), True),
        "across": ((first // 2, first + ROT_PIECE + 50_000), True),
        "other-piece": ((0, first - 1), False),
        "next-block": ((second_block, second_block + 999), False),
    }
    for name, ((low, high), needs_bad_block) in ranges.items():
        key = f"rot-{name}"
        _put_rot(fs3, fbucket, key, data)
        bad = pieces_of(cluster, fbucket, key)[1]
        with flipped_bytes(piece_byte(cluster, bad, flipped)):
            answer = get_answer(cluster, f"/{fbucket}/{key}", range_header(low, high))
            exact(answer, data[low : high + 1], 206)
            noted = damage_noted(cluster, bad["chunk_id"])
            if needs_bad_block:
                noted = wait_noted(cluster, bad["chunk_id"])
                assert noted in ("corrupt", "replaced"), (name, noted)
            else:
                assert noted is None, (name, noted)


def test_three_corrupted_pieces_of_a_stripe_never_give_wrong_bytes(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """Three pieces of one stripe corrupted (one more than parity covers): a small object is a
    clean 503 (known before the first byte), a large one whose bad stripe comes after the
    answer began is cut short (the client sees fewer bytes than Content-Length, all of them
    right); the pieces are noted; once the bytes are good again, both read byte-exact."""
    cluster = healthy_cluster
    small = os.urandom(ROT_BYTES)
    _put_rot(fs3, fbucket, "rot3-small", small)
    small_pieces = pieces_of(cluster, fbucket, "rot3-small")
    # 9 MiB: 6 stripes; the bad blocks in stripe 4, past the daemons' first checked MiB.
    large = os.urandom(6 * STRIPE)
    fs3.put_object(Bucket=fbucket, Key="rot3-large", Body=large)
    large_pieces = pieces_of(cluster, fbucket, "rot3-large")
    check_layout(large_pieces, len(large), PARITY)
    deep = MiB + 1000
    roles = (0, 1, 6)  # two data pieces and a parity piece
    places = [piece_byte(cluster, small_pieces[role], 1234) for role in roles]
    places += [piece_byte(cluster, large_pieces[role], deep) for role in roles]
    with flipped_bytes(*places):
        answer = get_answer(cluster, f"/{fbucket}/rot3-small")
        assert never_wrong(answer, small) == "503"
        assert answer.body.startswith(b"<?xml")
        answer = get_answer(cluster, f"/{fbucket}/rot3-large")
        outcome = never_wrong(answer, large)
        print(f"large object: {answer.status}, {len(answer.body)} of {len(large)} bytes")
        assert outcome == "cut", outcome
        # Everything before the bad stripe arrived (the answer began with good bytes).
        assert len(answer.body) >= 4 * STRIPE, len(answer.body)
        assert len(answer.body) <= segment_offset(0, deep)
        for pieces in (small_pieces, large_pieces):
            for role in roles:
                noted = wait_noted(cluster, pieces[role]["chunk_id"])
                assert noted in ("corrupt", "cut"), (role, noted)
    exact(get_answer(cluster, f"/{fbucket}/rot3-small"), small)
    exact(get_answer(cluster, f"/{fbucket}/rot3-large"), large)


def test_corrupted_block_deep_in_a_large_piece_degrades_mid_stream(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """A bad block 2 MiB into a 2.5 MiB piece: the daemon finds it after its answer began and
    cuts it; the gateway, which has sent the client 12 MiB by then, goes on from parity: every
    range and the plain GET are whole and byte-exact (one object each, so each read meets the
    bad block), and the piece is noted as cut."""
    cluster = healthy_cluster
    piece_bytes = 5 * MiB // 2
    data = os.urandom(DATA_PIECES * piece_bytes)  # 10 stripes
    flipped = 2 * MiB + 1000  # stripe 8 of data piece 1, in the daemon's third checked MiB
    bad_at = segment_offset(1, flipped)
    size = len(data)
    ranges: dict[str, tuple[int, int] | None] = {
        "inside": (100, size - 100),
        "piece-span": (BLOCK, segment_offset(1, piece_bytes - 1)),  # piece 1's first to last
        "from-stripe-3": (3 * STRIPE + 5000, bad_at + 200_000),
        "whole": None,  # a plain GET
    }
    outcomes = []
    for name, span in ranges.items():
        key = f"deep-rot-{name}"
        fs3.put_object(Bucket=fbucket, Key=key, Body=data)
        bad = pieces_of(cluster, fbucket, key)[1]
        assert bad["length"] == piece_bytes
        with flipped_bytes(piece_byte(cluster, bad, flipped)):
            if span is None:
                answer = get_answer(cluster, f"/{fbucket}/{key}")
                exact(answer, data)
            else:
                low, high = span
                assert low < bad_at <= high
                answer = get_answer(cluster, f"/{fbucket}/{key}", range_header(low, high))
                exact(answer, data[low : high + 1], 206)
            noted = wait_noted(cluster, bad["chunk_id"])
            # "cut": the daemon's answer stopped after it had begun.
            assert noted in ("cut", "replaced"), (name, noted)
            outcomes.append((name, answer.status, len(answer.body), noted))
    print("answers (range, status, bytes, damage queue):", outcomes)


# ---------------------------------------------------------------------------------------------
# (d) too few daemons, and hung ones


def test_too_few_daemons_refuse_writes_and_serve_reads(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """SIGSTOP two daemons holding data pieces. Before the gateway notices, reads wait out the
    hung pieces and are rebuilt from parity (whole, byte-exact). /-/health then says 503 with 6
    of the 7 servers a write needs: writes are 503 SlowDown and leave nothing, reads are served
    byte-exact without waiting for the hung daemons. One daemon back (7 up): writes succeed
    with 7 pieces, none on the stopped daemon, and read byte-exact."""
    cluster = healthy_cluster
    objects = {"small": os.urandom(100_000), "large": os.urandom(2 * MiB + 3)}
    for key, data in objects.items():
        fs3.put_object(Bucket=fbucket, Key=key, Body=data)
    large = pieces_of(cluster, fbucket, "large")
    stopped = [large[0]["url"], large[1]["url"]]
    pids = [chunkd_pid(cluster, url) for url in stopped]

    def hedged_reads() -> list[tuple[str, float]]:
        """Reads while the daemons hang and the gateway does not know yet."""
        timings = []
        for key, data in objects.items():
            began = time.monotonic()
            exact(get_answer(cluster, f"/{fbucket}/{key}"), data)
            timings.append((key, round(time.monotonic() - began, 1)))
        return timings

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            hedged = pool.submit(hedged_reads)
            wait_for(lambda: health(cluster) == 503, timeout=HEALTH_WAIT_SECONDS, interval=0.5)
            HEALTH_DOWN_AFTER.append(time.monotonic() - started)
            timings = hedged.result(timeout=120)
        print(f"health answered 503 after {HEALTH_DOWN_AFTER[-1]:.1f} s; hedged reads {timings}")
        status, report = health_report(cluster)
        assert status == 503
        assert report["servers_up"] == len(cluster.chunk_urls) - 2, report
        assert report["servers_needed"] == DATA_PIECES + 1, report
        assert report["parity"] == PARITY and report["full_parity"] is False, report
        key = f"refused-{uuid.uuid4().hex[:6]}"
        answer = put_raw(cluster, fbucket, key, os.urandom(5000))
        assert (answer.status, answer.error_code()) == (503, "SlowDown"), answer.body[:300]
        assert answer.header("Retry-After") is not None
        assert get_answer(cluster, f"/{fbucket}/{key}").status == 404
        # Known down: read around from the start, no waiting for the hedge.
        for key, data in objects.items():
            began = time.monotonic()
            exact(get_answer(cluster, f"/{fbucket}/{key}"), data)
            took = time.monotonic() - began
            assert took < READ_HEDGE_SECONDS, f"{key}: {took:.1f} s"
        # One back: 7 up, as many as a write needs.
        os.kill(pids[1], signal.SIGCONT)
        wait_for(lambda: health(cluster) == 200, timeout=30, interval=0.2)
        status, report = health_report(cluster)
        assert report["servers_up"] == len(cluster.chunk_urls) - 1, report
        assert report["full_parity"] is False, report
        under = os.urandom(700_000)
        answer = put_raw(cluster, fbucket, "under-protected", under)
        assert answer.status == 200, answer.body[:300]
        pieces = pieces_of(cluster, fbucket, "under-protected")
        assert len(pieces) == DATA_PIECES + 1, sorted(pieces)
        assert len({p["server"] for p in pieces.values()}) == DATA_PIECES + 1
        assert all(p["url"] != stopped[0] for p in pieces.values()), pieces
        exact(get_answer(cluster, f"/{fbucket}/under-protected"), under)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: fully_healthy(cluster), timeout=30, interval=0.2)
    exact(get_answer(cluster, f"/{fbucket}/under-protected"), under)
    answer = put_raw(cluster, fbucket, "after-resume", b"back")
    assert answer.status == 200, answer.body
    assert len(pieces_of(cluster, fbucket, "after-resume")) == DATA_PIECES + PARITY


# Far below the chunk client's io timeout (120 s), which a write used to wait out.
HUNG_WRITE_TIMEOUT_SECONDS = 30.0


def test_a_hung_daemon_does_not_hold_writes_up(
    healthy_cluster: Cluster, fs3: BaseClient, fbucket: str
) -> None:
    """SIGSTOP one daemon and write at once, before any poll has marked it down, small and
    large objects side by side. Each write is acknowledged while the daemon still hangs: its
    piece is dropped a short while after the others are durable instead of being waited for
    until the io timeout. The objects have 7 pieces, none on the stopped daemon, and read back
    byte-exact; once it is back, the repairer gives every one its 8 pieces again."""
    cluster = healthy_cluster
    url = cluster.chunk_urls[0]
    pid = chunkd_pid(cluster, url)
    sizes = [4096, 100_000, 3 * MiB + 5, 4096, 64 * 1024]
    objects = {f"hung-{n}": os.urandom(size) for n, size in enumerate(sizes)}

    def put(key: str) -> RawResponse:
        target = f"/{fbucket}/{key}"
        return raw_request(
            cluster, "PUT", target, body=objects[key], timeout=HUNG_WRITE_TIMEOUT_SECONDS
        )

    os.kill(pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(objects)) as pool:
            answers = dict(zip(objects, pool.map(put, objects), strict=True))
        assert process_state(pid) == "T", "the daemon was to be stopped all along"
        for key, answer in answers.items():
            assert answer.status == 200, (key, answer.status, answer.body[:300])
            pieces = pieces_of(cluster, fbucket, key)
            assert len(pieces) == DATA_PIECES + PARITY - 1, (key, sorted(pieces))
            assert all(p["url"] != url for p in pieces.values()), (key, pieces)
            exact(get_answer(cluster, f"/{fbucket}/{key}"), objects[key])
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(
        lambda: all(len(pieces_of(cluster, fbucket, k)) == DATA_PIECES + PARITY for k in objects),
        timeout=RECOVERY_SECONDS,
        interval=0.5,
    )
    for key, data in objects.items():
        exact(get_answer(cluster, f"/{fbucket}/{key}"), data)


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_health_notices_a_stopped_daemon_in_time() -> None:
    """Reads the time measured by the too-few-daemons test above (file order)."""
    assert HEALTH_DOWN_AFTER, "the too-few-daemons test did not run"
    assert HEALTH_DOWN_AFTER[0] <= HEALTH_DOWN_SECONDS, f"{HEALTH_DOWN_AFTER[0]:.1f} s"
