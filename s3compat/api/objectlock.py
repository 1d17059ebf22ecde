"""Object Lock is not implemented yet: a request that asks for it is refused, never ignored
(a user must not believe data is locked when it is not).

As AWS answers: CreateBucket with `x-amz-bucket-object-lock-enabled: true` cannot be done
here (501 NotImplemented); a write carrying `x-amz-object-lock-*` headers goes to a bucket
without an Object Lock configuration, which no bucket here has (400 InvalidRequest).
"""

from __future__ import annotations

from collections.abc import Mapping

from s3compat.api import errors

BUCKET_LOCK_HEADER = "x-amz-bucket-object-lock-enabled"
OBJECT_LOCK_HEADERS = (
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)
WRITES = ("PutObject", "CopyObject", "CreateMultipartUpload")


def refuse_object_lock(operation: str, headers: Mapping[str, str]) -> None:
    if operation == "CreateBucket":
        wanted = headers.get(BUCKET_LOCK_HEADER)
        if wanted is not None and wanted.strip().lower() != "false":
            raise errors.NotImplementedError_("Object Lock is not implemented.")
    elif operation in WRITES and any(name in headers for name in OBJECT_LOCK_HEADERS):
        raise errors.InvalidRequest("Bucket is missing Object Lock Configuration")
