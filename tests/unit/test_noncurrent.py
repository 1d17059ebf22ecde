"""Lifecycle decisions over one key's versions (store/noncurrent.py)."""

from __future__ import annotations

from s3compat.records import ObjectRecord
from s3compat.store.lifecycle_rules import Rule, RuleFilter
from s3compat.store.noncurrent import doomed_versions

DAY = 10.0


def version(n: int, written: float, *, marker: bool = False, key: str = "k") -> ObjectRecord:
    return ObjectRecord(
        "b", key, 1, "e", written, "o", {}, version_id=n, null_version=False, delete_marker=marker
    )


def noncurrent(days: int, newer: int | None = None, prefix: str = "") -> Rule:
    return Rule(
        "r",
        True,
        RuleFilter(form="prefix", prefix=prefix),
        noncurrent_days=days,
        newer_noncurrent_versions=newer,
    )


MARKERS = Rule("m", True, RuleFilter(), expired_object_delete_marker=True)


def ids(records: list[ObjectRecord]) -> list[int]:
    return [r.version_id for r in records]


def test_noncurrent_days_count_from_the_next_newer_version() -> None:
    # newest first: v3 written at 50 (current), v2 at 40, v1 at 0
    versions = [version(3, 50), version(2, 40), version(1, 0)]
    rule = noncurrent(1)
    # v2 became noncurrent at 50: due at 60; v1 at 40: due at 50
    assert ids(doomed_versions([rule], versions, now=49, day_seconds=DAY)) == []
    assert ids(doomed_versions([rule], versions, now=50, day_seconds=DAY)) == [1]
    assert ids(doomed_versions([rule], versions, now=60, day_seconds=DAY)) == [2, 1]


def test_newer_noncurrent_versions_are_kept_whatever_their_age() -> None:
    versions = [version(n, 10 * n) for n in (5, 4, 3, 2, 1)]
    assert ids(doomed_versions([noncurrent(1, newer=2)], versions, now=1e6, day_seconds=DAY)) == [
        2,
        1,
    ]


def test_current_version_and_other_prefixes_are_never_taken() -> None:
    versions = [version(2, 10, key="logs/a"), version(1, 0, key="logs/a")]
    assert (
        doomed_versions([noncurrent(1, prefix="data/")], versions, now=1e6, day_seconds=DAY) == []
    )
    assert ids(
        doomed_versions([noncurrent(1, prefix="logs/")], versions, now=1e6, day_seconds=DAY)
    ) == [1]


def test_a_lone_delete_marker_goes_only_when_nothing_else_is_left() -> None:
    lone = [version(2, 10, marker=True)]
    assert ids(doomed_versions([MARKERS], lone, now=11, day_seconds=DAY)) == [2]
    over_data = [version(2, 10, marker=True), version(1, 0)]
    assert doomed_versions([MARKERS], over_data, now=1e6, day_seconds=DAY) == []
    # ... unless the same pass removes that data
    both = doomed_versions([MARKERS, noncurrent(1)], over_data, now=1e6, day_seconds=DAY)
    assert ids(both) == [1, 2]
    # a marker that is not the latest is left alone
    assert (
        doomed_versions(
            [MARKERS], [version(3, 20), version(2, 10, marker=True)], now=1e6, day_seconds=DAY
        )
        == []
    )


def test_disabled_rules_do_nothing() -> None:
    off = Rule("r", False, RuleFilter(), noncurrent_days=1, expired_object_delete_marker=True)
    versions = [version(3, 10, marker=True), version(1, 0)]
    assert doomed_versions([off], versions, now=1e6, day_seconds=DAY) == []
