"""Put/Get/DeleteBucketEncryption: a bucket's default encryption, kept as its `encryption`
document ({"algorithm": "AES256", "bucket_key": bool}). New objects written without SSE
headers get SSE-S3 when it is set (`api/sse.py`, `write_encryption`). A bucket without one
answers GetBucketEncryption 404 ServerSideEncryptionConfigurationNotFoundError (objects are
then stored as they are sent). SSE-KMS defaults are 501, as SSE-KMS is everywhere here."""

from __future__ import annotations

import json

from s3compat.api import errors
from s3compat.api.app import Handler
from s3compat.api.operations import Op
from s3compat.api.ops.documents import document_handlers
from s3compat.api.sse import KMS_ALGORITHMS
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.store.buckets import BucketDocument
from s3compat.store.sse import AES256

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
    if algorithm in KMS_ALGORITHMS:
        raise errors.Unimplemented(
            "Server-side encryption with AWS KMS keys is not implemented; use AES256."
        )
    if algorithm != AES256:
        raise errors.MalformedXML()
    if child_text(defaults[0], "KMSMasterKeyID") is not None:
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
    return json.dumps({"algorithm": algorithm, "bucket_key": bucket_key == "true"})


def render_encryption(stored: str) -> bytes:
    document = json.loads(stored)
    rule: list[tuple[str, Node]] = [
        ("ApplyServerSideEncryptionByDefault", [("SSEAlgorithm", str(document["algorithm"]))]),
        ("BucketKeyEnabled", bool(document.get("bucket_key"))),
    ]
    return to_xml("ServerSideEncryptionConfiguration", [("Rule", rule)])


BUCKET_ENCRYPTION = document_handlers(
    BucketDocument.ENCRYPTION,
    parse=parse_encryption,
    render=render_encryption,
    missing=errors.ServerSideEncryptionConfigurationNotFoundError,
    put_status=200,
)

HANDLERS: dict[Op, Handler] = {
    Op.PutBucketEncryption: BUCKET_ENCRYPTION.put,
    Op.GetBucketEncryption: BUCKET_ENCRYPTION.get,
    Op.DeleteBucketEncryption: BUCKET_ENCRYPTION.delete,
}
