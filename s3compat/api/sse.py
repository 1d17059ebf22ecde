"""Server-side encryption on the wire: the SSE-C and SSE-S3 request headers, checked with the
errors S3 gives, the headers answered for encrypted objects, and a bucket's default.

- SSE-C (`x-amz-server-side-encryption-customer-{algorithm,key,key-MD5}`, and the same with
  `x-amz-copy-source-` for a copy's source): AES256 only; the key is base64 of 32 bytes and
  must match its MD5. S3 checks the MD5 before the length (a wrong MD5 of a short key is the
  MD5 error).
- SSE-S3 (`x-amz-server-side-encryption: AES256`) on PutObject, CopyObject and
  CreateMultipartUpload, or the bucket's default (`ServerSideEncryptionConfiguration`).
- SSE-KMS (`aws:kms`, `aws:kms:dsse`, the KMS key and context headers, bucket keys) is not
  done here: 501 NotImplemented, never a plaintext object the client believes encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.store.buckets import BucketDocument, BucketStore
from s3compat.store.sse import (
    AES256,
    CUSTOMER_ALGORITHM_HEADER,
    CUSTOMER_KEY_MD5_HEADER,
    SSE_HEADER,
    CustomerKey,
)

CUSTOMER_PREFIX = "x-amz-server-side-encryption-customer-"
COPY_SOURCE_PREFIX = "x-amz-copy-source-server-side-encryption-customer-"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
KMS_HEADERS = (
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
)
BUCKET_KEY_HEADER = "x-amz-server-side-encryption-bucket-key-enabled"
# Operations that write a new object and so may ask for SSE-S3 (or name a KMS key).
SSE_WRITES = (Op.PutObject, Op.CopyObject, Op.CreateMultipartUpload)
# Operations on which SSE-C headers mean something.
CUSTOMER_KEY_OPS = (
    *SSE_WRITES,
    Op.GetObject,
    Op.HeadObject,
    Op.UploadPart,
    Op.UploadPartCopy,
    Op.CompleteMultipartUpload,
    Op.GetObjectAttributes,
    Op.ListParts,
)
COPY_SOURCE_OPS = (Op.CopyObject, Op.UploadPartCopy)
_KMS_REFUSAL = (
    "Server-side encryption with AWS KMS keys (SSE-KMS, DSSE-KMS) is not implemented; "
    "use SSE-S3 (AES256) or SSE-C."
)


def customer_key(headers: Mapping[str, str], prefix: str = CUSTOMER_PREFIX) -> CustomerKey | None:
    """The SSE-C key a request carries (None: it carries none), checked as S3 checks it."""
    algorithm = headers.get(prefix + "algorithm")
    key_text = headers.get(prefix + "key")
    md5_text = headers.get(prefix + "key-MD5")
    if algorithm is None and key_text is None and md5_text is None:
        return None
    named = {"ArgumentName": SSE_HEADER}
    if algorithm is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide a valid encryption algorithm.",
            **named,
        )
    if algorithm != AES256:
        raise errors.InvalidEncryptionAlgorithmError(**named, ArgumentValue=algorithm[:100])
    if key_text is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide an appropriate secret key.",
            **named,
        )
    if md5_text is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide the client calculated MD5 of the secret key.",
            **named,
        )
    try:
        key = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise errors.InvalidArgument(
            "The secret key was invalid for the specified algorithm.", **named
        ) from error
    if base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode() != md5_text:
        raise errors.InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            **named,
        )
    if len(key) != 32:
        raise errors.InvalidArgument(
            "The secret key was invalid for the specified algorithm.", **named
        )
    return CustomerKey(key, md5_text)


def check_encryption_headers(operation: Op, headers: Mapping[str, str]) -> None:
    """Refuse SSE headers where they mean nothing, and what is not done here (KMS)."""
    sse = headers.get(SSE_HEADER)
    if sse is not None:
        if operation not in SSE_WRITES:
            raise errors.InvalidArgument(
                "The x-amz-server-side-encryption header is not applicable to this request.",
                ArgumentName=SSE_HEADER,
                ArgumentValue=sse[:100],
            )
        if sse in KMS_ALGORITHMS:
            raise errors.Unimplemented(_KMS_REFUSAL)
        if sse != AES256:
            raise errors.InvalidArgument(
                "The encryption method specified is not supported",
                ArgumentName=SSE_HEADER,
                ArgumentValue=sse[:100],
            )
    if any(name in headers for name in KMS_HEADERS):
        raise errors.Unimplemented(_KMS_REFUSAL)
    if headers.get(BUCKET_KEY_HEADER, "false").lower() != "false":
        raise errors.Unimplemented("S3 Bucket Keys belong to SSE-KMS, which is not implemented.")
    if operation not in CUSTOMER_KEY_OPS and any(
        name.lower().startswith(CUSTOMER_PREFIX) for name in headers
    ):
        raise errors.InvalidRequest("The encryption parameters are not applicable to this request.")
    if operation not in COPY_SOURCE_OPS and any(
        name.lower().startswith(COPY_SOURCE_PREFIX) for name in headers
    ):
        raise errors.InvalidRequest("The encryption parameters are not applicable to this request.")


async def write_encryption(
    headers: Mapping[str, str], buckets: BucketStore, bucket: str
) -> tuple[CustomerKey | None, bool]:
    """A new object's encryption: the request's SSE-C key, or whether it is SSE-S3 (asked
    for, or the bucket's default)."""
    customer = customer_key(headers)
    sse = headers.get(SSE_HEADER)
    if customer is not None and sse is not None:
        raise errors.InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the "
            "encryption method specified",
            ArgumentName=SSE_HEADER,
            ArgumentValue=sse[:100],
        )
    if customer is not None or sse == AES256:
        return customer, sse == AES256
    return None, await default_sse_s3(buckets, bucket)


async def default_sse_s3(buckets: BucketStore, bucket: str) -> bool:
    """Whether the bucket's default encryption is SSE-S3."""
    stored = await buckets.document(bucket, BucketDocument.ENCRYPTION)
    return stored is not None and json.loads(stored).get("algorithm") == AES256


def answer_headers(stored: Mapping[str, str], *, customer: bool = True) -> dict[str, str]:
    """The encryption headers S3 answers for a version (or upload) with these headers
    (CompleteMultipartUpload answers SSE-S3's alone: `customer` False)."""
    names = (SSE_HEADER, *((CUSTOMER_ALGORITHM_HEADER, CUSTOMER_KEY_MD5_HEADER) * customer))
    lowered = {k.lower(): v for k, v in stored.items()}
    return {name: lowered[name.lower()] for name in names if name.lower() in lowered}
