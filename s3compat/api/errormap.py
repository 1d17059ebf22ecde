"""What a client is answered for an exception: the one table that turns the store's errors into
S3 errors, and the rest (an unreachable catalog, aiohttp's own refusals, the unexpected)."""

from __future__ import annotations

import logging
from email.utils import formatdate

from aiohttp import web

from s3compat.api import errors as s3
from s3compat.outage import Unavailable
from s3compat.store import errors as store

log = logging.getLogger(__name__)

_TABLE: dict[type[store.StoreError], type[s3.S3Error]] = {
    store.NoSuchBucket: s3.NoSuchBucket,
    store.NoSuchKey: s3.NoSuchKey,
    store.NoSuchVersion: s3.NoSuchVersion,
    store.ObjectLocked: s3.AccessDenied,
    store.InvalidBucketState: s3.InvalidBucketState,
    store.InvalidVersion: s3.InvalidArgument,
    store.BucketNotEmpty: s3.BucketNotEmpty,
    store.BucketAlreadyExists: s3.BucketAlreadyExists,
    store.BucketAlreadyOwnedByYou: s3.BucketAlreadyOwnedByYou,
    store.AccessDenied: s3.AccessDenied,
    store.PreconditionFailed: s3.PreconditionFailed,
    store.NotEnoughServers: s3.SlowDown,
    store.BackendFailure: s3.ServiceUnavailable,
    store.WriteLost: s3.ServiceUnavailable,
    store.BadDigest: s3.BadDigest,
    store.ChecksumMismatch: s3.BadDigest,
    store.PayloadHashMismatch: s3.XAmzContentSHA256Mismatch,
    store.IncompleteBody: s3.IncompleteBody,
    store.NoSuchUpload: s3.NoSuchUpload,
    store.InvalidPart: s3.InvalidPart,
    store.InvalidPartOrder: s3.InvalidPartOrder,
    store.EntityTooSmall: s3.EntityTooSmall,
    store.CorruptChunk: s3.S3Error,
    store.MalformedChecksum: s3.InvalidRequest,
    store.EncryptedObjectNeedsKey: s3.InvalidRequest,
    store.CustomerKeyMismatch: s3.AccessDenied,
    store.EncryptionNotApplicable: s3.InvalidRequest,
    store.UploadEncryptionMismatch: s3.InvalidRequest,
    store.NoMasterKey: s3.Unimplemented,
    store.KmsKeyNotFound: s3.KmsNotFound,
    store.NoKeyring: s3.Unimplemented,
}

# Errors whose store message is meant for the client (the rest keep S3's standard wording).
_KEEP_MESSAGE = (
    store.ChecksumMismatch,
    store.NotEnoughServers,
    store.MalformedChecksum,
    store.ObjectLocked,
    store.InvalidBucketState,
    store.EncryptedObjectNeedsKey,
    store.CustomerKeyMismatch,
    store.EncryptionNotApplicable,
    store.UploadEncryptionMismatch,
    store.NoMasterKey,
    store.KmsKeyNotFound,
    store.NoKeyring,
)


def to_s3_error(error: store.StoreError) -> s3.S3Error:
    """The S3 error a client should see for a store error."""
    # The nearest entry up the class tree: a subclass (SegmentUnreadable, a BackendFailure)
    # answers as its base does.
    s3_class = next((_TABLE[cls] for cls in type(error).__mro__ if cls in _TABLE), s3.S3Error)
    message = str(error) if isinstance(error, _KEEP_MESSAGE) else None
    result = s3_class(message)
    if isinstance(error, store.NoSuchBucket) and error.args:
        result.fields["BucketName"] = str(error.args[0])
    if isinstance(error, store.NoSuchKey) and error.args:
        result.fields["Key"] = str(error.args[0])
    if isinstance(error, store.NoSuchVersion):
        result.fields.update(Key=str(error.args[0]), VersionId=str(error.args[1]))
    if isinstance(error, store.InvalidVersion):
        result = s3.InvalidArgument(
            "Invalid version id specified", ArgumentName="versionId", ArgumentValue=error.args[0]
        )
    if isinstance(error, store.DeleteMarker):
        result = marker_error(error)
    return result


def marker_error(error: store.DeleteMarker) -> s3.S3Error:
    """A delete marker read: 405 by its version id, 404 as the key's latest, with the marker
    named in x-amz-delete-marker and x-amz-version-id (as S3 answers)."""
    result: s3.S3Error
    if error.by_id:
        result = s3.MethodNotAllowed(Method="GET", ResourceType="DeleteMarker")
        result.headers["Last-Modified"] = formatdate(error.last_modified, usegmt=True)
        result.headers["Allow"] = "DELETE"
    else:
        result = s3.NoSuchKey(Key=str(error.args[0]))
    result.headers["x-amz-delete-marker"] = "true"
    result.headers["x-amz-version-id"] = error.version
    return result


def as_s3_error(error: Exception, request: web.Request, request_id: str) -> s3.S3Error:
    """The S3 error to answer for an exception; an unexpected one is logged and InternalError."""
    if isinstance(error, s3.S3Error):
        return error
    if isinstance(error, store.StoreError):
        return to_s3_error(error)
    if isinstance(error, Unavailable):
        log.warning("request %s: %s", request_id, error)
        return s3.ServiceUnavailable()
    if isinstance(error, web.HTTPException):
        return _from_http_exception(error)
    log.exception("request %s failed: %s %s", request_id, request.method, request.path)
    return s3.S3Error()


def _from_http_exception(http_error: web.HTTPException) -> s3.S3Error:
    if http_error.status == 413:
        return s3.EntityTooLarge()
    if http_error.status == 405:
        return s3.MethodNotAllowed()
    if http_error.status == 404:
        return s3.NoSuchKey()
    error = s3.InvalidRequest(http_error.reason)
    error.status = http_error.status if 400 <= http_error.status < 500 else 400
    return error
