"""Server-side encryption with boto3: SSE-C and SSE-S3 round trips (ranges, copies,
multipart), the errors S3 gives for wrong, missing and malformed keys, bucket default
encryption, DSSE-KMS refused, and that the chunk daemons hold no plaintext (SSE-KMS:
test_encryption_kms.py)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status
from support.processes import Cluster

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)
MIB = 1024 * 1024


def sse_c(key: bytes = KEY_A) -> dict[str, str]:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}  # type: ignore[dict-item]


def sse_c_raw(key: bytes = KEY_A) -> dict[str, str]:
    """SSE-C parameters for the operations botocore does not encode the key of
    (GetObjectAttributes, ListParts)."""
    return {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(key).decode(),
        "SSECustomerKeyMD5": md5_b64(key),
    }


def copy_source_c(key: bytes = KEY_A) -> dict[str, Any]:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def fails(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    message = raised.value.response.get("Error", {}).get("Message", "")
    return error_code(raised.value), http_status(raised.value), message


def with_headers(s3: BaseClient, event: str, headers: dict[str, str]) -> Callable[[], None]:
    """Add raw headers to every call of `event` (to send what botocore would not); returns
    the function that removes them again."""

    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"].update(headers)

    s3.meta.events.register(f"before-call.s3.{event}", add)
    return lambda: s3.meta.events.unregister(f"before-call.s3.{event}", add)


def stored_files(cluster: Cluster) -> list[Path]:
    """Every chunk file and pack (chunkd.packs) of every daemon."""
    return [
        path
        for folder in cluster.chunk_dirs
        for kind in ("chunks", "packs")
        for path in (folder / kind).rglob("*")
        if path.is_file()
    ]


def disks_hold(cluster: Cluster, needle: bytes) -> bool:
    for path in stored_files(cluster):
        try:
            if needle in path.read_bytes():
                return True
        except FileNotFoundError:  # collected (a deleted object's piece) since it was listed
            continue
    return False


def test_sse_c_round_trip_head_and_ranges(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(300 * 1024 + 7)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **sse_c())
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == md5_b64(KEY_A)
    # S3: the ETag of an SSE-C object is not the MD5 of its data.
    assert put["ETag"].strip('"') != hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="c", **sse_c())
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)
    assert got["SSECustomerKeyMD5"] == md5_b64(KEY_A)
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="c", **sse_c())
    assert head["ContentLength"] == len(body)
    assert "x-s3compat-sse-wrapped-key" not in head["ResponseMetadata"]["HTTPHeaders"]
    for first, last in [(0, 0), (65535, 65536), (100_000, 200_000), (len(body) - 5, len(body) - 1)]:
        part = s3.get_object(Bucket=bucket, Key="c", Range=f"bytes={first}-{last}", **sse_c())
        assert part["Body"].read() == body[first : last + 1]
        assert part["ContentRange"] == f"bytes {first}-{last}/{len(body)}"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("c", len(body))]


def test_sse_c_errors_are_s3s(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="c", Body=b"secret", **sse_c())
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    needs_key = fails(lambda: s3.get_object(Bucket=bucket, Key="c"))
    assert needs_key[:2] == ("InvalidRequest", 400)
    assert "stored using a form of Server Side Encryption" in needs_key[2]
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="c"))[:2] == ("400", 400)
    wrong = fails(lambda: s3.get_object(Bucket=bucket, Key="c", **sse_c(KEY_B)))
    assert wrong[:2] == ("AccessDenied", 403)
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="c", **sse_c(KEY_B)))[1] == 403
    not_applicable = fails(lambda: s3.get_object(Bucket=bucket, Key="plain", **sse_c()))
    assert not_applicable == (
        "InvalidRequest",
        400,
        "The encryption parameters are not applicable to this object.",
    )
    # Malformed keys on a write: nothing is stored.
    # With the MD5 given, botocore sends the key as given (base64).
    bad_md5 = {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(KEY_A).decode(),
        "SSECustomerKeyMD5": md5_b64(KEY_B),
    }
    code, status, message = fails(
        lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", **bad_md5)
    )
    assert (code, status) == ("InvalidArgument", 400) and "MD5 hash of the key" in message
    short = os.urandom(16)
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", **sse_c(short)))[:2] == (
        "InvalidArgument",
        400,
    )
    bad_algorithm = {"SSECustomerAlgorithm": "AES128", "SSECustomerKey": KEY_A}
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", **bad_algorithm))[:2] == (
        "InvalidEncryptionAlgorithmError",
        400,
    )
    remove = with_headers(
        s3,
        "PutObject",
        {
            "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY_A).decode(),
            "x-amz-server-side-encryption-customer-key-MD5": md5_b64(KEY_A),
        },
    )
    try:
        assert fails(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x"))[:2] == (
            "InvalidArgument",
            400,
        )
    finally:
        remove()
    both = {"ServerSideEncryption": "AES256", **sse_c()}
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"x", **both))[:2] == (
        "InvalidArgument",
        400,
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["c", "plain"]
    assert s3.get_object(Bucket=bucket, Key="c", **sse_c())["Body"].read() == b"secret"


def test_sse_c_copy_reads_with_the_source_key(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **sse_c())
    source = {"Bucket": bucket, "Key": "src"}
    missing = fails(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=source))
    assert missing[:2] == ("InvalidRequest", 400)
    wrong = fails(
        lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **copy_source_c(KEY_B))
    )
    assert wrong[:2] == ("AccessDenied", 403)
    # To another key, then to plaintext, then to SSE-S3.
    copied = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource=source, **copy_source_c(), **sse_c(KEY_B)
    )
    assert copied["SSECustomerKeyMD5"] == md5_b64(KEY_B)
    assert s3.get_object(Bucket=bucket, Key="dst", **sse_c(KEY_B))["Body"].read() == body
    s3.copy_object(Bucket=bucket, Key="plain", CopySource=source, **copy_source_c())
    plain = s3.get_object(Bucket=bucket, Key="plain")
    assert plain["Body"].read() == body and "SSECustomerKeyMD5" not in plain
    s3.copy_object(
        Bucket=bucket, Key="s3", CopySource=source, ServerSideEncryption="AES256", **copy_source_c()
    )
    assert s3.head_object(Bucket=bucket, Key="s3")["ServerSideEncryption"] == "AES256"
    # Re-keying an object onto itself is a change S3 allows.
    s3.copy_object(Bucket=bucket, Key="src", CopySource=source, **copy_source_c(), **sse_c(KEY_B))
    assert s3.get_object(Bucket=bucket, Key="src", **sse_c(KEY_B))["Body"].read() == body


def test_sse_c_multipart(s3: BaseClient, bucket: str) -> None:
    parts_data = [os.urandom(5 * MIB + 1), os.urandom(5 * MIB), os.urandom(123_457)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **sse_c())
    upload_id = upload["UploadId"]
    assert upload["SSECustomerKeyMD5"] == md5_b64(KEY_A)
    no_key = fails(
        lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x")
    )
    assert no_key[:2] == ("InvalidRequest", 400) and "Subsequent part requests" in no_key[2]
    other = fails(
        lambda: s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x", **sse_c(KEY_B)
        )
    )
    assert other == (
        "InvalidRequest",
        400,
        "The provided encryption parameters did not match the ones used originally.",
    )
    parts = []
    for number, data in enumerate(parts_data, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=data, **sse_c()
        )
        assert answer["SSECustomerKeyMD5"] == md5_b64(KEY_A)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in listed] == [len(d) for d in parts_data]
    wrong_complete = fails(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **sse_c(KEY_B),
        )
    )
    assert wrong_complete[:2] == ("InvalidRequest", 400)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}, **sse_c()
    )
    assert "ServerSideEncryption" not in done  # Complete answers no SSE-C headers (AWS's model)
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=bucket, Key="mp", **sse_c())
    assert got["ContentLength"] == len(whole) and got["Body"].read() == whole
    boundary = len(parts_data[0])
    for first, last in [
        (boundary - 3, boundary + 3),
        (0, 2 * MIB),
        (len(whole) - 10, len(whole) - 1),
    ]:
        part = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={first}-{last}", **sse_c())
        assert part["Body"].read() == whole[first : last + 1]
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **sse_c())
    assert second["Body"].read() == parts_data[1]
    assert s3.head_object(Bucket=bucket, Key="mp", **sse_c())["ContentLength"] == len(whole)
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectSize"], **sse_c_raw()
    )
    assert attributes["ObjectSize"] == len(whole)
    assert fails(
        lambda: s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectSize"])
    )[:2] == ("InvalidRequest", 400)
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="mp", **sse_c(KEY_B)))[1] == 403


def test_upload_part_copy_from_an_sse_c_source_into_sse_s3(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **sse_c())
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")[
        "UploadId"
    ]
    source = {"Bucket": bucket, "Key": "src"}
    assert fails(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, CopySource=source
        )
    )[:2] == ("InvalidRequest", 400)
    etag = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        PartNumber=1,
        CopySource=source,
        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
        **copy_source_c(),
    )["CopyPartResult"]["ETag"]
    etag2 = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=body[5 * MIB :]
    )["ETag"]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": etag}, {"PartNumber": 2, "ETag": etag2}]
        },
    )
    assert done["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body


def test_sse_s3_put_get_and_etag(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(1 * MIB + 3)
    put = s3.put_object(Bucket=bucket, Key="s", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    # S3: an SSE-S3 single PUT keeps the MD5 ETag (clients compare it).
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="s")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body
    ranged = s3.get_object(Bucket=bucket, Key="s", Range="bytes=70000-70009")
    assert ranged["Body"].read() == body[70000:70010]
    headers = s3.head_object(Bucket=bucket, Key="s")["ResponseMetadata"]["HTTPHeaders"]
    assert not any(name.startswith("x-s3compat") for name in headers)
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="s", **sse_c()))[:2] == (
        "InvalidRequest",
        400,
    )
    s3.put_object_tagging(Bucket=bucket, Key="s", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == body


def test_sse_s3_in_a_versioned_bucket(s3: BaseClient, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one", ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="v", Body=b"two", **sse_c())
    old = s3.get_object(Bucket=bucket, Key="v", VersionId=first["VersionId"])
    assert old["Body"].read() == b"one" and old["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="v", **sse_c())["Body"].read() == b"two"


def test_bucket_default_encryption(s3: BaseClient, bucket: str) -> None:
    missing = fails(lambda: s3.get_bucket_encryption(Bucket=bucket))
    assert missing[:2] == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    s3.put_object(Bucket=bucket, Key="before", Body=b"plain")
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
    assert s3.put_object(Bucket=bucket, Key="after", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="after")["ServerSideEncryption"] == "AES256"
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="before")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert upload["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])
    # An explicit SSE-C key wins over the default.
    s3.put_object(Bucket=bucket, Key="c", Body=b"c", **sse_c())
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="c", **sse_c())
    s3.delete_bucket_encryption(Bucket=bucket)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert fails(lambda: s3.get_bucket_encryption(Bucket=bucket))[1] == 404
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="later", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"x"


def test_bad_bucket_encryption_configurations(s3: BaseClient, bucket: str) -> None:
    def put(rule: dict[str, Any]) -> tuple[str, int, str]:
        return fails(
            lambda: s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
            )
        )

    dsse = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}
    assert put(dsse)[:2] == ("NotImplemented", 501)
    with_key = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}
    }
    assert put(with_key)[:2] == ("InvalidArgument", 400)
    assert fails(
        lambda: s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": []}
        )
    )[:2] == ("MalformedXML", 400)
    assert fails(lambda: s3.get_bucket_encryption(Bucket=bucket))[1] == 404


def test_dsse_and_unknown_algorithms_are_refused(s3: BaseClient, bucket: str) -> None:
    assert fails(
        lambda: s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse"
        )
    )[:2] == ("NotImplemented", 501)
    assert fails(
        lambda: s3.create_multipart_upload(
            Bucket=bucket, Key="k", ServerSideEncryption="aws:kms:dsse"
        )
    )[:2] == ("NotImplemented", 501)
    bogus = fails(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES512")
    )  # type: ignore[arg-type]
    assert bogus[:2] == ("InvalidArgument", 400)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_chunk_daemons_never_hold_the_plaintext(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    marker = b"PLAINTEXT-" + os.urandom(8).hex().encode()
    body = marker * (400_000 // len(marker))
    s3.put_object(Bucket=bucket, Key="control", Body=body)
    assert disks_hold(cluster, marker)  # the scan finds plaintext where there is some
    s3.delete_object(Bucket=bucket, Key="control")
    marker = b"SECRET-" + os.urandom(8).hex().encode()
    body = marker * (400_000 // len(marker))
    s3.put_object(Bucket=bucket, Key="c", Body=body, **sse_c())
    s3.put_object(Bucket=bucket, Key="s", Body=body, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms")
    kms_upload = s3.create_multipart_upload(Bucket=bucket, Key="km", ServerSideEncryption="aws:kms")
    kms_etag = s3.upload_part(
        Bucket=bucket, Key="km", UploadId=kms_upload["UploadId"], PartNumber=1, Body=body
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="km",
        UploadId=kms_upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": kms_etag}]},
    )
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="m", **sse_c())["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=body, **sse_c()
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="m",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        **sse_c(),
    )
    assert not disks_hold(cluster, marker)
    assert not disks_hold(cluster, KEY_A)
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="km")["Body"].read() == body
    for name in ("sse-master.key", "kms-keyring"):
        assert (cluster.data_dir / name).stat().st_mode & 0o777 == 0o600
        # The keys themselves are nowhere on the chunk daemons' disks.
        for line in (cluster.data_dir / name).read_text().split():
            assert not disks_hold(cluster, bytes.fromhex(line.rpartition(":")[2]))
