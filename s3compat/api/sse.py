"""Server-side encryption on the wire: the SSE-C and SSE-S3 request headers, checked with the
errors S3 gives, the headers answered for encrypted objects, and a bucket's default.

- SSE-C (`x-amz-server-side-encryption-customer-{algorithm,key,key-MD5}`, and the same with
  `x-amz-copy-source-` for a copy's source): AES256 only; the key is base64 of 32 bytes and
  must match its MD5. S3 checks the MD5 before the length (a wrong MD5 of a short key is the
  MD5 error).
- SSE-S3 (`x-amz-server-side-encryption: AES256`) on PutObject, CopyObject and
  CreateMultipartUpload, or the bucket's default (`ServerSideEncryptionConfiguration`).
- SSE-KMS (`aws:kms`, with `x-amz-server-side-encryption-aws-kms-key-id` and `-context`) with
  the gateway's keyring (`store/kms.py`): a key id the keyring lacks is 400
  KMS.NotFoundException, never another key; without a key id, the bucket default's key, else
  the keyring's default. The context must be base64 of a JSON object of strings. Bucket keys
  are kept and answered (they save KMS calls on AWS; here there are none to save).
- DSSE-KMS (`aws:kms:dsse`) is 501: a second layer under another key of the same keyring, in
  the same process, would add no independent protection, which is what DSSE is asked for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.store.buckets import BucketDocument, BucketStore
from s3compat.store.kms import Keyring, KmsChoice
from s3compat.store.objects import ObjectStore
from s3compat.store.sse import (
    AES256,
    AWS_KMS,
    BUCKET_KEY_HEADER,
    CUSTOMER_ALGORITHM_HEADER,
    CUSTOMER_KEY_MD5_HEADER,
    KMS_CONTEXT_HEADER,
    KMS_KEY_ID_HEADER,
    SSE_HEADER,
    STORED_CONTEXT_HEADER,
    CustomerKey,
    Sealing,
    seal_new,
    sealing_for_read,
)

CUSTOMER_PREFIX = "x-amz-server-side-encryption-customer-"
COPY_SOURCE_PREFIX = "x-amz-copy-source-server-side-encryption-customer-"
DSSE_KMS = "aws:kms:dsse"
KMS_ALGORITHMS = (AWS_KMS, DSSE_KMS)
KMS_HEADERS = (KMS_KEY_ID_HEADER, KMS_CONTEXT_HEADER)
MAX_CONTEXT_BYTES = 8 * 1024
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
DSSE_REFUSAL = (
    "Dual-layer server-side encryption with KMS keys (DSSE-KMS) is not implemented; "
    "use aws:kms, AES256 or SSE-C."
)
_CONTEXT_INVALID = (
    "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string "
    "holding JSON which represents a string-string map"
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
                "x-amz-server-side-encryption header is not supported for this operation.",
                ArgumentName=SSE_HEADER,
                ArgumentValue=sse[:100],
            )
        if sse == DSSE_KMS:
            raise errors.Unimplemented(DSSE_REFUSAL)
        if sse not in (AES256, AWS_KMS):
            raise errors.InvalidArgument(
                "The encryption method specified is not supported",
                ArgumentName=SSE_HEADER,
                ArgumentValue=sse[:100],
            )
    if sse != AWS_KMS and any(name in headers for name in KMS_HEADERS):
        raise errors.InvalidArgument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header "
            "x-amz-server-side-encryption : aws:kms",
            ArgumentName=SSE_HEADER,
        )
    bucket_key = headers.get(BUCKET_KEY_HEADER)
    if bucket_key is not None:
        if operation not in SSE_WRITES:
            raise errors.InvalidArgument(
                "The x-amz-server-side-encryption-bucket-key-enabled header is not applicable "
                "to this request.",
                ArgumentName=BUCKET_KEY_HEADER,
            )
        if bucket_key.lower() not in ("true", "false"):
            raise errors.InvalidArgument(
                "Invalid value for x-amz-server-side-encryption-bucket-key-enabled",
                ArgumentName=BUCKET_KEY_HEADER,
                ArgumentValue=bucket_key[:100],
            )
    if operation not in CUSTOMER_KEY_OPS and any(
        name.lower().startswith(CUSTOMER_PREFIX) for name in headers
    ):
        raise errors.InvalidRequest("The encryption parameters are not applicable to this request.")
    if operation not in COPY_SOURCE_OPS and any(
        name.lower().startswith(COPY_SOURCE_PREFIX) for name in headers
    ):
        raise errors.InvalidRequest("The encryption parameters are not applicable to this request.")


async def seal_write(
    headers: Mapping[str, str], buckets: BucketStore, bucket: str, objects: ObjectStore
) -> tuple[dict[str, str], Sealing | None]:
    """A new object's (or upload's) encryption, as its request or its bucket's default asks:
    the headers it stores and its sealing."""
    customer, sse_s3, kms = await write_encryption(headers, buckets, bucket, objects.keyring)
    return seal_new(customer, sse_s3, objects.master_key, kms, objects.keyring)


def read_sealing(
    headers: Mapping[str, str], customer: CustomerKey | None, objects: ObjectStore
) -> Sealing | None:
    """The sealing that opens a version (or upload) with these stored headers."""
    return sealing_for_read(headers, customer, objects.master_key, objects.keyring)


async def write_encryption(
    headers: Mapping[str, str], buckets: BucketStore, bucket: str, keyring: Keyring | None
) -> tuple[CustomerKey | None, bool, KmsChoice | None]:
    """A new object's encryption: the request's SSE-C key, whether it is SSE-S3, or its
    SSE-KMS key (asked for, or the bucket's default)."""
    customer = customer_key(headers)
    sse = headers.get(SSE_HEADER)
    if customer is not None and sse is not None:
        raise errors.InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the "
            "encryption method specified",
            ArgumentName=SSE_HEADER,
            ArgumentValue=sse[:100],
        )
    bucket_key = headers.get(BUCKET_KEY_HEADER, "").lower() == "true"
    if sse == AWS_KMS:
        context = _context(headers.get(KMS_CONTEXT_HEADER))
        key_id = headers.get(KMS_KEY_ID_HEADER)
        if key_id is None:
            default = await bucket_default(buckets, bucket)
            key_id = default.get("key_id") if default.get("algorithm") == AWS_KMS else None
        return None, False, KmsChoice(kms_key_name(keyring, key_id), context, bucket_key)
    if customer is not None or sse == AES256:
        return customer, sse == AES256, None
    default = await bucket_default(buckets, bucket)
    if default.get("algorithm") == AWS_KMS:
        name = kms_key_name(keyring, default.get("key_id"))
        return None, False, KmsChoice(name, None, bucket_key or bool(default.get("bucket_key")))
    return None, default.get("algorithm") == AES256, None


