"""Get/Put/Delete of a bucket configuration document (tagging, lifecycle, policy, ...), one
shape for all: the Put body is parsed and checked into the stored text, the Get renders that
text back, a bucket without the document answers the operation's own "no such configuration"
error, and Delete of an absent document is no error (as on S3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from s3compat.api.app import Ctx, Handler
from s3compat.api.body import read_document
from s3compat.api.errors import S3Error
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.store.buckets import BucketDocument

# The Put, Get and Delete operation of each document.
OPERATIONS: dict[BucketDocument, tuple[Op, Op, Op]] = {
    BucketDocument.TAGGING: (Op.PutBucketTagging, Op.GetBucketTagging, Op.DeleteBucketTagging),
    BucketDocument.LIFECYCLE: (
        Op.PutBucketLifecycleConfiguration,
        Op.GetBucketLifecycleConfiguration,
        Op.DeleteBucketLifecycle,
    ),
    BucketDocument.POLICY: (Op.PutBucketPolicy, Op.GetBucketPolicy, Op.DeleteBucketPolicy),
    BucketDocument.CORS: (Op.PutBucketCors, Op.GetBucketCors, Op.DeleteBucketCors),
    BucketDocument.ENCRYPTION: (
        Op.PutBucketEncryption,
        Op.GetBucketEncryption,
        Op.DeleteBucketEncryption,
    ),
    BucketDocument.PUBLIC_ACCESS_BLOCK: (
        Op.PutPublicAccessBlock,
        Op.GetPublicAccessBlock,
        Op.DeletePublicAccessBlock,
    ),
    BucketDocument.OWNERSHIP: (
        Op.PutBucketOwnershipControls,
        Op.GetBucketOwnershipControls,
        Op.DeleteBucketOwnershipControls,
    ),
}


def document_handlers(
    document: BucketDocument,
    parse: Callable[[bytes], str],
    render: Callable[[str], bytes],
    missing: type[S3Error],
    *,
    put_status: int = 200,
    check: Callable[[Ctx, str], Awaitable[None]] | None = None,
    content_type: str = "application/xml",
) -> dict[Op, Handler]:
    """The three handlers of one document, by operation: `parse` turns a request body into the
    stored text (raising the S3 error of a bad body), `check`, if given, checks that text
    against the request (the bucket's name, the store's users), `render` turns the stored text
    into the response body, of `content_type`."""

    async def get(ctx: Ctx) -> web.StreamResponse:
        stored = await ctx.buckets.document(ctx.bucket, document)
        if stored is None:
            raise missing(BucketName=ctx.bucket)
        if content_type == "application/xml":
            return xml_response(render(stored))
        return web.Response(body=render(stored), content_type=content_type)

    async def put(ctx: Ctx) -> web.StreamResponse:
        text = parse(await read_document(ctx.request, ctx.auth))
        if check is not None:
            await check(ctx, text)
        await ctx.buckets.put_document(ctx.bucket, document, text)
        return web.Response(status=put_status)

    async def delete(ctx: Ctx) -> web.StreamResponse:
        await ctx.buckets.delete_document(ctx.bucket, document)
        return web.Response(status=204)

    put_op, get_op, delete_op = OPERATIONS[document]
    return {put_op: put, get_op: get, delete_op: delete}
