"""Listing keys with prefix, delimiter and marker, in S3's order (UTF-8 binary).

Keys that share a prefix up to the delimiter roll up into one common prefix; the listing then
jumps past every key under that common prefix with one query instead of reading them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from s3compat.catalog.catalog import Catalog
from s3compat.records import ObjectRecord

E = TypeVar("E")  # a listed record
P = TypeVar("P")  # a position in the listing's order
MAX_CODE_POINT = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)


@dataclass
class ListPage:
    """One page of a listing: objects and common prefixes, merged in key order."""

    objects: list[ObjectRecord] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    # The last key or common prefix returned (S3's NextMarker); None on an empty page.
    last: str | None = None


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix`.

    None when there is none (empty prefix, or only U+10FFFF characters).
    """
    chars = list(prefix)
    while chars and ord(chars[-1]) == MAX_CODE_POINT:
        chars.pop()
    if not chars:
        return None
    following = ord(chars[-1]) + 1
    if following in SURROGATES:
        following = SURROGATES.stop
    chars[-1] = chr(following)
    return "".join(chars)


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix `key` rolls up into, or None if it is listed as itself."""
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    if position < 0:
        return None
    return key[: position + len(delimiter)]


async def list_page(
    catalog: Catalog,
    bucket: str,
    *,
    prefix: str,
    delimiter: str,
    marker: str,
    max_keys: int,
) -> ListPage:
    """Up to `max_keys` entries after `marker` (exclusive)."""
    page = ListPage()

    async def fetch(start: str, inclusive: bool, limit: int) -> Sequence[ObjectRecord]:
        return await catalog.list_objects(
            bucket, start=start, inclusive=inclusive, end=end, limit=limit
        )

    end = prefix_end(prefix) if prefix else None
    walked = await walk(
        fetch,
        key_of=lambda record: record.key,
        position_of=lambda record: record.key,
        position_at=lambda key: key,
        prefix=prefix,
        delimiter=delimiter,
        marker=(marker, marker),
        limit=max_keys,
    )
    for entry in walked.entries:
        if isinstance(entry, str):
            page.common_prefixes.append(entry)
            page.last = entry
        else:
            page.objects.append(entry)
            page.last = entry.key
    page.truncated = walked.truncated
    return page


@dataclass
class Walked(Generic[E]):
    """A page of entries (a str: a common prefix) in key order, and whether more follow."""

    entries: list[E | str] = field(default_factory=list)
    truncated: bool = False


async def walk(
    fetch: Callable[[P, bool, int], Awaitable[Sequence[E]]],
    *,
    key_of: Callable[[E], str],
    position_of: Callable[[E], P],
    position_at: Callable[[str], P],
    prefix: str,
    delimiter: str,
    marker: tuple[str, P],
    limit: int,
) -> Walked[E]:
    """Up to `limit` entries (records, and common prefixes rolled up by `delimiter`) after
    `marker` = (its key, its position), of keys starting with `prefix`.

    `fetch(start, inclusive, n)` gives up to n records at or after position `start` in order;
    `position_of` is a record's position, `position_at(key)` the first position of a key.
    """
    walked: Walked[E] = Walked()
    if limit <= 0:
        return walked
    marker_key, start = marker
    inclusive = False
    if marker_key < prefix:
        start, inclusive = position_at(prefix), True
    else:
        # A marker inside a common prefix: that prefix was returned already, skip all of it.
        rolled = (
            common_prefix(marker_key, prefix, delimiter) if marker_key.startswith(prefix) else None
        )
        if rolled is not None:
            after = prefix_end(rolled)
            if after is None:
                return walked
            start, inclusive = position_at(after), True
    while True:
        wanted = limit - len(walked.entries) + 1
        batch = await fetch(start, inclusive, wanted)
        if not batch:
            return walked
        for record in batch:
            if len(walked.entries) == limit:
                walked.truncated = True
                return walked
            rolled = common_prefix(key_of(record), prefix, delimiter)
            if rolled is None:
                walked.entries.append(record)
                start, inclusive = position_of(record), False
                continue
            walked.entries.append(rolled)
            after = prefix_end(rolled)
            if after is None:
                return walked
            start, inclusive = position_at(after), True
            break  # re-query from past the common prefix
        else:
            if len(batch) < wanted:
                return walked  # a short batch without roll-ups: nothing is left
