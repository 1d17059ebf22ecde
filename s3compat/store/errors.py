"""What can go wrong in the store, in the store's own words. `api/errormap.py` turns these into
S3 errors in one table."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class NoSuchBucket(StoreError):
    pass


class NoSuchKey(StoreError):
    pass


class NoSuchVersion(StoreError):
    """The key has no version with the id asked for: args (key, version id)."""


class InvalidVersion(StoreError):
    """A version id that this store never hands out (args: the id as sent)."""


class DeleteMarker(StoreError):
    """The version asked for (`by_id`) or the latest version of the key is a delete marker:
    S3 answers 405 or 404 and names the marker in headers."""

    def __init__(self, key: str, version: str, *, by_id: bool, last_modified: float) -> None:
        super().__init__(key)
        self.version = version
        self.by_id = by_id
        self.last_modified = last_modified


class ObjectLocked(StoreError):
    """The version is protected by Object Lock (retention or legal hold)."""


class InvalidBucketState(StoreError):
    """The bucket's state forbids the request (e.g. suspending versioning under Object Lock)."""


class BucketNotEmpty(StoreError):
    pass


class BucketAlreadyExists(StoreError):
    pass


class BucketAlreadyOwnedByYou(StoreError):
    pass


class AccessDenied(StoreError):
    pass


class PreconditionFailed(StoreError):
    pass


class NotEnoughServers(StoreError):
    """Fewer healthy chunk servers than a write needs."""


class BackendFailure(StoreError):
    """A chunk server failed in the middle of a request."""


class WriteLost(StoreError):
    """The write's chunks were collected before it could commit (this process was taken for
    dead); nothing was committed and the client may retry."""


class BadDigest(StoreError):
    """The body does not match its Content-MD5."""


class ChecksumMismatch(StoreError):
    """The body does not match an x-amz-checksum-* value."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"The {algorithm} you specified did not match the calculated checksum.")
        self.algorithm = algorithm


class PayloadHashMismatch(StoreError):
    """The body does not match the signed x-amz-content-sha256."""


class IncompleteBody(StoreError):
    """The body ended before its declared length."""


class NoSuchUpload(StoreError):
    pass


class InvalidPart(StoreError):
    pass


class InvalidPartOrder(StoreError):
    pass


class EntityTooSmall(StoreError):
    pass


class MalformedChecksum(StoreError):
    """A checksum value that is not base64 of the algorithm's digest size."""


class CorruptChunk(StoreError):
    """A chunk's bytes do not match their checksum."""


# --- server-side encryption (`store/sse.py`) -------------------------------------------------


class EncryptedObjectNeedsKey(StoreError):
    """An SSE-C version read without its key."""


class CustomerKeyMismatch(StoreError):
    """An SSE-C version read with another key than it was written with."""


class EncryptionNotApplicable(StoreError):
    """An SSE-C key sent to read a version that is not SSE-C encrypted."""


class UploadEncryptionMismatch(StoreError):
    """A part sent with other encryption parameters than its upload began with."""


class NoMasterKey(StoreError):
    """SSE-S3 asked of a gateway configured without a master key."""


class MasterKeyMismatch(StoreError):
    """An SSE-S3 object key does not open with this gateway's master key (gateways of one
    cluster given different key files)."""


class KmsKeyNotFound(StoreError):
    """An SSE-KMS key id that names no key of the gateway's keyring."""


class NoKeyring(StoreError):
    """SSE-KMS asked of a gateway without a KMS keyring (or without a default key)."""
