"""GetObjectAttributes, and the checksum of one part of a multipart object on GET/HEAD
?partNumber=N."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code
from support.processes import Cluster
from support.signing import raw_request

PART_BYTES = 5 * 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_single_put_object_attributes(s3: BaseClient, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"hello", ChecksumAlgorithm="SHA256")
    answer = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert answer["ETag"] == put["ETag"].strip('"')
    assert answer["ObjectSize"] == 5
    assert answer["StorageClass"] == "STANDARD"
    assert answer["Checksum"] == {
        "ChecksumSHA256": sha256_b64(b"hello"),
        "ChecksumType": "FULL_OBJECT",
    }
    assert "ObjectParts" not in answer
    assert answer["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only and only["ObjectSize"] == 5


def test_multipart_object_attributes_and_part_checksums(s3: BaseClient, bucket: str) -> None:
    bodies = [b"a" * PART_BYTES, b"b" * PART_BYTES, b"c" * 100]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        parts.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                "ChecksumSHA256": answer["ChecksumSHA256"],
            }
        )
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    answer = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert answer["ETag"] == done["ETag"].strip('"')
    assert answer["Checksum"]["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert answer["Checksum"]["ChecksumType"] == "COMPOSITE"
    listed = answer["ObjectParts"]
    assert (listed["TotalPartsCount"], listed["IsTruncated"]) == (3, False)
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in listed["Parts"]] == [
        (n, len(body), sha256_b64(body)) for n, body in enumerate(bodies, start=1)
    ]
    page = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=1
    )["ObjectParts"]
    assert [p["PartNumber"] for p in page["Parts"]] == [2]
    assert (page["IsTruncated"], page["NextPartNumberMarker"], page["MaxParts"]) == (True, 2, 1)
    # GET ?partNumber=N with checksum mode: the part's bytes and the part's checksum.
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, ChecksumMode="ENABLED")
    assert second["Body"].read() == bodies[1]
    assert second["ChecksumSHA256"] == sha256_b64(bodies[1])
    assert second["PartsCount"] == 3
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=3, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(bodies[2])
    whole = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert whole["ChecksumSHA256"] == done["ChecksumSHA256"]


def test_attribute_errors(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_code(caught.value) == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for value in ("", "Color", "ETag,Nope"):
        answer = raw_request(
            cluster, "GET", f"/{bucket}/k?attributes", {"x-amz-object-attributes": value}
        )
        assert (answer.status, answer.error_code()) == (400, "InvalidArgument"), value
