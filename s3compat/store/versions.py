"""Versions as S3 names them, and the listing of versions.

Every version has an internal id from one sequence (`ObjectRecord.version_id`, which also
orders a key's versions); its S3 version id is "null" for the null version, else that id as
16 hex digits. A version id this store never handed out is InvalidVersion (S3: 400), a
well-formed one the key does not have is NoSuchVersion (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3compat.catalog.catalog import Catalog
from s3compat.records import ObjectRecord
from s3compat.store import errors
from s3compat.store.listing import prefix_end, walk

if TYPE_CHECKING:
    from s3compat.store.buckets import BucketStore

NULL_VERSION = "null"
_TOKEN_DIGITS = 16


def version_token(record: ObjectRecord) -> str:
    """The S3 version id of a version."""
    return NULL_VERSION if record.null_version else f"{record.version_id:0{_TOKEN_DIGITS}x}"


def parse_version(token: str) -> int | None:
    """The internal id an S3 version id names (None: the null version)."""
    if token == NULL_VERSION:
        return None
    if len(token) != _TOKEN_DIGITS or token.strip("0123456789abcdef"):
        raise errors.InvalidVersion(token)
    return int(token, 16)


@dataclass(frozen=True)
class Deleted:
    """What a delete did, as DeleteObject answers it: the version id it removed or the delete
    marker it wrote (None: a bucket never versioned), and whether that is a delete marker."""

    version: str | None = None
    delete_marker: bool = False


@dataclass
class VersionPage:
    """One page of ListObjectVersions: versions and delete markers (with whether each is its
    key's latest), and common prefixes, in S3's order."""

    versions: list[tuple[ObjectRecord, bool]] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    # Where the next page starts (S3's NextKeyMarker, NextVersionIdMarker).
    next_key: str | None = None
    next_version: str | None = None


# A position in the listing: (key, internal id of the last version listed, None: before all).
_Position = tuple[str, int | None]


@dataclass(frozen=True)
class VersionListing:
    """What a ListObjectVersions request asks for."""

    prefix: str = ""
    delimiter: str = ""
    key_marker: str = ""
    version_marker: str | None = None
    max_keys: int = 1000


async def list_versions_page(catalog: Catalog, bucket: str, asked: VersionListing) -> VersionPage:
    """Up to `max_keys` versions and common prefixes after (key_marker, version_marker)."""
    prefix, key_marker, version_marker = asked.prefix, asked.key_marker, asked.version_marker
    end = prefix_end(prefix) if prefix else None
    start: _Position = (key_marker, None)
    if version_marker is not None and key_marker:
        below = parse_version(version_marker)
        if below is None:
            null = await catalog.head_version(bucket, key_marker, None)
            start = (key_marker, None if null is None else null.version_id)
        else:
            start = (key_marker, below)

    async def fetch(position: _Position, inclusive: bool, limit: int) -> Sequence[ObjectRecord]:
        key, below = position
        return await catalog.list_versions(
            bucket, start=key, inclusive=inclusive, below_version=below, end=end, limit=limit
        )

    walked = await walk(
        fetch,
        key_of=lambda record: record.key,
        position_of=lambda record: (record.key, record.version_id),
        position_at=lambda key: (key, None),
        prefix=prefix,
        delimiter=asked.delimiter,
        marker=(key_marker, start),
        limit=asked.max_keys,
    )
    page = VersionPage(truncated=walked.truncated)
    # The first version listed of each key is its latest, unless the page began inside the
    # key's versions (after a version-id marker).
    previous = key_marker if start[1] is not None else None
    for entry in walked.entries:
        if isinstance(entry, str):
            page.common_prefixes.append(entry)
            page.next_key, page.next_version = entry, None
            previous = None
            continue
        page.versions.append((entry, entry.key != previous))
        previous = entry.key
        page.next_key, page.next_version = entry.key, version_token(entry)
    if not page.truncated:
        page.next_key = page.next_version = None
    return page


async def found_version(
    buckets: BucketStore, bucket: str, key: str, version: str, record: ObjectRecord | None
) -> ObjectRecord:
    """A version read by id, or the error saying why there is none to read."""
    if record is None:
        await buckets.get(bucket)  # NoSuchBucket first
        raise errors.NoSuchVersion(key, version)
    if record.delete_marker:
        raise errors.DeleteMarker(key, version, by_id=True, last_modified=record.last_modified)
    return record


async def missing_object(catalog: Catalog, buckets: BucketStore, bucket: str, key: str) -> None:
    """The key has no current object: raise NoSuchBucket, the delete marker that is its
    latest version, or NoSuchKey."""
    await buckets.get(bucket)
    latest = await catalog.latest_version(bucket, key)
    if latest is not None and latest.delete_marker:
        raise errors.DeleteMarker(
            key, version_token(latest), by_id=False, last_modified=latest.last_modified
        )
    raise errors.NoSuchKey(key)
