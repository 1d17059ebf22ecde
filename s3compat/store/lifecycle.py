"""The lifecycle pass: carries out every bucket's lifecycle rules (`lifecycle_rules.py` says
what a rule is and what it catches).

What is carried out: `Expiration` (`Days` or `Date`) deletes the current version of matching
keys (in a versioned bucket: writes a delete marker over it); `AbortIncompleteMultipartUpload`
aborts matching uploads (prefix conditions only: an upload has no size yet, and tag filters are
refused with it, as S3 does); `NoncurrentVersionExpiration` and `ExpiredObjectDeleteMarker` act
on the versions of versioned buckets (`noncurrent.py`). Transitions are refused by the API (one
storage class).

The pass runs inside the collector's sweep, at most once per 1/24 of a lifecycle day (hourly with
real days). Deleting is conditional on the version it looked at, so an object overwritten after
the scan is not expired with the old one. Deleted versions' chunks go through the ordinary
deletion queue (grace period for readers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from s3compat.catalog.bucketconfig import BucketConfigCatalog
from s3compat.catalog.catalog import Catalog
from s3compat.catalog.uploads import UploadCatalog
from s3compat.records import ObjectRecord
from s3compat.store.buckets import BucketDocument
from s3compat.store.errors import ObjectLocked
from s3compat.store.lifecycle_rules import (
    Rule,
    aborting_rule,
    expiring_rule,
    rules_from_json,
    scan_ranges,
)
from s3compat.store.locks import check_removable
from s3compat.store.noncurrent import acts_on_versions, doomed_versions

log = logging.getLogger(__name__)

SCAN_BATCH = 1000
# The pass runs at most this many times per lifecycle day.
PASSES_PER_DAY = 24

Row = TypeVar("Row")
Cursor = TypeVar("Cursor")


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
                report.expired_objects += await self._expire_versions(bucket, rules, now)
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
                if rule is None:
                    continue
                # Still this version, or no expiry; in a versioned bucket a delete marker.
                done = await self.catalog.delete_key(
                    bucket,
                    record.key,
                    owner=record.owner,
                    grace_seconds=self.grace_seconds,
                    expected=record.version_id,
                )
                expired += done.outcome == "deleted"
        return expired

    async def _expire_versions(self, bucket: str, rules: list[Rule], now: float) -> int:
        """NoncurrentVersionExpiration and ExpiredObjectDeleteMarker, key by key."""
        acting = [rule for rule in rules if acts_on_versions(rule)]
        removed = 0
        for start, end in scan_ranges(rule.filter.prefix for rule in acting):
            fetch = partial(self._version_page, bucket, end)
            key_versions: list[ObjectRecord] = []
            first: tuple[str, int | None] = (start, None)
            rows = scan_pages(fetch, first, lambda row: (row.key, row.version_id))
            async for record in _and_end(rows):
                if key_versions and (record is None or record.key != key_versions[0].key):
                    for version in doomed_versions(
                        acting, key_versions, now=now, day_seconds=self.day_seconds
                    ):
                        try:
                            gone = await self.catalog.delete_version(
                                bucket,
                                version.key,
                                version.version_id,
                                grace_seconds=self.grace_seconds,
                                check=partial(
                                    check_removable,
                                    bypass_governance=False,
                                    now=datetime.fromtimestamp(now, UTC),
                                ),
                            )
                        except ObjectLocked:
                            continue  # Object Lock outranks lifecycle, as on S3
                        removed += gone is not None
                    key_versions = []
                if record is not None:
                    key_versions.append(record)
        return removed

    async def _version_page(
        self, bucket: str, end: str | None, *, start: tuple[str, int | None], inclusive: bool
    ) -> list[ObjectRecord]:
        key, below = start
        return await self.catalog.list_versions(
            bucket, start=key, inclusive=inclusive, below_version=below, end=end, limit=SCAN_BATCH
        )

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


async def _and_end(rows: AsyncIterator[Row]) -> AsyncIterator[Row | None]:
    """The rows, then None (so that a consumer grouping rows can finish its last group)."""
    async for row in rows:
        yield row
    yield None


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
