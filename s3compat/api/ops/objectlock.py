"""Object Lock on the wire: Get/PutObjectLockConfiguration, Get/PutObjectRetention,
Get/PutObjectLegalHold, and the `x-amz-object-lock-*` headers of a write. What a lock forbids
is kept by the store (`store/locks.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from lxml import etree

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.lockheaders import MISSING_LOCK, bypass_governance, future_time, lock_mode
from s3compat.api.objectmeta import version_header
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.object import version_asked
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.records import ObjectRecord
from s3compat.store import locks
from s3compat.store.buckets import BucketDocument
from s3compat.store.locks import LockConfiguration, Retention


def xml_mode(text: str | None) -> locks.LockMode:
    """A Mode element: GOVERNANCE or COMPLIANCE, anything else MalformedXML (as S3 answers a
    body; a header with another mode is InvalidArgument)."""
    if text not in locks.MODES:
        raise errors.MalformedXML()
    return lock_mode(text)


# --- the bucket's configuration -----------------------------------------------------------


def _parse_configuration(body: bytes) -> LockConfiguration:
    document = parse_xml(body)
    if local(document) != "ObjectLockConfiguration":
        raise errors.MalformedXML()
    if child_text(document, "ObjectLockEnabled") != "Enabled":
        raise errors.MalformedXML()
    rules = children(document, "Rule")
    if not rules:
        return LockConfiguration()
    defaults = children(rules[0], "DefaultRetention")
    if len(rules) > 1 or len(defaults) != 1:
        raise errors.MalformedXML()
    default = defaults[0]
    mode = xml_mode(child_text(default, "Mode"))
    days, years = child_text(default, "Days"), child_text(default, "Years")
    if (days is None) == (years is None):
        raise errors.MalformedXML()
    period = days if days is not None else years
    assert period is not None
    if not period.isdigit() or int(period) <= 0:
        raise errors.InvalidRetentionPeriod()
    number = int(period)
    return LockConfiguration(mode, number if days else None, number if years else None)


async def put_object_lock_configuration(ctx: Ctx) -> web.StreamResponse:
    config = _parse_configuration(await read_document(ctx.request, ctx.auth))
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    if bucket.versioning != "Enabled":
        raise errors.InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
        )
    await ctx.buckets.put_document(ctx.bucket, BucketDocument.OBJECT_LOCK, config.to_json())
    return web.Response(status=200)


async def get_object_lock_configuration(ctx: Ctx) -> web.StreamResponse:
    config = await ctx.buckets.lock_configuration(ctx.bucket)
    if config is None:
        raise errors.ObjectLockConfigurationNotFoundError(BucketName=ctx.bucket)
    body: list[tuple[str, Node]] = [("ObjectLockEnabled", "Enabled")]
    if config.mode is not None:
        period = ("Days", config.days) if config.days else ("Years", config.years)
        body.append(("Rule", [("DefaultRetention", [("Mode", config.mode), period])]))
    return xml_response(to_xml("ObjectLockConfiguration", body))


# --- a version's retention and legal hold --------------------------------------------------


async def _locked_bucket(ctx: Ctx) -> None:
    if await ctx.buckets.lock_configuration(ctx.bucket) is None:
        await ctx.buckets.get(ctx.bucket)
        raise errors.InvalidRequest(MISSING_LOCK)


def _retention_of(document: etree._Element, now: datetime) -> Retention | None:
    if local(document) != "Retention":
        raise errors.MalformedXML()
    mode, until = child_text(document, "Mode"), child_text(document, "RetainUntilDate")
    if mode is None and until is None:
        return None  # an empty Retention removes it (where that is allowed)
    if mode is None or until is None:
        raise errors.MalformedXML()
    return Retention(xml_mode(mode), future_time(until, now))


async def put_object_retention(ctx: Ctx) -> web.StreamResponse:
    await _locked_bucket(ctx)
    now = datetime.now(UTC)
    wanted = _retention_of(parse_xml(await read_document(ctx.request, ctx.auth)), now)
    bypass = bypass_governance(ctx)

    def change(record: ObjectRecord) -> dict[str, str]:
        locks.check_retention_change(record, wanted, bypass_governance=bypass, now=now)
        headers = {
            k: v
            for k, v in record.headers.items()
            if k not in (locks.MODE_HEADER, locks.UNTIL_HEADER)
        }
        return {**headers, **locks.lock_headers(wanted, None)}

    record = await ctx.objects.change_headers(ctx.bucket, ctx.key, version_asked(ctx), change)
    return web.Response(status=200, headers=version_header(record))


async def get_object_retention(ctx: Ctx) -> web.StreamResponse:
    await _locked_bucket(ctx)
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    retention = locks.retention_of(record)
    if retention is None:
        raise errors.NoSuchObjectLockConfiguration()
    body: list[tuple[str, Node]] = [
        ("Mode", retention.mode),
        ("RetainUntilDate", retention.header_value()),
    ]
    return xml_response(to_xml("Retention", body))


async def put_object_legal_hold(ctx: Ctx) -> web.StreamResponse:
    await _locked_bucket(ctx)
    document = parse_xml(await read_document(ctx.request, ctx.auth))
    status = child_text(document, "Status")
    if local(document) != "LegalHold" or status not in ("ON", "OFF"):
        raise errors.MalformedXML()

    def change(record: ObjectRecord) -> dict[str, str]:
        return {**record.headers, locks.HOLD_HEADER: status or "OFF"}

    record = await ctx.objects.change_headers(ctx.bucket, ctx.key, version_asked(ctx), change)
    return web.Response(status=200, headers=version_header(record))


async def get_object_legal_hold(ctx: Ctx) -> web.StreamResponse:
    await _locked_bucket(ctx)
    record = await ctx.objects.head_object(ctx.bucket, ctx.key, version_asked(ctx))
    status = record.headers.get(locks.HOLD_HEADER)
    if status is None:
        raise errors.NoSuchObjectLockConfiguration()
    return xml_response(to_xml("LegalHold", [("Status", status)]))


HANDLERS: dict[Op, Handler] = {
    Op.PutObjectLockConfiguration: put_object_lock_configuration,
    Op.GetObjectLockConfiguration: get_object_lock_configuration,
    Op.PutObjectRetention: put_object_retention,
    Op.GetObjectRetention: get_object_retention,
    Op.PutObjectLegalHold: put_object_legal_hold,
    Op.GetObjectLegalHold: get_object_legal_hold,
}
