"""PostObject: an object uploaded by a browser's HTML form (multipart/form-data).

The form is its own authentication (api/auth/postform.py) and its policy its own limits
(api/postpolicy.py); what it stores goes through the same checks and the same store call as
PutObject. Order, each step refusing before anything is stored:

1. the bucket exists; the fields before the file are read (api/formdata.py);
2. `key` is there (`${filename}` replaced by the file's name) and is a valid key;
3. a signed form: the signer exists, the signature is theirs, the policy is readable, not
   expired, and every field matches it; an anonymous form has no policy to match;
4. the requester (the signer, or anonymous) may PutObject into the bucket by its ACL and
   policy, with the form's fields standing for the request's headers;
5. the file is spooled (its length is not known before its end), then checked against the
   policy's content-length-range and stored as PutObject stores a body.

The answer is `success_action_redirect` (303 to the URL with bucket, key and etag), else
`success_action_status` 200 (empty), 201 (a PostResponse document) or 204 (the default, also
for any other value).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web
from multidict import CIMultiDict

from s3compat.api import errors, xml
from s3compat.api.aclheaders import write_acl
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth import access
from s3compat.api.auth.model import AuthResult
from s3compat.api.auth.postform import V4_FIELDS, parse_form_signature, verify_form_signature
from s3compat.api.auth.request import check_region
from s3compat.api.body import MAX_SINGLE_PUT_BYTES, header_checks
from s3compat.api.formdata import read_form
from s3compat.api.lockheaders import lock_for_write
from s3compat.api.objectmeta import MAX_TAGS, STORED_HEADERS, stored_headers, version_header
from s3compat.api.operations import Op
from s3compat.api.ops.tagging import parse_tagging
from s3compat.api.postpolicy import PostPolicy, check_fields, check_length, parse_policy
from s3compat.api.router import validate_key
from s3compat.api.spool import spool_from
from s3compat.api.sse import answer_headers, seal_write
from s3compat.api.stalls import PacedBody
from s3compat.api.unsupported import refuse_unsupported
from s3compat.records import ObjectRecord

# Form fields that are not object headers: the form's own machinery.
_MACHINERY = frozenset({*V4_FIELDS, "x-amz-security-token"})


def form_headers(fields: dict[str, str]) -> CIMultiDict[str]:
    """The form's fields that stand for PutObject's request headers (`acl` is x-amz-acl)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in fields.items():
        if name in STORED_HEADERS or name == "content-md5":
            headers[name] = value
        elif name == "acl":
            headers["x-amz-acl"] = value
        elif name.startswith("x-amz-") and name not in _MACHINERY:
            headers[name] = value
    return headers


async def post_object(ctx: Ctx) -> web.StreamResponse:
    bucket = await ctx.buckets.find(ctx.bucket)
    if bucket is None:
        raise errors.NoSuchBucket(BucketName=ctx.bucket)
    ctx.bucket_record = bucket
    form = await read_form(ctx.request)
    fields = form.fields
    if "key" not in fields:
        raise errors.InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check "
            "the order of the fields.",
            ArgumentName="key",
            ArgumentValue="",
        )
    key = fields["key"].replace("${filename}", form.filename or "")
    fields["key"] = key
    validate_key(key)
    policy = await _authenticate(ctx, fields)
    headers = form_headers(fields)
    refuse_unsupported(Op.PutObject, headers)
    # The form's fields stand for the request's headers when the policy judges it.
    facts = replace(ctx.facts, headers=headers) if bucket.policy is not None else None
    access.check_access(Op.PostObject, ctx.principal, bucket, None, key, facts)
    acl, owner = await write_acl(ctx, headers)
    checks = header_checks(headers)
    tags = parse_tagging(fields["tagging"].encode(), MAX_TAGS) if "tagging" in fields else None
    encryption, sealing = await seal_write(headers, ctx.buckets, ctx.bucket, ctx.objects)
    record = ObjectRecord(
        bucket=ctx.bucket,
        key=key,
        size=0,
        etag="",
        last_modified=0.0,
        owner=owner,
        headers={**stored_headers(headers), **await lock_for_write(ctx, headers), **encryption},
        acl=acl,
        tags=tags,
    )
    most = MAX_SINGLE_PUT_BYTES
    if policy is not None and policy.max_length is not None:
        most = min(most, policy.max_length)
    source, size = await spool_from(ctx.request, PacedBody(form.file.read_chunk).read, most)
    try:
        check_length(policy, size)
        stored = await ctx.objects.put_object(
            replace(record, size=size), source, checks, condition=None, sealing=sealing
        )
    finally:
        source.close()
    return _answer(ctx, fields, stored)


async def _authenticate(ctx: Ctx, fields: dict[str, str]) -> PostPolicy | None:
    """Set the requester from the form's signature; the policy it signed (None: anonymous)."""
    signature = parse_form_signature(fields)
    if signature is None:
        return None
    user = await ctx.buckets.user(signature.access_key)
    if user is None:
        raise errors.InvalidAccessKeyId(AWSAccessKeyId=signature.access_key)
    verify_form_signature(signature, user.secret_key)
    if signature.region:  # as for a presigned URL: the store's region or the bucket's
        bucket = ctx.bucket_record
        assert bucket is not None
        signed = AuthResult(user.access_key, None, None, region=signature.region, presigned=True)
        check_region(signed, (ctx.config.region, bucket.region), bucket.region)
    policy = parse_policy(signature.policy, datetime.now(UTC))
    check_fields(policy, fields, ctx.bucket)
    ctx.principal = user.access_key
    ctx.principal_name = user.name
    return policy


def _answer(ctx: Ctx, fields: dict[str, str], stored: ObjectRecord) -> web.StreamResponse:
    location = _object_url(ctx, stored.key)
    headers = {
        "ETag": stored.etag,
        "Location": location,
        **version_header(stored),
        **answer_headers(stored.headers),
    }
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        query = urlencode(
            {"bucket": stored.bucket, "key": stored.key, "etag": stored.etag}, quote_via=quote
        )
        target = f"{redirect}{'&' if urlsplit(redirect).query else '?'}{query}"
        return web.Response(status=303, headers={**headers, "Location": target})
    status = fields.get("success_action_status")
    if status == "200":
        return web.Response(status=200, headers=headers)
    if status == "201":
        body = xml.to_xml(
            "PostResponse",
            [
                ("Location", location),
                ("Bucket", stored.bucket),
                ("Key", stored.key),
                ("ETag", stored.etag),
            ],
            namespaced=False,
        )
        return web.Response(status=201, body=body, content_type="application/xml", headers=headers)
    return web.Response(status=204, headers=headers)


def _object_url(ctx: Ctx, key: str) -> str:
    """The new object's URL, path-style or virtual-hosted as the form was posted."""
    origin = f"{ctx.request.scheme}://{ctx.request.host}"
    path_style = ctx.request.path.strip("/").split("/", 1)[0] == ctx.bucket
    prefix = f"/{ctx.bucket}/" if path_style else "/"
    return origin + prefix + quote(key, safe="/~")


HANDLERS: dict[Op, Handler] = {Op.PostObject: post_object}