def kms_key_name(keyring: Keyring | None, key_id: str | None) -> str:
    """The keyring key a key id names (None: the keyring's default key)."""
    if keyring is None or (key_id is None and keyring.default is None):
        raise errors.Unimplemented(
            "SSE-KMS needs a KMS keyring: this gateway was started without a KMS key."
        )
    return keyring.resolve(key_id) if key_id is not None else str(keyring.default)


def _context(text: str | None) -> str | None:
    """An encryption context header, checked: base64 of a JSON object of strings."""
    if text is None:
        return None
    try:
        if len(text) > MAX_CONTEXT_BYTES:
            raise ValueError("too long")
        document: Any = json.loads(base64.b64decode(text, validate=True).decode())
    except (ValueError, UnicodeDecodeError) as error:
        raise errors.InvalidArgument(
            _CONTEXT_INVALID, ArgumentName=KMS_CONTEXT_HEADER, ArgumentValue=text[:100]
        ) from error
    if not isinstance(document, dict) or not all(
        isinstance(value, str) for value in document.values()
    ):
        raise errors.InvalidArgument(
            _CONTEXT_INVALID, ArgumentName=KMS_CONTEXT_HEADER, ArgumentValue=text[:100]
        )
    return text


async def bucket_default(buckets: BucketStore, bucket: str) -> dict[str, Any]:
    """The bucket's default encryption document ({} when it has none)."""
    stored = await buckets.document(bucket, BucketDocument.ENCRYPTION)
    return {} if stored is None else dict(json.loads(stored))


def answer_headers(
    stored: Mapping[str, str], *, customer: bool = True, context: bool = False
) -> dict[str, str]:
    """The encryption headers S3 answers for a version (or upload) with these headers
    (CompleteMultipartUpload answers no SSE-C ones: `customer` False; the SSE-KMS context is
    answered by PutObject, CopyObject and CreateMultipartUpload alone: `context`)."""
    names = (
        SSE_HEADER,
        KMS_KEY_ID_HEADER,
        BUCKET_KEY_HEADER,
        *((CUSTOMER_ALGORITHM_HEADER, CUSTOMER_KEY_MD5_HEADER) * customer),
    )
    lowered = {k.lower(): v for k, v in stored.items()}
    answer = {name: lowered[name.lower()] for name in names if name.lower() in lowered}
    if context and STORED_CONTEXT_HEADER in lowered:
        answer[KMS_CONTEXT_HEADER] = lowered[STORED_CONTEXT_HEADER]
    return answer
