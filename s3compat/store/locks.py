"""Object Lock: which versions may not be removed, and until when.

A bucket with Object Lock is versioned for good (it cannot be suspended), and its lock
configuration is a bucket document (`BucketDocument.OBJECT_LOCK`: enabled, and an optional
default retention). A version's retention (mode GOVERNANCE or COMPLIANCE, and a retain-until
time) and legal hold are kept with the version as the headers S3 answers them in
(`x-amz-object-lock-*`), so GET and HEAD return them as they return metadata. A version under
legal hold, under COMPLIANCE retention, or under GOVERNANCE retention without
`x-amz-bypass-governance-retention`, is not removed by anyone: not by DeleteObject with its
version id, not by lifecycle. A delete without a version id only writes a delete marker, which
a lock does not forbid (as on S3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from s3compat.records import ObjectRecord
from s3compat.store import errors

MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
LOCK_HEADERS = (MODE_HEADER, UNTIL_HEADER, HOLD_HEADER)
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")


@dataclass(frozen=True)
class Retention:
    mode: LockMode
    until: datetime

    def header_value(self) -> str:
        return format_time(self.until)


@dataclass(frozen=True)
class LockConfiguration:
    """A bucket's Object Lock configuration: enabled, and the default retention of new
    versions (mode and a period in days or years), if any."""

    mode: LockMode | None = None
    days: int | None = None
    years: int | None = None

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "days": self.days, "years": self.years})

    @classmethod
    def from_json(cls, text: str) -> LockConfiguration:
        item = json.loads(text)
        return cls(item["mode"], item["days"], item["years"])

    def default_retention(self, now: datetime) -> Retention | None:
        if self.mode is None:
            return None
        period = timedelta(days=self.days) if self.days else timedelta(days=365 * (self.years or 0))
        return Retention(self.mode, now + period)


def format_time(moment: datetime) -> str:
    """S3's form of a retain-until date: ISO 8601 in UTC with milliseconds and a Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def retention_of(record: ObjectRecord) -> Retention | None:
    mode = record.headers.get(MODE_HEADER)
    until = parse_time(record.headers.get(UNTIL_HEADER, ""))
    if mode not in MODES or until is None:
        return None
    return Retention(mode, until)


def held(record: ObjectRecord) -> bool:
    return record.headers.get(HOLD_HEADER) == "ON"


def lock_headers(retention: Retention | None, hold: str | None) -> dict[str, str]:
    """The headers a version keeps for its retention and legal hold ("ON", "OFF" or none)."""
    headers = {} if hold is None else {HOLD_HEADER: hold}
    if retention is not None:
        headers[MODE_HEADER] = retention.mode
        headers[UNTIL_HEADER] = retention.header_value()
    return headers


def without_lock(headers: Mapping[str, str]) -> dict[str, str]:
    """Stored headers with any lock state left out (a copy gets its own, not its source's)."""
    return {name: value for name, value in headers.items() if name not in LOCK_HEADERS}


def check_removable(record: ObjectRecord, *, bypass_governance: bool, now: datetime) -> None:
    """Raise ObjectLocked if the version may not be removed now."""
    if record.delete_marker:
        return
    if held(record):
        raise errors.ObjectLocked("the object version is under legal hold")
    retention = retention_of(record)
    if retention is None or retention.until <= now:
        return
    if retention.mode == "COMPLIANCE" or not bypass_governance:
        raise errors.ObjectLocked(
            f"the object version is retained ({retention.mode}) until {retention.header_value()}"
        )


def check_retention_change(
    record: ObjectRecord, wanted: Retention | None, *, bypass_governance: bool, now: datetime
) -> None:
    """A retention may always be extended in its mode; a COMPLIANCE one is never shortened,
    changed or removed before it ends; a GOVERNANCE one only with the bypass."""
    current = retention_of(record)
    if current is None or current.until <= now:
        return
    # Longer in the same mode: always allowed. Any other change of a GOVERNANCE retention
    # (a change of mode included) needs the bypass; of a COMPLIANCE one, is refused.
    if wanted is not None and wanted.mode == current.mode and wanted.until >= current.until:
        return
    if current.mode == "COMPLIANCE" or not bypass_governance:
        raise errors.ObjectLocked(
            "the retention of a locked version cannot be shortened or changed"
        )
