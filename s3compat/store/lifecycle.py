"""Bucket lifecycle rules: what they are, which object or upload each one catches, and the pass
that carries them out.

Matching is pure: given a rule, an object's key, size, tags and last-modified time (or an
upload's key and initiation time), a day length in seconds and the time now, it says whether the
object has expired or the upload is due for abort. Days are counted as S3 counts them: the
creation time plus N days, rounded up to the next day boundary (midnight UTC when a day is
86,400 s; `GatewayConfig.lifecycle_day_seconds` shortens days for tests). A `Date` rule applies
to every matching object once that date has passed.

What is carried out: `Expiration` (`Days` or `Date`) deletes the current version of matching
keys; `AbortIncompleteMultipartUpload` aborts matching uploads (prefix conditions only: an
upload has no size yet, and tag filters are refused with it, as S3 does). Buckets are never
versioned here, so `NoncurrentVersionExpiration` and `ExpiredObjectDeleteMarker` are stored and
answered but have nothing to act on, as on an unversioned S3 bucket. Transitions are refused by
the API (one storage class).

The pass runs inside the collector's sweep, at most once per 1/24 of a lifecycle day (hourly with
real days). Deleting is conditional on the version it looked at, so an object overwritten after
the scan is not expired with the old one. Deleted versions' chunks go through the ordinary
deletion queue (grace period for readers).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar

from s3compat.catalog.bucketconfig import BucketConfigCatalog
from s3compat.catalog.catalog import Catalog
from s3compat.catalog.uploads import UploadCatalog
from s3compat.store.buckets import BucketDocument
from s3compat.store.listing import prefix_end

log = logging.getLogger(__name__)

MAX_RULES = 1000
SCAN_BATCH = 1000
# The pass runs at most this many times per lifecycle day.
PASSES_PER_DAY = 24

Row = TypeVar("Row")
Cursor = TypeVar("Cursor")


# How a filter was written: see RuleFilter.
FilterForm = Literal["legacy", "empty", "prefix", "tag", "greater", "less", "and"]


@dataclass(frozen=True)
class RuleFilter:
    """Which keys a rule applies to. `form` remembers how the client wrote it, to answer it
    back the same way: "legacy" (a `Prefix` directly in the rule), "empty" (`<Filter/>`),
    "prefix", "tag", "greater", "less" (one condition in `Filter`) or "and"."""

    form: FilterForm = "empty"
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_greater_than: int | None = None
    size_less_than: int | None = None


@dataclass(frozen=True)
class Rule:
    """One lifecycle rule, validated."""

    rule_id: str
    enabled: bool
    filter: RuleFilter = field(default_factory=RuleFilter)
    expiration_days: int | None = None
    expiration_date: datetime | None = None
    # Stored and answered; nothing to act on in an unversioned bucket.
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_days: int | None = None

    @property
    def expires_objects(self) -> bool:
        return self.enabled and (
            self.expiration_days is not None or self.expiration_date is not None
        )

    @property
    def aborts_uploads(self) -> bool:
        return self.enabled and self.abort_days is not None


# --- pure matching ------------------------------------------------------------------------


def after_days(start: float, days: int, day_seconds: float) -> float:
    """`start` plus `days` days, rounded up to the next day boundary (S3's rule)."""
    return math.ceil((start + days * day_seconds) / day_seconds) * day_seconds


def object_matches(
    rule_filter: RuleFilter, key: str, size: int, tags: Mapping[str, str] | None
) -> bool:
    """Whether an object with this key, size and tags is within the filter."""
    if not key.startswith(rule_filter.prefix):
        return False
    object_tags = tags or {}
    if any(object_tags.get(name) != value for name, value in rule_filter.tags):
        return False
    if rule_filter.size_greater_than is not None and not size > rule_filter.size_greater_than:
        return False
    return rule_filter.size_less_than is None or size < rule_filter.size_less_than


def object_expiry(rule: Rule, last_modified: float, day_seconds: float) -> float | None:
    """When an object written at `last_modified` expires under `rule` (None: never)."""
    if not rule.enabled:
        return None
    if rule.expiration_days is not None:
        return after_days(last_modified, rule.expiration_days, day_seconds)
    if rule.expiration_date is not None:
        return rule.expiration_date.timestamp()
    return None


def expiring_rule(
    rules: Iterable[Rule],
    *,
    key: str,
    size: int,
    tags: Mapping[str, str] | None,
    last_modified: float,
    now: float,
    day_seconds: float,
) -> Rule | None:
    """The first rule under which the object has expired at `now`, if any."""
    for rule in rules:
        expiry = object_expiry(rule, last_modified, day_seconds)
        if expiry is not None and now >= expiry and object_matches(rule.filter, key, size, tags):
            return rule
    return None


def aborting_rule(
    rules: Iterable[Rule], *, key: str, initiated_at: float, now: float, day_seconds: float
) -> Rule | None:
    """The first rule under which an upload of `key` started at `initiated_at` is due for
    abort at `now`, if any. Only the prefix counts (an upload has no size, tag filters are
    refused with this action)."""
    for rule in rules:
        if (
            rule.aborts_uploads
            and rule.abort_days is not None
            and key.startswith(rule.filter.prefix)
        ):
            if now >= after_days(initiated_at, rule.abort_days, day_seconds):
                return rule
    return None


def scan_ranges(prefixes: Iterable[str]) -> list[tuple[str, str | None]]:
    """Key ranges [start, end) covering every key under any of `prefixes`, without overlap."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return [(prefix, prefix_end(prefix) if prefix else None) for prefix in kept]


# --- stored form --------------------------------------------------------------------------


def rules_to_json(rules: Sequence[Rule]) -> str:
    """The catalog's text form of a lifecycle configuration."""
    return json.dumps({"rules": [_rule_to_dict(rule) for rule in rules]})


def rules_from_json(text: str) -> list[Rule]:
    document = json.loads(text)
    return [_rule_from_dict(item) for item in document["rules"]]


def _rule_to_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.rule_id,
        "enabled": rule.enabled,
        "filter": {
            "form": rule.filter.form,
            "prefix": rule.filter.prefix,
            "tags": [list(tag) for tag in rule.filter.tags],
            "gt": rule.filter.size_greater_than,
            "lt": rule.filter.size_less_than,
        },
        "expiration_days": rule.expiration_days,
        "expiration_date": None
        if rule.expiration_date is None
        else rule.expiration_date.isoformat(),
        "expired_object_delete_marker": rule.expired_object_delete_marker,
        "noncurrent_days": rule.noncurrent_days,
        "newer_noncurrent_versions": rule.newer_noncurrent_versions,
        "abort_days": rule.abort_days,
    }


