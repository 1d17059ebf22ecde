"""The BucketStore: buckets, their ACLs and configuration documents, and the users who own them.

The API's one door to everything about a bucket that is not an object: handlers call this and
never the catalog. A configuration document (bucket tagging, lifecycle and CORS rules, Object
Lock, the bucket policy, the public access block, the object ownership) is stored as one text
value per (bucket, name); the store decides what the names are, the catalog keeps the text. The
policy, the public access block and the ownership come with the bucket's record, because every
request to the bucket is judged by them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from enum import StrEnum

from s3compat.catalog.bucketconfig import BucketConfigCatalog
from s3compat.catalog.catalog import Catalog
from s3compat.records import BucketRecord, UserRecord
from s3compat.store import errors
from s3compat.store.lifecycle_rules import Rule, rules_from_json
from s3compat.store.locks import LockConfiguration

# The region where re-creating one's own bucket answers 200 (S3's legacy behaviour).
LEGACY_REGION = "us-east-1"


class BucketDocument(StrEnum):
    """The configuration documents a bucket may hold, by their stored name."""

    TAGGING = "tagging"
    LIFECYCLE = "lifecycle"
    OBJECT_LOCK = "object-lock"
    CORS = "cors"
    # JSON: {"algorithm": "AES256"}, the default encryption of new objects.
    ENCRYPTION = "encryption"
    # JSON, not XML; read with the bucket's row (BucketRecord.policy) by `find` and `get`.
    POLICY = "policy"
    # JSON of the four flags; read with the row (BucketRecord.public_access_block).
    PUBLIC_ACCESS_BLOCK = "public-access-block"
    # The ObjectOwnership setting's name; read with the row (BucketRecord.ownership).
    OWNERSHIP = "ownership"


# The documents read with the bucket's row, in BucketRecord's order.
RECORD_DOCUMENTS = (
    BucketDocument.POLICY,
    BucketDocument.PUBLIC_ACCESS_BLOCK,
    BucketDocument.OWNERSHIP,
)


# How long `lifecycle_rules` keeps a bucket's rules, and for how many buckets at most.
RULES_CACHE_SECONDS = 2.0
RULES_CACHE_BUCKETS = 10_000


class BucketStore:
    """Buckets and users. No HTTP, no XML, no SQL."""

    def __init__(self, catalog: Catalog, documents: BucketConfigCatalog, *, region: str) -> None:
        self._catalog = catalog
        self._documents = documents
        self.region = region
        # bucket -> (when read, its lifecycle rules), for `lifecycle_rules`.
        self._rules: dict[str, tuple[float, list[Rule]]] = {}

    # --- buckets --------------------------------------------------------------------------

    async def create(
        self,
        name: str,
        owner: str,
        acl: str | None = None,
        *,
        region: str | None = None,
        object_lock: bool = False,
        ownership: str | None = None,
    ) -> None:
        """Create a bucket. Creating one's own bucket again is BucketAlreadyOwnedByYou, except
        in us-east-1 without a LocationConstraint, where S3 keeps its legacy answer: 200, and
        the ACL reset to the one asked for (private if none)."""
        # Object Lock: versioned from the start, and for good; no default retention yet.
        versioning = "Enabled" if object_lock else None
        record = BucketRecord(name, owner, time.time(), region or self.region, acl, versioning)
        documents: dict[str, str] = {}
        if object_lock:
            documents[BucketDocument.OBJECT_LOCK] = LockConfiguration().to_json()
        if ownership is not None:
            documents[BucketDocument.OWNERSHIP] = ownership
        existing_owner = await self._catalog.create_bucket(record, documents)
        if existing_owner == owner:
            if self.region == LEGACY_REGION and region is None:
                await self._catalog.set_bucket_acl(name, acl)
                return
            raise errors.BucketAlreadyOwnedByYou(name)
        if existing_owner is not None:
            raise errors.BucketAlreadyExists(name)

    async def find(self, name: str) -> BucketRecord | None:
        """The bucket, or None if there is none of that name."""
        return await self._catalog.get_bucket(name, RECORD_DOCUMENTS)

    async def get(self, name: str) -> BucketRecord:
        """The bucket; NoSuchBucket if it does not exist."""
        record = await self.find(name)
        if record is None:
            raise errors.NoSuchBucket(name)
        return record

    async def owned_by(self, owner: str) -> list[BucketRecord]:
        """The owner's buckets, by name."""
        return await self._catalog.list_buckets(owner, RECORD_DOCUMENTS)

    async def delete(self, name: str) -> None:
        """Delete an empty bucket (its unfinished uploads go with it, as on S3)."""
        outcome = await self._catalog.delete_bucket(name)
        if outcome == "missing":
            raise errors.NoSuchBucket(name)
        if outcome == "not-empty":
            raise errors.BucketNotEmpty(name)

    async def set_acl(self, name: str, acl: str | None) -> None:
        """Replace the bucket's ACL (its stored form: a canned name or a JSON grant list)."""
        await self._catalog.set_bucket_acl(name, acl)

    async def set_versioning(self, name: str, state: str) -> None:
        """Turn versioning on ("Enabled") or off for new writes ("Suspended"); a bucket once
        versioned keeps its versions either way. A bucket with Object Lock stays Enabled."""
        if state != "Enabled" and await self.lock_configuration(name) is not None:
            raise errors.InvalidBucketState(
                "An Object Lock configuration is present on this bucket, so the versioning "
                "state cannot be changed."
            )
        if not await self._catalog.set_versioning(name, state):
            raise errors.NoSuchBucket(name)

    async def lock_configuration(self, name: str) -> LockConfiguration | None:
        """The bucket's Object Lock configuration; None if Object Lock is not enabled."""
        stored = await self.document(name, BucketDocument.OBJECT_LOCK)
        return None if stored is None else LockConfiguration.from_json(stored)

    # --- configuration documents ------------------------------------------------------------

    async def document(self, bucket: str, name: BucketDocument) -> str | None:
        """The bucket's document called `name`, or None if it has none."""
        return await self._documents.get(bucket, name)

    async def put_document(self, bucket: str, name: BucketDocument, text: str) -> None:
        """Store (or replace) the document; NoSuchBucket if the bucket is gone."""
        self._rules.pop(bucket, None)
        if not await self._documents.put(bucket, name, text):
            raise errors.NoSuchBucket(bucket)

    async def delete_document(self, bucket: str, name: BucketDocument) -> None:
        """Remove the document; removing one that is not there is no error (as on S3)."""
        self._rules.pop(bucket, None)
        await self._documents.delete(bucket, name)

    async def lifecycle_rules(self, bucket: str) -> list[Rule]:
        """The bucket's lifecycle rules, for the x-amz-expiration header of PUT, HEAD and GET:
        kept up to RULES_CACHE_SECONDS so that reads do not each cost a catalog query (a change
        made through this gateway shows at once, through another within that time; the rules
        themselves are carried out by the lifecycle pass, which always reads the catalog)."""
        now = time.monotonic()
        cached = self._rules.get(bucket)
        if cached is not None and now - cached[0] < RULES_CACHE_SECONDS:
            return cached[1]
        text = await self._documents.get(bucket, BucketDocument.LIFECYCLE)
        rules = [] if text is None else rules_from_json(text)
        if len(self._rules) >= RULES_CACHE_BUCKETS:
            self._rules.clear()
        self._rules[bucket] = (now, rules)
        return rules

    # --- users ------------------------------------------------------------------------------

    async def user(self, access_key: str) -> UserRecord | None:
        """The user with this access key, exactly as spelled (signatures are checked with it)."""
        return await self._catalog.get_user(access_key)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        """The user whose canonical ID (its access key) is `user_id`, ignoring case: some
        clients (s3cmd) lower-case canonical IDs in grants."""
        return await self._documents.find_user(user_id)

    async def display_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The display names (user names) of canonical user IDs; an unknown ID stands for
        itself."""
        names = {}
        for user_id in set(user_ids):
            user = await self.user(user_id)
            names[user_id] = user.name if user else user_id
        return names
