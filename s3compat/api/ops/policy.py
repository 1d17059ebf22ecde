"""Get/Put/DeleteBucketPolicy and GetBucketPolicyStatus.

The policy is a bucket document (`BucketDocument.POLICY`) kept as the JSON text the client
put, and given back byte for byte (as the ceph s3-tests expect; S3 itself answers its own
re-serialisation). A Put is checked whole before it is stored (`api/policy/document.py`:
MalformedPolicy for anything S3 refuses) and every user its principals name must exist. Who
may call these is `auth/access.py`'s rule: the bucket's owner always.
"""

from __future__ import annotations

from aiohttp import web

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth.controls import public_access_block
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import xml_response
from s3compat.api.ops.documents import document_handlers
from s3compat.api.policy.document import parse_policy, stored_policy
from s3compat.api.policy.evaluate import is_public
from s3compat.api.xml import to_xml
from s3compat.store.buckets import BucketDocument

INVALID_JSON = "Policies must be valid JSON and the first byte must be '{'"


def policy_text(body: bytes) -> str:
    """The body as text: a policy is UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise errors.MalformedPolicy(INVALID_JSON) from error


async def check_policy(ctx: Ctx, text: str) -> None:
    """The policy is well-formed, about this bucket, and names only users of this store; under
    BlockPublicPolicy it is not public (AccessDenied, as S3 answers)."""
    policy = parse_policy(text, ctx.bucket)
    bucket = ctx.bucket_record
    if bucket is not None and public_access_block(bucket).block_public_policy and is_public(policy):
        raise errors.AccessDenied()
    for name in policy.principal_names():
        user = await ctx.buckets.user(name.access_key)
        if user is None or (name.user_name is not None and name.user_name != user.name):
            raise errors.MalformedPolicy("Invalid principal in policy")


def _rendered(stored: str) -> bytes:
    return stored.encode("utf-8")


async def get_bucket_policy_status(ctx: Ctx) -> web.StreamResponse:
    """IsPublic by S3's rule (`evaluate.is_public`); a bucket without a policy is
    NoSuchBucketPolicy, as S3 answers."""
    stored = ctx.bucket_record.policy if ctx.bucket_record is not None else None
    if stored is None:
        raise errors.NoSuchBucketPolicy(BucketName=ctx.bucket)
    return xml_response(to_xml("PolicyStatus", [("IsPublic", is_public(stored_policy(stored)))]))


HANDLERS: dict[Op, Handler] = {
    **document_handlers(
        BucketDocument.POLICY,
        policy_text,
        _rendered,
        errors.NoSuchBucketPolicy,
        put_status=204,
        check=check_policy,
        content_type="application/json",
    ),
    Op.GetBucketPolicyStatus: get_bucket_policy_status,
}
