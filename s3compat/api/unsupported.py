"""What a request may ask for that this store does not do: refused with the S3 error, never
ignored (a user must not believe data is locked, or kept in another class, when it is not).

- Storage classes: there is one, STANDARD; a write naming another gets 400
  InvalidStorageClass, AWS's answer for a class the bucket cannot hold.
- Encryption: DSSE-KMS is refused 501 (and SSE-KMS on a gateway without a keyring), SSE
  headers where they mean nothing 400 (`api/sse.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.api.sse import check_encryption_headers

WRITES = (Op.PutObject, Op.CopyObject, Op.CreateMultipartUpload)
STORAGE_CLASS_HEADER = "x-amz-storage-class"
STORAGE_CLASS = "STANDARD"


def refuse_unsupported(operation: Op, headers: Mapping[str, str]) -> None:
    """Raise the S3 error for a request that asks for what is not done here."""
    check_encryption_headers(operation, headers)
    if operation in WRITES:
        storage_class = headers.get(STORAGE_CLASS_HEADER)
        if storage_class is not None and storage_class != STORAGE_CLASS:
            raise errors.InvalidStorageClass(
                f"The storage class you specified is not valid: this store keeps every object "
                f"in {STORAGE_CLASS}.",
                StorageClassRequested=storage_class[:100],
            )
