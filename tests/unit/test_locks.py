"""Object Lock rules as pure logic (store/locks.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from s3compat.records import ObjectRecord
from s3compat.store import errors
from s3compat.store.locks import (
    LockConfiguration,
    Retention,
    check_removable,
    check_retention_change,
    format_time,
    lock_headers,
    parse_time,
    without_lock,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def version(retention: Retention | None = None, hold: bool = False) -> ObjectRecord:
    headers = {"content-type": "text/plain", **lock_headers(retention, "ON" if hold else None)}
    return ObjectRecord("b", "k", 1, "e", 0.0, "o", headers, null_version=False)


def test_times_round_trip_in_s3_form() -> None:
    moment = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert format_time(moment) == "2030-05-06T07:08:09.123Z"
    assert parse_time(format_time(moment)) == moment.replace(microsecond=123000)
    assert parse_time("2030-05-06T07:08:09Z") == moment.replace(microsecond=0)
    assert parse_time("tomorrow") is None


@pytest.mark.parametrize(
    ("retention", "hold", "bypass", "removable"),
    [
        (None, False, False, True),
        (Retention("GOVERNANCE", NOW + timedelta(days=1)), False, False, False),
        (Retention("GOVERNANCE", NOW + timedelta(days=1)), False, True, True),
        (Retention("COMPLIANCE", NOW + timedelta(days=1)), False, True, False),
        (Retention("COMPLIANCE", NOW - timedelta(seconds=1)), False, False, True),
        (None, True, True, False),
    ],
)
def test_who_may_remove_a_version(
    retention: Retention | None, hold: bool, bypass: bool, removable: bool
) -> None:
    record = version(retention, hold)
    if removable:
        check_removable(record, bypass_governance=bypass, now=NOW)
    else:
        with pytest.raises(errors.ObjectLocked):
            check_removable(record, bypass_governance=bypass, now=NOW)


def test_retention_may_grow_but_not_shrink() -> None:
    later, sooner = NOW + timedelta(days=2), NOW + timedelta(days=1)
    compliance = version(Retention("COMPLIANCE", sooner))
    check_retention_change(
        compliance, Retention("COMPLIANCE", later), bypass_governance=False, now=NOW
    )
    for wanted in (
        Retention("COMPLIANCE", NOW + timedelta(hours=1)),
        Retention("GOVERNANCE", later),
        None,
    ):
        with pytest.raises(errors.ObjectLocked):
            check_retention_change(compliance, wanted, bypass_governance=True, now=NOW)
    governance = version(Retention("GOVERNANCE", later))
    with pytest.raises(errors.ObjectLocked):  # a change of mode is a change: bypass needed
        check_retention_change(
            governance, Retention("COMPLIANCE", later), bypass_governance=False, now=NOW
        )
    check_retention_change(
        governance, Retention("COMPLIANCE", later), bypass_governance=True, now=NOW
    )
    check_retention_change(
        governance, Retention("GOVERNANCE", later), bypass_governance=False, now=NOW
    )
    with pytest.raises(errors.ObjectLocked):
        check_retention_change(governance, None, bypass_governance=False, now=NOW)
    check_retention_change(governance, None, bypass_governance=True, now=NOW)


def test_default_retention_and_copies() -> None:
    assert LockConfiguration().default_retention(NOW) is None
    days = LockConfiguration.from_json(LockConfiguration("GOVERNANCE", 3, None).to_json())
    assert days.default_retention(NOW) == Retention("GOVERNANCE", NOW + timedelta(days=3))
    years = LockConfiguration("COMPLIANCE", None, 1).default_retention(NOW)
    assert years is not None and years.until == NOW + timedelta(days=365)
    locked = version(Retention("COMPLIANCE", NOW), hold=True)
    assert without_lock(locked.headers) == {"content-type": "text/plain"}
