"""CompleteMultipartUpload details found by the ceph s3-tests suite: its x-amz-checksum-*
header is the checksum of the object being completed (COMPOSITE with its "-N" suffix, or
FULL_OBJECT), not of the XML body; and a part number listed twice counts once, with its last
listing."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status

PART_BYTES = 5 * 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _upload(
    s3: BaseClient, bucket: str, key: str, bodies: list[bytes], algorithm: str, **extra: Any
) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra
    )["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm,
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        part[f"Checksum{algorithm}"] = answer[f"Checksum{algorithm}"]
        parts.append(part)
    return upload_id, parts


def test_composite_sha256_checksum_on_complete(s3: BaseClient, bucket: str) -> None:
    bodies = [b"a" * PART_BYTES, b"b" * 1000]
    upload_id, parts = _upload(s3, bucket, "composite", bodies, "SHA256")
    digests = b"".join(hashlib.sha256(body).digest() for body in bodies)
    expected = f"{b64(hashlib.sha256(digests).digest())}-2"
    wrong = f"{b64(hashlib.sha256(b'other').digest())}-2"
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="composite",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumSHA256=wrong,
        )
    assert (http_status(caught.value), error_code(caught.value)) == (400, "BadDigest")
    # The refused Complete left the upload as it was.
    answer = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="composite",
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumSHA256=expected,
    )
    assert answer["ChecksumSHA256"] == expected
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected


def test_full_object_crc32_checksum_on_complete(s3: BaseClient, bucket: str) -> None:
    bodies = [b"x" * PART_BYTES, b"y" * 777]
    upload_id, parts = _upload(s3, bucket, "full", bodies, "CRC32", ChecksumType="FULL_OBJECT")
    whole = zlib.crc32(b"".join(bodies)).to_bytes(4, "big")
    answer = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="full",
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=b64(whole),
        ChecksumType="FULL_OBJECT",
    )
    assert answer["ChecksumCRC32"] == b64(whole)
    assert s3.get_object(Bucket=bucket, Key="full")["Body"].read() == b"".join(bodies)


def test_a_part_listed_twice_is_invalid_part_order(s3: BaseClient, bucket: str) -> None:
    """S3 requires strictly ascending part numbers: a part listed twice (as uppy once sent,
    transloadit/uppy#2351) is InvalidPartOrder, whichever ETags the two listings name."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="twice")["UploadId"]
    first = s3.upload_part(
        Bucket=bucket, Key="twice", UploadId=upload_id, PartNumber=1, Body=b"first"
    )["ETag"]
    second = s3.upload_part(
        Bucket=bucket, Key="twice", UploadId=upload_id, PartNumber=1, Body=b"second"
    )["ETag"]
    for listed in ([first, second], [second, first], [second, second]):
        with pytest.raises(ClientError) as caught:
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key="twice",
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag} for etag in listed]},
            )
        assert error_code(caught.value) == "InvalidPartOrder"
    # Listed once, the part stored now completes the upload.
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="twice",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": second}]},
    )
    assert s3.get_object(Bucket=bucket, Key="twice")["Body"].read() == b"second"
