"""ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation, GetBucketVersioning."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.objectmeta import canned_acl
from s3compat.api.router import validate_bucket_name
from s3compat.api.xml import child_text, local, parse_xml, to_xml


def xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/xml")


async def list_buckets(ctx: Ctx) -> web.StreamResponse:
    buckets = await ctx.store.list_buckets(ctx.principal)
    user = await ctx.store.catalog.get_user(ctx.principal)
    return xml_response(
        to_xml(
            "ListAllMyBucketsResult",
            [
                ("Owner", owner_xml(ctx.principal, user.name if user else ctx.principal)),
                (
                    "Buckets",
                    [
                        (
                            "Bucket",
                            [
                                ("Name", b.name),
                                ("CreationDate", datetime.fromtimestamp(b.created_at, UTC)),
                                ("BucketRegion", b.region),
                            ],
                        )
                        for b in buckets
                    ],
                ),
            ],
        )
    )


def owner_xml(access_key: str, name: str) -> list[tuple[str, str]]:
    return [("ID", access_key), ("DisplayName", name)]


async def create_bucket(ctx: Ctx) -> web.StreamResponse:
    validate_bucket_name(ctx.bucket)
    body = await ctx.request.read()
    if body.strip():
        document = parse_xml(body)
        if local(document) != "CreateBucketConfiguration":
            raise errors.MalformedXML()
        constraint = child_text(document, "LocationConstraint")
        if constraint and constraint != ctx.config.region:
            raise errors.IllegalLocationConstraintException(
                f"The {constraint} location constraint is incompatible for the region specific "
                f"endpoint this request was sent to."
            )
    await ctx.store.create_bucket(ctx.bucket, ctx.principal, canned_acl(ctx.request.headers))
    return web.Response(status=200, headers={"Location": f"/{ctx.bucket}"})


async def head_bucket(ctx: Ctx) -> web.StreamResponse:
    bucket = await ctx.store.bucket(ctx.bucket, ctx.principal)
    return web.Response(status=200, headers={"x-amz-bucket-region": bucket.region})


async def delete_bucket(ctx: Ctx) -> web.StreamResponse:
    await ctx.store.delete_bucket(ctx.bucket, ctx.principal)
    return web.Response(status=204)


async def get_bucket_location(ctx: Ctx) -> web.StreamResponse:
    bucket = await ctx.store.bucket(ctx.bucket, ctx.principal)
    # us-east-1 is answered as an empty LocationConstraint, as S3 does.
    region = "" if bucket.region == "us-east-1" else bucket.region
    return xml_response(to_xml("LocationConstraint", [], text=region or None))


async def get_bucket_versioning(ctx: Ctx) -> web.StreamResponse:
    await ctx.store.bucket(ctx.bucket, ctx.principal)
    # Never enabled: the empty document means "versioning was never turned on".
    return xml_response(to_xml("VersioningConfiguration", []))


HANDLERS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "GetBucketVersioning": get_bucket_versioning,
}
