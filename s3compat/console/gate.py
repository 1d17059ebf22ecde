"""Who may see and do what in the console: the S3 access rules, applied as the S3 API applies
them (`api/auth/access.py`), to the logged-in user as the requester."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.auth import access
from s3compat.api.operations import Op
from s3compat.api.policy.context import RequestFacts
from s3compat.api.router import validate_key
from s3compat.console.pages import console_of, is_admin, user_of
from s3compat.records import BucketRecord, ObjectRecord


def facts(request: web.Request, query: Mapping[str, str]) -> RequestFacts:
    """What a bucket policy may ask about this console request, as of an S3 request with
    `query` from the same client."""
    user = user_of(request)
    return RequestFacts(
        principal=user.access_key,
        principal_name=user.name,
        source_ip=request.remote,
        secure=request.secure,
        headers=request.headers,
        query=query,
        now=datetime.now(UTC),
    )


async def allowed_bucket(
    request: web.Request,
    operation: Op,
    name: str,
    key: str | None = None,
    query: Mapping[str, str] | None = None,
) -> tuple[BucketRecord, ObjectRecord | None]:
    """The bucket (and the key's current version, when the rule needs it) if the user may do
    `operation` on it; NoSuchBucket, NoSuchKey or AccessDenied as S3 would answer."""
    stores = console_of(request).stores
    if key is not None:
        validate_key(key)
    bucket = await stores.buckets.find(name)
    if bucket is None:
        raise errors.NoSuchBucket(BucketName=name)
    principal = user_of(request).access_key
    record = None
    if key is not None and access.needs_object(operation, principal, bucket):
        record = await stores.objects.find_object(name, key)
    request_facts = facts(request, query or {}) if bucket.policy is not None else None
    access.check_access(operation, principal, bucket, record, key, request_facts)
    return bucket, record


def may(
    request: web.Request, operation: Op, bucket: BucketRecord, record: ObjectRecord | None
) -> bool:
    """Whether the user may do `operation` on the object `record` (for links and buttons)."""
    principal = user_of(request).access_key
    if not access.needs_object(operation, principal, bucket):
        record = None
    request_facts = facts(request, {}) if bucket.policy is not None else None
    try:
        access.check_access(
            operation, principal, bucket, record, record.key if record else None, request_facts
        )
    except errors.S3Error:
        return False
    return True


def require_admin(request: web.Request) -> None:
    if not is_admin(user_of(request)):
        raise errors.AccessDenied("Only the cluster's administrator (root) sees this page.")
