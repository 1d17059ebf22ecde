"""Lifecycle for versioned buckets, as pure decisions over one key's versions (newest first):
`NoncurrentVersionExpiration` removes a noncurrent version `NoncurrentDays` after it became
noncurrent (when the next newer version was written), keeping the `NewerNoncurrentVersions`
newest noncurrent ones whatever their age; `ExpiredObjectDeleteMarker` removes a delete marker
that is its key's latest version once no other version is left (or all are removed now)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from s3compat.records import ObjectRecord
from s3compat.store.lifecycle_rules import Rule, after_days, object_matches


def acts_on_versions(rule: Rule) -> bool:
    return rule.enabled and (
        rule.noncurrent_days is not None or bool(rule.expired_object_delete_marker)
    )


def doomed_versions(
    rules: Sequence[Rule], versions: Sequence[ObjectRecord], *, now: float, day_seconds: float
) -> list[ObjectRecord]:
    """The versions of one key (newest first, all of it) that the rules remove at `now`."""
    doomed: list[ObjectRecord] = []
    noncurrent = 0
    for newer, version in itertools.pairwise(versions):
        if version.delete_marker:
            continue  # a noncurrent marker hides nothing; left as S3 leaves it
        noncurrent += 1
        for rule in rules:
            if (
                rule.enabled
                and rule.noncurrent_days is not None
                and noncurrent > (rule.newer_noncurrent_versions or 0)
                and now >= after_days(newer.last_modified, rule.noncurrent_days, day_seconds)
                and object_matches(rule.filter, version.key, version.size, version.tags)
            ):
                doomed.append(version)
                break
    latest = versions[0] if versions else None
    if (
        latest is not None
        and latest.delete_marker
        and all(v in doomed for v in versions[1:] if not v.delete_marker)
        and len([v for v in versions[1:] if v.delete_marker]) == 0
        and any(
            rule.enabled
            and rule.expired_object_delete_marker
            and latest.key.startswith(rule.filter.prefix)
            for rule in rules
        )
    ):
        doomed.append(latest)
    return doomed
