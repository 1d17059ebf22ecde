"""Listing keys with prefix, delimiter and marker, in S3's order (UTF-8 binary).

Keys that share a prefix up to the delimiter roll up into one common prefix; the listing then
jumps past every key under that common prefix with one query instead of reading them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3compat.catalog.catalog import Catalog
from s3compat.catalog.records import ObjectRecord

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
    if max_keys <= 0:
        return page
    start, inclusive = marker, False
    if marker < prefix:
        start, inclusive = prefix, True
    else:
        # A marker inside a common prefix: that prefix was returned already, skip all of it.
        rolled = common_prefix(marker, prefix, delimiter) if marker.startswith(prefix) else None
        if rolled is not None:
            after = prefix_end(rolled)
            if after is None:
                return page
            start, inclusive = after, True
    end = prefix_end(prefix) if prefix else None
    count = 0
    while True:
        limit = max_keys - count + 1
        batch = await catalog.list_objects(
            bucket, start=start, inclusive=inclusive, end=end, limit=limit
        )
        if not batch:
            return page
        for record in batch:
            if count == max_keys:
                page.truncated = True
                return page
            rolled = common_prefix(record.key, prefix, delimiter)
            if rolled is None:
                page.objects.append(record)
                page.last = record.key
                count += 1
                start, inclusive = record.key, False
                continue
            page.common_prefixes.append(rolled)
            page.last = rolled
            count += 1
            after = prefix_end(rolled)
            if after is None:
                return page
            start, inclusive = after, True
            break  # re-query from past the common prefix
        else:
            if len(batch) < limit:
                return page  # a short batch without roll-ups: nothing is left
