"""Put/Get/DeleteBucketEncryption: a bucket's default encryption, kept as its `encryption`
document ({"algorithm": "AES256" or "aws:kms", "key_id": the KMSMasterKeyID as given or
absent, "bucket_key": bool}). New objects written without SSE headers get it
(`api/sse.py`, `write_encryption`). A bucket without one answers GetBucketEncryption 404
ServerSideEncryptionConfigurationNotFoundError (objects are then stored as they are sent).
A KMSMasterKeyID must name a key of the keyring when it is set (400 KMS.NotFoundException),
not only when an object is written; DSSE-KMS defaults are 501, as DSSE-KMS is everywhere."""

from __future__ import annotations

import json

from s3compat.api import errors
from s3compat.api.app import Ctx, Handler
from s3compat.api.operations import Op
from s3compat.api.ops.documents import document_handlers
from s3compat.api.sse import DSSE_KMS, DSSE_REFUSAL, kms_key_name
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.store.buckets import BucketDocument
from s3compat.store.sse import AES256, AWS_KMS

MAX_DOCUMENT_BYTES = 64 * 1024


def parse_encryption(body: bytes) -> str:
    """A ServerSideEncryptionConfiguration as the stored document; S3's errors for a bad one."""
    root = parse_xml(body, max_bytes=MAX_DOCUMENT_BYTES)
    rules = children(root, "Rule")
    if local(root) != "ServerSideEncryptionConfiguration" or len(rules) != 1:
        raise errors.MalformedXML()
    rule = rules[0]
    defaults = children(rule, "ApplyServerSideEncryptionByDefault")
    if len(defaults) != 1:
        raise errors.MalformedXML()
    algorithm = (child_text(defaults[0], "SSEAlgorithm") or "").strip()
    if algorithm == DSSE_KMS:
        raise errors.Unimplemented(DSSE_REFUSAL)
    if algorithm not in (AES256, AWS_KMS):
        raise errors.MalformedXML()
    key_id = child_text(defaults[0], "KMSMasterKeyID")
    if key_id is not None and algorithm != AWS_KMS:
        raise errors.InvalidArgument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms "
            "or aws:kms:dsse",
            ArgumentName="ApplyServerSideEncryptionByDefault",
        )
    bucket_key = (child_text(rule, "BucketKeyEnabled") or "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise errors.MalformedXML()
    for blocked in children(rule, "BlockedEncryptionTypes"):
        kinds = [(e.text or "").strip() for e in children(blocked, "EncryptionType")]
        if any(kind != "NONE" for kind in kinds):
            raise errors.Unimplemented("Blocking encryption types is not implemented.")
    document: dict[str, object] = {"algorithm": algorithm, "bucket_key": bucket_key == "true"}
    if key_id is not None and key_id.strip():
        document["key_id"] = key_id.strip()
    return json.dumps(document)


async def check_key(ctx: Ctx, stored: str) -> None:
    """An aws:kms default must name a key of the keyring (or have the keyring's default)."""
    document = json.loads(stored)
    if document["algorithm"] == AWS_KMS:
        kms_key_name(ctx.objects.keyring, document.get("key_id"))


def render_encryption(stored: str) -> bytes:
    document = json.loads(stored)
    by_default: list[tuple[str, Node]] = [("SSEAlgorithm", str(document["algorithm"]))]
    if document.get("key_id"):
        by_default.append(("KMSMasterKeyID", str(document["key_id"])))
    rule: list[tuple[str, Node]] = [
        ("ApplyServerSideEncryptionByDefault", by_default),
        ("BucketKeyEnabled", bool(document.get("bucket_key"))),
    ]
    return to_xml("ServerSideEncryptionConfiguration", [("Rule", rule)])


HANDLERS: dict[Op, Handler] = document_handlers(
    BucketDocument.ENCRYPTION,
    parse_encryption,
    render_encryption,
    errors.ServerSideEncryptionConfigurationNotFoundError,
    check=check_key,
)
