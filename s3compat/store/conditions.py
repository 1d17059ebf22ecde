"""Conditions a request puts on the current version of a key (If-Match, If-None-Match and
their relatives), checked by the store before a write or a delete."""

from __future__ import annotations

from dataclasses import dataclass

from s3compat.records import ObjectRecord
from s3compat.store import errors


@dataclass(frozen=True)
class Precondition:
    """Conditions on the current version of a key, checked before a write or delete.

    `if_match` / `if_none_match` hold an ETag (quoted or not, or a comma-separated list) or
    `*`; `last_modified` (whole seconds) and `size` must equal the current version's.
    """

    if_match: str | None = None
    if_none_match: str | None = None
    last_modified: int | None = None
    size: int | None = None

    def check_write(self, current: ObjectRecord | None) -> None:
        """A write's conditions: If-Match needs a current version (else NoSuchKey, as S3
        answers) whose ETag matches; If-None-Match needs none that matches."""
        if self.if_match is not None:
            if current is None:
                raise errors.NoSuchKey()
            if not etag_in(self.if_match, current.etag):
                raise errors.PreconditionFailed("If-Match")
        if (
            self.if_none_match is not None
            and current is not None
            and etag_in(self.if_none_match, current.etag)
        ):
            raise errors.PreconditionFailed("If-None-Match")

    def check_delete(self, current: ObjectRecord) -> None:
        """A delete's conditions on the version it would remove."""
        if self.if_match is not None and not etag_in(self.if_match, current.etag):
            raise errors.PreconditionFailed("If-Match")
        if self.last_modified is not None and int(current.last_modified) != self.last_modified:
            raise errors.PreconditionFailed("x-amz-if-match-last-modified-time")
        if self.size is not None and current.size != self.size:
            raise errors.PreconditionFailed("x-amz-if-match-size")

    def check_delete_marker(self) -> None:
        """A delete's conditions when the key's latest version is a delete marker: it has no
        ETag, size or time to match, so any condition but `If-Match: *` fails."""
        if (
            self.if_match not in (None, "*")
            or self.last_modified is not None
            or self.size is not None
        ):
            raise errors.PreconditionFailed("the key's latest version is a delete marker")


def etag_in(condition: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match value names `etag` (or is `*`)."""
    wanted = etag.strip('"')
    for candidate in condition.split(","):
        candidate = candidate.strip().removeprefix("W/").strip('"')
        if candidate == "*" or candidate == wanted:
            return True
    return False
