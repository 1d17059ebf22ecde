"""ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.aclheaders import creation_ownership, requested_acl
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth.request import check_region
from s3compat.api.operations import Op
from s3compat.api.router import validate_bucket_name
from s3compat.api.xml import Node, child_text, local, parse_xml, to_xml
from s3compat.store.buckets import LEGACY_REGION

# ListBuckets answers at most this many buckets per page (S3's limit for max-buckets).
MAX_BUCKETS = 10_000


def xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/xml")


async def list_buckets(ctx: Ctx) -> web.StreamResponse:
    """The requester's buckets by name; `prefix`, and pages of `max-buckets` continued with
    the opaque `continuation-token` of the previous page (the last name it listed)."""
    prefix = ctx.query.get("prefix", "")
    max_buckets = _max_buckets(ctx.query.get("max-buckets"))
    after = _decode_token(ctx.query.get("continuation-token"))
    buckets = [
        b
        for b in await ctx.buckets.owned_by(ctx.user)
        if b.name.startswith(prefix) and b.name > after
    ]
    page, more = buckets[:max_buckets], len(buckets) > max_buckets
    token = base64.urlsafe_b64encode(page[-1].name.encode()).decode() if more else None
    user = await ctx.buckets.user(ctx.user)
    listed: list[tuple[str, Node]] = [
        (
            "Bucket",
            [
                ("Name", b.name),
                ("CreationDate", datetime.fromtimestamp(b.created_at, UTC)),
                ("BucketRegion", b.region),
            ],
        )
        for b in page
    ]
    return xml_response(
        to_xml(
            "ListAllMyBucketsResult",
            [
                ("Owner", owner_xml(ctx.user, user.name if user else ctx.user)),
                ("Buckets", listed),
                ("ContinuationToken", token),
                ("Prefix", prefix if "prefix" in ctx.query else None),
            ],
        )
    )


def _max_buckets(text: str | None) -> int:
    if text is None:
        return MAX_BUCKETS
    if not text.isdigit() or not 1 <= int(text) <= MAX_BUCKETS:
        raise errors.InvalidArgument(
            f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}",
            ArgumentName="max-buckets",
            ArgumentValue=text,
        )
    return int(text)


def _decode_token(token: str | None) -> str:
    """The bucket name a continuation token continues after ("" for none)."""
    if token is None:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError) as error:
        raise errors.InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from error


def owner_xml(access_key: str, name: str) -> list[tuple[str, str]]:
    return [("ID", access_key), ("DisplayName", name)]


_REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


async def create_bucket(ctx: Ctx) -> web.StreamResponse:
    validate_bucket_name(ctx.bucket)
    body = await ctx.request.read()
    if body.strip():
        document = parse_xml(body)
        if local(document) != "CreateBucketConfiguration":
            raise errors.MalformedXML()
        constraint = child_text(document, "LocationConstraint")
        # One store is one region, but clients name the region they want (s3cmd sends its
        # `bucket_location`, e.g. EU): accept any well-formed name and answer it back from
        # GetBucketLocation, as S3's us-east-1 endpoint creates buckets in any region.
        if constraint and not _REGION_NAME.fullmatch(constraint):
            raise errors.InvalidLocationConstraint()
        if constraint == LEGACY_REGION == ctx.config.region:
            # S3's us-east-1 makes a bucket there only without a constraint: naming the region
            # is refused (a store configured for another region accepts its own name).
            raise errors.InvalidLocationConstraint()
        region = constraint or None
    else:
        region = None
    expected = region or ctx.config.region
    check_region(ctx.auth, (ctx.config.region, expected), expected)
    acl = await requested_acl(ctx)
    ownership = creation_ownership(ctx.request.headers, acl, ctx.user)
    lock = ctx.request.headers.get("x-amz-bucket-object-lock-enabled", "false")
    await ctx.buckets.create(
        ctx.bucket,
        ctx.user,
        acl,
        region=region,
        object_lock=lock.strip().lower() == "true",
        ownership=ownership,
    )
    return web.Response(status=200, headers={"Location": f"/{ctx.bucket}"})


async def head_bucket(ctx: Ctx) -> web.StreamResponse:
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    return web.Response(status=200, headers={"x-amz-bucket-region": bucket.region})


async def delete_bucket(ctx: Ctx) -> web.StreamResponse:
    await ctx.buckets.delete(ctx.bucket)
    return web.Response(status=204)


async def get_bucket_location(ctx: Ctx) -> web.StreamResponse:
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    # us-east-1 is answered as an empty LocationConstraint, as S3 does.
    region = "" if bucket.region == "us-east-1" else bucket.region
    return xml_response(to_xml("LocationConstraint", [], text=region or None))


HANDLERS: dict[Op, Handler] = {
    Op.ListBuckets: list_buckets,
    Op.CreateBucket: create_bucket,
    Op.HeadBucket: head_bucket,
    Op.DeleteBucket: delete_bucket,
    Op.GetBucketLocation: get_bucket_location,
}
