"""A bucket's public access block and object ownership, as access control reads them.

Both are bucket configuration documents read with the bucket's row (`BucketRecord`), so judging
a request by them costs no catalog round trip. This module is pure: what the settings are and
what they say about an ACL; `auth/access.py` applies them to requests, `ops/controls.py` puts
and gets them.

- **Public access block** (bucket level; an account-level block does not exist here): four
  flags, each off when the bucket has none. An ACL is public when it grants anything to the
  AllUsers or AuthenticatedUsers group (S3's "meaning of public"; LogDelivery is not public).
- **Object ownership**: `BucketOwnerEnforced` (ACLs disabled, the bucket owner owns every
  object), `BucketOwnerPreferred` (a write with `bucket-owner-full-control` makes the object
  the bucket owner's), `ObjectWriter` (the writer owns what it writes). A bucket without the
  setting keeps this store's rule from before ownership controls: the writer owns what it
  writes and the bucket owner also controls every object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from s3compat.records import BucketRecord

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
# The canned ACLs that grant a public group something (see `access.canned_grants`).
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
# The one ACL a bucket with ACLs disabled accepts on a write.
BUCKET_OWNER_FULL_CONTROL = "bucket-owner-full-control"
# The wire names of the four flags, in the order S3 lists them.
FLAG_NAMES = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True)
class PublicAccessBlock:
    """The four flags of a bucket's PublicAccessBlockConfiguration."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    def flags(self) -> tuple[bool, bool, bool, bool]:
        """The flags in the order of FLAG_NAMES."""
        return (
            self.block_public_acls,
            self.ignore_public_acls,
            self.block_public_policy,
            self.restrict_public_buckets,
        )

    def to_json(self) -> str:
        return json.dumps(dict(zip(FLAG_NAMES, self.flags(), strict=True)))


NO_BLOCK = PublicAccessBlock()


@lru_cache(maxsize=64)
def block_from_json(text: str) -> PublicAccessBlock:
    """A stored public access block, parsed once per distinct text."""
    stored = json.loads(text)
    return PublicAccessBlock(*(bool(stored.get(name)) for name in FLAG_NAMES))


def public_access_block(bucket: BucketRecord) -> PublicAccessBlock:
    """The bucket's public access block; every flag off when it has none."""
    if bucket.public_access_block is None:
        return NO_BLOCK
    return block_from_json(bucket.public_access_block)


class ObjectOwnership(StrEnum):
    BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
    BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
    OBJECT_WRITER = "ObjectWriter"


def ownership(bucket: BucketRecord) -> ObjectOwnership | None:
    """The bucket's object ownership setting; None when it has none."""
    return None if bucket.ownership is None else ObjectOwnership(bucket.ownership)


def acls_disabled(bucket: BucketRecord) -> bool:
    """BucketOwnerEnforced: ACLs neither grant nor may be set."""
    return bucket.ownership == ObjectOwnership.BUCKET_OWNER_ENFORCED


def owner_controls_objects(bucket: BucketRecord) -> bool:
    """Whether the bucket's owner may do everything to every object in it: with ACLs
    disabled (it owns them all) and without an ownership setting (this store's rule before
    ownership controls). Under ObjectWriter and BucketOwnerPreferred, as on S3, an object
    another user owns is the bucket owner's to list, overwrite and delete, not to read."""
    return bucket.ownership is None or acls_disabled(bucket)


def object_owner(bucket: BucketRecord, stored_owner: str) -> str:
    """Who owns an object whose record names `stored_owner`: the bucket's owner when ACLs are
    disabled (existing objects included, as on S3)."""
    return bucket.owner if acls_disabled(bucket) else stored_owner


def owner_of_write(bucket: BucketRecord, writer: str, canned: str | None) -> str:
    """Who owns what `writer` writes with the canned ACL `canned` (None: none)."""
    if acls_disabled(bucket):
        return bucket.owner
    if bucket.ownership == ObjectOwnership.BUCKET_OWNER_PREFERRED and (
        canned == BUCKET_OWNER_FULL_CONTROL
    ):
        return bucket.owner
    return writer


def is_public_grant(kind: str, grantee: str) -> bool:
    return kind == "Group" and grantee in PUBLIC_GROUPS
