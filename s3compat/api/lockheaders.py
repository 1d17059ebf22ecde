"""The `x-amz-object-lock-*` headers of a write (PutObject, CopyObject, CreateMultipartUpload):
what the new version's retention and legal hold are, or the S3 error (as aclheaders.py does
for ACL headers)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from s3compat.api import errors
from s3compat.api.app import Ctx
from s3compat.store import locks
from s3compat.store.locks import Retention

BYPASS_HEADER = "x-amz-bypass-governance-retention"
MISSING_LOCK = "Bucket is missing Object Lock Configuration"


def bypass_governance(ctx: Ctx) -> bool:
    """Whether the request asks to override GOVERNANCE retention and may: the bucket's owner
    may (the one holder here of what IAM calls s3:BypassGovernanceRetention); a grantee of
    the bucket's ACL may not."""
    asked = ctx.request.headers.get(BYPASS_HEADER, "").strip().lower() == "true"
    return asked and ctx.principal is not None and ctx.principal == ctx.bucket_owner


def lock_mode(text: str | None) -> locks.LockMode:
    for mode in locks.MODES:
        if text == mode:
            return mode
    raise (
        errors.MalformedXML()
        if text is None
        else errors.InvalidArgument(
            "Unknown wormMode directive.", ArgumentName="ObjectLockMode", ArgumentValue=text
        )
    )


def future_time(text: str, now: datetime) -> datetime:
    until = locks.parse_time(text)
    if until is None:
        raise errors.InvalidArgument(
            "The retain until date is not valid", ArgumentName="RetainUntilDate"
        )
    if until <= now:
        raise errors.InvalidArgument(
            "The retain until date must be in the future!", ArgumentName="RetainUntilDate"
        )
    return until


async def lock_for_write(ctx: Ctx, headers: Mapping[str, str]) -> dict[str, str]:
    """The lock headers a new version gets: those of the request, else the bucket's default
    retention. A request asking for a lock in a bucket without Object Lock is refused."""
    asked = {name: headers[name] for name in locks.LOCK_HEADERS if name in headers}
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    config = None
    if bucket.versioning == "Enabled":  # Object Lock needs it: no read for other buckets
        config = await ctx.buckets.lock_configuration(ctx.bucket)
    if config is None:
        if asked:
            raise errors.InvalidRequest(MISSING_LOCK)
        return {}
    now = datetime.now(UTC)
    mode, until = asked.get(locks.MODE_HEADER), asked.get(locks.UNTIL_HEADER)
    if (mode is None) != (until is None):
        raise errors.InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )
    hold = asked.get(locks.HOLD_HEADER)
    if hold not in (None, "ON", "OFF"):
        raise errors.InvalidArgument(
            "Legal Hold must be either of 'ON' or 'OFF'", ArgumentName=locks.HOLD_HEADER
        )
    retention = (
        config.default_retention(now)
        if mode is None or until is None
        else Retention(lock_mode(mode), future_time(until, now))
    )
    return locks.lock_headers(retention, hold)