def _rule_from_dict(item: dict[str, Any]) -> Rule:
    stored_filter = item["filter"]
    date = item["expiration_date"]
    return Rule(
        rule_id=item["id"],
        enabled=item["enabled"],
        filter=RuleFilter(
            form=stored_filter["form"],
            prefix=stored_filter["prefix"],
            tags=tuple((str(k), str(v)) for k, v in stored_filter["tags"]),
            size_greater_than=stored_filter["gt"],
            size_less_than=stored_filter["lt"],
        ),
        expiration_days=item["expiration_days"],
        expiration_date=None if date is None else datetime.fromisoformat(date).astimezone(UTC),
        expired_object_delete_marker=item["expired_object_delete_marker"],
        noncurrent_days=item["noncurrent_days"],
        newer_noncurrent_versions=item["newer_noncurrent_versions"],
        abort_days=item["abort_days"],
    )


# --- the pass -----------------------------------------------------------------------------


@dataclass
class LifecycleReport:
    expired_objects: int = 0
    aborted_uploads: int = 0

    @property
    def actions(self) -> int:
        return self.expired_objects + self.aborted_uploads


@dataclass(eq=False)
class LifecyclePass:
    """Carries out every bucket's lifecycle rules; the collector calls `maybe_run` each sweep."""

    configs: BucketConfigCatalog
    catalog: Catalog
    uploads: UploadCatalog
    _: KW_ONLY
    day_seconds: float
    grace_seconds: float
    clock: Callable[[], float] = time.time
    _last_run: float | None = field(default=None, init=False)

    async def maybe_run(self) -> int:
        """Run a pass unless one ran less than 1/24 lifecycle day ago; the number of actions."""
        now = self.clock()
        if self._last_run is not None and now - self._last_run < self.day_seconds / PASSES_PER_DAY:
            return 0
        self._last_run = now
        report = await self.run(now)
        return report.actions

    async def run(self, now: float) -> LifecycleReport:
        """One pass over every bucket with rules. A bucket whose pass fails is logged and left
        for the next pass; the others go on (and so does the collector's sweep)."""
        report = LifecycleReport()
        for bucket, text in await self.configs.all_named(BucketDocument.LIFECYCLE):
            try:
                rules = rules_from_json(text)
                report.expired_objects += await self._expire_objects(bucket, rules, now)
                report.aborted_uploads += await self._abort_uploads(bucket, rules, now)
            except Exception:
                log.exception("lifecycle pass over bucket %s failed", bucket)
        if report.actions:
            log.info(
                "lifecycle: %d objects expired, %d uploads aborted",
                report.expired_objects,
                report.aborted_uploads,
            )
        return report

    async def _expire_objects(self, bucket: str, rules: list[Rule], now: float) -> int:
        expiring = [rule for rule in rules if rule.expires_objects]
        expired = 0
        for start, end in scan_ranges(rule.filter.prefix for rule in expiring):
            fetch = partial(self.catalog.list_objects, bucket, end=end, limit=SCAN_BATCH)
            async for record in scan_pages(fetch, start, lambda row: row.key):
                rule = expiring_rule(
                    expiring,
                    key=record.key,
                    size=record.size,
                    tags=record.tags,
                    last_modified=record.last_modified,
                    now=now,
                    day_seconds=self.day_seconds,
                )
                if rule is not None and await self.configs.delete_version(
                    bucket, record.key, record.version_id, grace_seconds=self.grace_seconds
                ):
                    expired += 1
        return expired

    async def _abort_uploads(self, bucket: str, rules: list[Rule], now: float) -> int:
        aborting = [rule for rule in rules if rule.aborts_uploads]
        if not aborting:
            return 0
        aborted = 0
        fetch = partial(self.uploads.list_uploads, bucket, end=None, limit=SCAN_BATCH)
        async for upload in scan_pages(fetch, ("", ""), lambda row: (row.key, row.upload_id)):
            rule = aborting_rule(
                aborting,
                key=upload.key,
                initiated_at=upload.initiated_at,
                now=now,
                day_seconds=self.day_seconds,
            )
            if rule is not None and await self.uploads.abort(upload.upload_id):
                aborted += 1
        return aborted


async def scan_pages(
    fetch: Callable[..., Awaitable[list[Row]]], start: Cursor, cursor: Callable[[Row], Cursor]
) -> AsyncIterator[Row]:
    """Every row a listing query returns from `start` on, asked SCAN_BATCH at a time:
    `fetch(start=..., inclusive=...)` answers one page, `cursor(row)` is where the page after
    `row` starts (exclusive)."""
    inclusive = True
    while True:
        batch = await fetch(start=start, inclusive=inclusive)
        for row in batch:
            yield row
        if len(batch) < SCAN_BATCH:
            return
        start, inclusive = cursor(batch[-1]), False
