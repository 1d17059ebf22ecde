"""Lifecycle rules: what they are, which object or upload each one catches (pure matching),
and their stored form. Matching is pure: given a rule, an object's key, size, tags and
last-modified time (or an upload's key and initiation time), a day length in seconds and the
time now, it says whether the object has expired or the upload is due for abort. Days are
counted as S3 counts them: the creation time plus N days, rounded up to the next day boundary
(midnight UTC when a day is 86,400 s; `GatewayConfig.lifecycle_day_seconds` shortens days for
tests). A `Date` rule applies to every matching object once that date has passed."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from s3compat.store.listing import prefix_end

MAX_RULES = 1000

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
    # Versioned buckets only (store/noncurrent.py).
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


DAY_SECONDS = 86_400.0


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


def expiration_of(
    rules: Iterable[Rule], *, key: str, size: int, tags: Mapping[str, str] | None, written: float
) -> tuple[float, str] | None:
    """When the current version written at `written` will expire, and by which rule: the
    earliest of the enabled Expiration rules that match it, in real days (None: never). What
    S3 answers as `x-amz-expiration` on PUT, HEAD and GET."""
    found = [
        (expiry, rule.rule_id)
        for rule in rules
        if object_matches(rule.filter, key, size, tags)
        and (expiry := object_expiry(rule, written, DAY_SECONDS)) is not None
    ]
    return min(found) if found else None


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
