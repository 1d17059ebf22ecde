"""SSE-KMS with boto3 against the session cluster's keyring (`s3compat-default`, the default
key, and `it-second`, support/fixtures.py): key id forms and the ARN S3 answers, the default
key, bucket default encryption, copies and multipart between KMS and other encryption, the
encryption context, and the refusals (unknown key, DSSE, malformed headers) that store
nothing."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from botocore.client import BaseClient
from test_encryption import KEY_A, copy_source_c, fails, sse_c, with_headers

DEFAULT_KEY = "s3compat-default"
SECOND_KEY = "it-second"
MIB = 1024 * 1024


def arn(name: str) -> str:
    return f"arn:aws:kms:us-east-1:000000000000:key/{name}"


def kms(key_id: str | None = SECOND_KEY, **extra: Any) -> dict[str, Any]:
    asked: dict[str, Any] = {"ServerSideEncryption": "aws:kms", **extra}
    if key_id is not None:
        asked["SSEKMSKeyId"] = key_id
    return asked


def context(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_kms_round_trip_answers_the_key_arn(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(200 * 1024 + 3)
    for number, key_id in enumerate(
        (
            SECOND_KEY,
            f"alias/{SECOND_KEY}",
            arn(SECOND_KEY),
            f"arn:aws:kms:us-east-1:000000000000:alias/{SECOND_KEY}",
        )
    ):
        put = s3.put_object(Bucket=bucket, Key=f"k{number}", Body=body, **kms(key_id))
        assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", arn(SECOND_KEY))
        assert "BucketKeyEnabled" not in put
    got = s3.get_object(Bucket=bucket, Key="k0")
    assert got["Body"].read() == body
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", arn(SECOND_KEY))
    ranged = s3.get_object(Bucket=bucket, Key="k3", Range="bytes=65530-131080")
    assert ranged["Body"].read() == body[65530:131081]
    head = s3.head_object(Bucket=bucket, Key="k1")
    assert head["ContentLength"] == len(body) and head["SSEKMSKeyId"] == arn(SECOND_KEY)
    internal = [name for name in head["ResponseMetadata"]["HTTPHeaders"] if "s3compat" in name]
    assert internal == []
    # SSE headers on a read are S3's 400, as on GET of any object.
    remove = with_headers(s3, "GetObject", {"x-amz-server-side-encryption": "aws:kms"})
    try:
        assert fails(lambda: s3.get_object(Bucket=bucket, Key="k0"))[:2] == ("InvalidArgument", 400)
    finally:
        remove()


def test_kms_without_a_key_id_uses_the_default_key(s3: BaseClient, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"default", **kms(None, BucketKeyEnabled=True))
    assert put["SSEKMSKeyId"] == arn(DEFAULT_KEY) and put["BucketKeyEnabled"] is True
    got = s3.get_object(Bucket=bucket, Key="d")
    assert got["Body"].read() == b"default" and got["BucketKeyEnabled"] is True


def test_unknown_keys_and_dsse_are_refused_and_store_nothing(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    for key_id in (
        "missing",
        "alias/missing",
        arn("missing"),
        "arn:aws:kms:eu-west-1:000000000000:key/it-second",
        "arn:aws:kms:us-east-1:111111111111:key/it-second",
    ):
        code, status, _ = fails(
            lambda key_id=key_id: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **kms(key_id))
        )
        assert (code, status) == ("KMS.NotFoundException", 400), key_id
    assert fails(
        lambda: s3.copy_object(
            Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"}, **kms("missing")
        )
    )[:2] == ("KMS.NotFoundException", 400)
    assert fails(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", **kms("missing")))[
        :2
    ] == ("KMS.NotFoundException", 400)
    dsse = fails(
        lambda: s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse"
        )
    )
    assert dsse[:2] == ("NotImplemented", 501) and "DSSE" in dsse[2]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_kms_headers_are_checked(s3: BaseClient, bucket: str) -> None:
    # A key id or context needs aws:kms; aws:kms and an SSE-C key do not go together.
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSEKMSKeyId=SECOND_KEY))[
        :2
    ] == ("InvalidArgument", 400)
    assert fails(
        lambda: s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", SSEKMSKeyId=SECOND_KEY
        )
    )[:2] == ("InvalidArgument", 400)
    remove = with_headers(s3, "PutObject", {"x-amz-server-side-encryption": "aws:kms"})
    try:
        assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **sse_c()))[:2] == (
            "InvalidArgument",
            400,
        )
    finally:
        remove()
    bad_contexts = (
        "not base64!",
        base64.b64encode(b"{not json").decode(),
        context(["a"]),
        context({"a": 1}),
    )
    for bad in bad_contexts:
        code, status, message = fails(
            lambda bad=bad: s3.put_object(
                Bucket=bucket, Key="k", Body=b"x", **kms(SSEKMSEncryptionContext=bad)
            )
        )
        assert (code, status) == ("InvalidArgument", 400) and "string-string map" in message
    remove = with_headers(
        s3, "PutObject", {"x-amz-server-side-encryption-bucket-key-enabled": "yes"}
    )
    try:
        assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **kms()))[:2] == (
            "InvalidArgument",
            400,
        )
    finally:
        remove()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_encryption_context_is_kept_and_answered_on_writes(s3: BaseClient, bucket: str) -> None:
    given = context({"project": "kms", "team": "storage"})
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"ctx", **kms(SSEKMSEncryptionContext=given))
    assert put["SSEKMSEncryptionContext"] == given
    got = s3.get_object(Bucket=bucket, Key="c")
    assert got["Body"].read() == b"ctx" and "SSEKMSEncryptionContext" not in got
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="m", **kms(SSEKMSEncryptionContext=given)
    )
    assert upload["SSEKMSEncryptionContext"] == given and upload["SSEKMSKeyId"] == arn(SECOND_KEY)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    copy = s3.copy_object(
        Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "c"}, **kms(DEFAULT_KEY)
    )
    assert "SSEKMSEncryptionContext" not in copy and copy["SSEKMSKeyId"] == arn(DEFAULT_KEY)


def test_copies_between_kms_and_other_encryption(s3: BaseClient, bucket: str) -> None:
    body = os.urandom(300 * 1024)
    s3.put_object(Bucket=bucket, Key="kms", Body=body, **kms(SECOND_KEY))
    source = {"Bucket": bucket, "Key": "kms"}
    to_c = s3.copy_object(Bucket=bucket, Key="to-c", CopySource=source, **sse_c())
    assert "ServerSideEncryption" not in to_c
    assert s3.get_object(Bucket=bucket, Key="to-c", **sse_c())["Body"].read() == body
    to_kms = s3.copy_object(Bucket=bucket, Key="to-kms", CopySource=source, **kms(DEFAULT_KEY))
    assert to_kms["SSEKMSKeyId"] == arn(DEFAULT_KEY)
    assert s3.get_object(Bucket=bucket, Key="to-kms")["Body"].read() == body
    plain = s3.copy_object(Bucket=bucket, Key="plain", CopySource=source)
    assert "ServerSideEncryption" not in plain
    assert "SSEKMSKeyId" not in s3.head_object(Bucket=bucket, Key="plain")
    s3.put_object(Bucket=bucket, Key="c", Body=body, **sse_c())
    from_c = s3.copy_object(
        Bucket=bucket,
        Key="from-c",
        CopySource={"Bucket": bucket, "Key": "c"},
        **copy_source_c(),
        **kms(SECOND_KEY),
    )
    assert from_c["SSEKMSKeyId"] == arn(SECOND_KEY)
    assert s3.get_object(Bucket=bucket, Key="from-c")["Body"].read() == body
    # A copy onto itself that changes only the KMS key is allowed.
    s3.copy_object(Bucket=bucket, Key="kms", CopySource=source, **kms(DEFAULT_KEY))
    assert s3.head_object(Bucket=bucket, Key="kms")["SSEKMSKeyId"] == arn(DEFAULT_KEY)


def test_kms_multipart_with_upload_part_copy(s3: BaseClient, bucket: str) -> None:
    first = os.urandom(5 * MIB + 11)
    copied = os.urandom(MIB + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=copied, **kms(DEFAULT_KEY))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", **kms(SECOND_KEY))
    upload_id = upload["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=1, Body=first)
    assert part["SSEKMSKeyId"] == arn(SECOND_KEY)
    # UploadPart takes no SSE headers: the upload's encryption is the parts'.
    refused = fails(
        lambda: s3.upload_part(
            Bucket=bucket, Key="m", UploadId=upload_id, PartNumber=2, Body=b"x", **sse_c(KEY_A)
        )
    )
    assert refused[:2] == ("InvalidRequest", 400)
    copy = s3.upload_part_copy(
        Bucket=bucket,
        Key="m",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
    )
    assert copy["SSEKMSKeyId"] == arn(SECOND_KEY)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="m",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part["ETag"]},
                {"PartNumber": 2, "ETag": copy["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", arn(SECOND_KEY))
    whole = first + copied
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == whole
    ranged = s3.get_object(Bucket=bucket, Key="m", Range=f"bytes={5 * MIB}-{5 * MIB + 99}")
    assert ranged["Body"].read() == whole[5 * MIB : 5 * MIB + 100]
    assert s3.get_object(Bucket=bucket, Key="m", PartNumber=2)["Body"].read() == copied


def test_bucket_default_kms(s3: BaseClient, bucket: str) -> None:
    def configure(by_default: dict[str, str], bucket_key: bool = False) -> None:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": by_default,
                        "BucketKeyEnabled": bucket_key,
                    }
                ]
            },
        )

    configure({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": f"alias/{SECOND_KEY}"}, True)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [
        {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": f"alias/{SECOND_KEY}",
            },
            "BucketKeyEnabled": True,
        }
    ]
    put = s3.put_object(Bucket=bucket, Key="a", Body=b"by default")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", arn(SECOND_KEY))
    assert put["BucketKeyEnabled"] is True
    # aws:kms without a key id takes the bucket's key; a request's own choice wins.
    assert s3.put_object(Bucket=bucket, Key="b", Body=b"b", **kms(None))["SSEKMSKeyId"] == arn(
        SECOND_KEY
    )
    assert "SSEKMSKeyId" not in s3.put_object(
        Bucket=bucket, Key="c", Body=b"c", ServerSideEncryption="AES256"
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["SSEKMSKeyId"] == arn(SECOND_KEY)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    configure({"SSEAlgorithm": "aws:kms"})
    assert s3.put_object(Bucket=bucket, Key="d", Body=b"d")["SSEKMSKeyId"] == arn(DEFAULT_KEY)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"by default"

    def refused(by_default: dict[str, str]) -> tuple[str, int]:
        code, status, _ = fails(lambda: configure(by_default))
        return code, status

    assert refused({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "missing"}) == (
        "KMS.NotFoundException",
        400,
    )
    assert refused({"SSEAlgorithm": "aws:kms:dsse"}) == ("NotImplemented", 501)
    assert refused({"SSEAlgorithm": "AES256", "KMSMasterKeyID": SECOND_KEY}) == (
        "InvalidArgument",
        400,
    )
    # The refused configurations left the one before in place.
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
