"""Put/Get/DeletePublicAccessBlock and Put/Get/DeleteBucketOwnershipControls.

Both are bucket documents read with the bucket's row and applied by `auth/access.py` (the
settings' model is `auth/controls.py`). A bucket without one answers 404
NoSuchPublicAccessBlockConfiguration / OwnershipControlsNotFoundError, as S3 answers for
buckets made before April 2023 (when it began to give new buckets both): this store's buckets
are created with neither, so that ACLs work as they always did here. Who may call these is the
access rule's: the bucket owner, or whom the policy allows (`s3:PutBucketPublicAccessBlock`,
`s3:GetBucketOwnershipControls`, ...).
"""

from __future__ import annotations

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.auth.access import decode_acl, only_owner_full_control
from s3compat.api.auth.controls import (
    FLAG_NAMES,
    ObjectOwnership,
    PublicAccessBlock,
    block_from_json,
)
from s3compat.api.operations import Op
from s3compat.api.ops.documents import document_handlers
from s3compat.api.xml import child_text, children, local, parse_xml, to_xml
from s3compat.store.buckets import BucketDocument

MAX_DOCUMENT_BYTES = 16 * 1024


def parse_public_access_block(body: bytes) -> str:
    """A PublicAccessBlockConfiguration as the stored document: each flag "true" or "false"
    (a flag left out is false), nothing else, or MalformedXML."""
    root = parse_xml(body, max_bytes=MAX_DOCUMENT_BYTES)
    if local(root) != "PublicAccessBlockConfiguration":
        raise errors.MalformedXML()
    flags: dict[str, bool] = {}
    for element in root:
        if not isinstance(element.tag, str):  # a comment or a processing instruction
            continue
        name = local(element)
        value = (element.text or "").strip().lower()
        if name not in FLAG_NAMES or name in flags or value not in ("true", "false"):
            raise errors.MalformedXML()
        flags[name] = value == "true"
    return PublicAccessBlock(*(flags.get(name, False) for name in FLAG_NAMES)).to_json()


def render_public_access_block(stored: str) -> bytes:
    flags = block_from_json(stored).flags()
    return to_xml("PublicAccessBlockConfiguration", zip(FLAG_NAMES, flags, strict=True))


def parse_ownership(body: bytes) -> str:
    """OwnershipControls with one Rule naming one ObjectOwnership, as the stored name."""
    root = parse_xml(body, max_bytes=MAX_DOCUMENT_BYTES)
    rules = children(root, "Rule")
    if local(root) != "OwnershipControls" or len(rules) != 1:
        raise errors.MalformedXML()
    value = (child_text(rules[0], "ObjectOwnership") or "").strip()
    if value not in tuple(ObjectOwnership):
        raise errors.MalformedXML()
    return value


async def check_ownership(ctx: Ctx, setting: str) -> None:
    """BucketOwnerEnforced needs a bucket ACL that gives its owner full control and nobody
    anything (S3: InvalidBucketAclWithObjectOwnership)."""
    bucket = ctx.bucket_record or await ctx.buckets.get(ctx.bucket)
    if setting != ObjectOwnership.BUCKET_OWNER_ENFORCED or bucket.ownership == setting:
        return
    grants = decode_acl(bucket.acl, bucket.owner, bucket.owner)
    if not only_owner_full_control(grants, bucket.owner):
        raise errors.InvalidBucketAclWithObjectOwnership()


def render_ownership(stored: str) -> bytes:
    return to_xml("OwnershipControls", [("Rule", [("ObjectOwnership", stored)])])


HANDLERS: dict[Op, Handler] = {
    **document_handlers(
        BucketDocument.PUBLIC_ACCESS_BLOCK,
        parse_public_access_block,
        render_public_access_block,
        errors.NoSuchPublicAccessBlockConfiguration,
    ),
    **document_handlers(
        BucketDocument.OWNERSHIP,
        parse_ownership,
        render_ownership,
        errors.OwnershipControlsNotFoundError,
        check=check_ownership,
    ),
}
