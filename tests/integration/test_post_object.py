"""Browser uploads (POST Object) against a real cluster: forms made by boto3's
generate_presigned_post (SigV4) and signed by hand with SigV2, sent by curl -F (what a browser
sends) and by a plain multipart encoder for the cases curl cannot make; anonymous forms into
public and private buckets; the policy's conditions, content-length-range, ${filename},
success_action_status/redirect, metadata, tagging and ACL fields; and broken forms, each
refused with S3's error and nothing stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from lxml import etree
from support.clients import client_for, empty_and_delete_bucket, unique_bucket_name
from support.data import new_user
from support.processes import Cluster

Fields = list[tuple[str, str]]


def encode_form(fields: Fields, file: bytes, filename: str = "upload.bin") -> tuple[bytes, str]:
    """A multipart/form-data body with the fields in order and the file last."""
    boundary = uuid.uuid4().hex
    body = bytearray()
    for name, value in fields:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value.encode() + b"\r\n"
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body += file + f"\r\n--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(
    cluster: Cluster,
    bucket: str,
    fields: Fields,
    file: bytes = b"hello",
    *,
    filename: str = "upload.bin",
    content_type: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    body, form_type = encode_form(fields, file, filename)
    request = urllib.request.Request(
        f"{cluster.endpoint}/{bucket}",
        data=body,
        method="POST",
        headers={"Content-Type": content_type or form_type},
    )
    context = None
    if cluster.ca_cert is not None:
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def error_of(body: bytes) -> str:
    return str(etree.fromstring(body).findtext("Code"))


def presigned(s3: BaseClient, bucket: str, key: str, **kwargs: Any) -> tuple[str, Fields]:
    form = s3.generate_presigned_post(bucket, key, ExpiresIn=600, **kwargs)
    return form["url"], list(form["fields"].items())


def sigv2_form(cluster: Cluster, conditions: list[Any], fields: Fields, **policy: Any) -> Fields:
    """`fields` with a SigV2 signature over a policy of `conditions`."""
    document = {
        "expiration": (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": conditions,
        **policy,
    }
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    signature = base64.b64encode(
        hmac.new(cluster.secret_key.encode(), encoded.encode(), hashlib.sha1).digest()
    ).decode()
    return [
        *fields,
        ("AWSAccessKeyId", cluster.access_key),
        ("policy", encoded),
        ("signature", signature),
    ]


def missing(s3: BaseClient, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


@pytest.fixture(scope="module")
def s3v4(cluster: Cluster) -> Iterator[BaseClient]:
    """boto3 signing SigV4 (its default for a custom endpoint's presigned POST is SigV2)."""
    client = client_for(cluster, signature_version="s3v4")
    yield client
    client.close()


@pytest.fixture
def public_bucket(s3: BaseClient) -> Iterator[str]:
    name = unique_bucket_name("post")
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    yield name
    empty_and_delete_bucket(s3, name)


def test_presigned_post_with_curl(
    cluster: Cluster, s3: BaseClient, bucket: str, tmp_path: Path
) -> None:
    """boto3's form, sent by curl -F as a browser sends it: stored byte-exact, 204."""
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, binary
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    url, fields = presigned(s3, bucket, "uploads/${filename}")
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"]
    if cluster.ca_cert is not None:
        command += ["--cacert", str(cluster.ca_cert)]
    for name, value in fields:
        command += ["--form-string", f"{name}={value}"]
    command += ["-F", f"file=@{path}", url]
    status = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    assert status.stdout == "204", status.stderr
    got = s3.get_object(Bucket=bucket, Key="uploads/photo.jpg")
    assert got["Body"].read() == data
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_policy_conditions_and_fields(
    cluster: Cluster, s3: BaseClient, s3v4: BaseClient, bucket: str
) -> None:
    """Conditions hold: 201 with a PostResponse; metadata, content type, tags stored."""
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"
    _, fields = presigned(
        s3v4,
        bucket,
        "docs/report.txt",
        Fields={
            "Content-Type": "text/plain",
            "x-amz-meta-origin": "browser",
            "success_action_status": "201",
            "tagging": tagging,
        },
        Conditions=[
            {"Content-Type": "text/plain"},
            ["starts-with", "$x-amz-meta-origin", "brow"],
            {"success_action_status": "201"},
            ["content-length-range", 1, 100],
            ["starts-with", "$tagging", ""],
        ],
    )
    status, headers, body = post(cluster, bucket, fields, b"report body")
    assert status == 201, body
    answer = etree.fromstring(body)  # S3 sends this one document without a namespace
    assert (answer.tag, answer.findtext("Key")) == ("PostResponse", "docs/report.txt")
    assert answer.findtext("Bucket") == bucket
    assert headers["Location"].endswith(f"/{bucket}/docs/report.txt")
    head = s3.head_object(Bucket=bucket, Key="docs/report.txt")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"origin": "browser"}
    assert head["ETag"] == headers["ETag"]
    tags = s3.get_object_tagging(Bucket=bucket, Key="docs/report.txt")["TagSet"]
    assert tags == [{"Key": "team", "Value": "web"}]


def test_sigv2_form_and_redirect(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    target = "https://example.com/done?from=form"
    fields = sigv2_form(
        cluster,
        [{"bucket": bucket}, ["starts-with", "$key", "v2/"], {"success_action_redirect": target}],
        [("key", "v2/a b.txt"), ("success_action_redirect", target)],
    )
    status, headers, _ = post(cluster, bucket, fields, b"v2 body")
    assert status == 303
    etag = s3.head_object(Bucket=bucket, Key="v2/a b.txt")["ETag"]
    quoted = etag.replace('"', "%22")
    assert headers["Location"] == f"{target}&bucket={bucket}&key=v2%2Fa%20b.txt&etag={quoted}"


def test_anonymous_forms(cluster: Cluster, s3: BaseClient, bucket: str, public_bucket: str) -> None:
    """No signature: allowed where anonymous writes are (the acl field applies), else 403."""
    status, _, _ = post(cluster, public_bucket, [("key", "anon.txt"), ("acl", "public-read")])
    assert status == 204
    with urllib.request.urlopen(f"{cluster.endpoint}/{public_bucket}/anon.txt") as answer:
        assert answer.read() == b"hello"
    status, _, body = post(cluster, bucket, [("key", "anon.txt")])
    assert (status, error_of(body)) == (403, "AccessDenied")
    assert missing(s3, bucket, "anon.txt")


def test_signer_needs_write_access(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    """A form signed by a user who may not write the bucket stores nothing."""
    other = new_user(cluster, "form").client
    _, fields = presigned(other, bucket, "theirs.txt")
    status, _, body = post(cluster, bucket, fields)
    assert (status, error_of(body)) == (403, "AccessDenied")
    assert missing(s3, bucket, "theirs.txt")
    other.close()


BAD_POLICIES = [
    ("not base64!", "InvalidPolicyDocument"),
    (base64.b64encode(b"{not json").decode(), "InvalidPolicyDocument"),
    (base64.b64encode(b'{"conditions": []}').decode(), "InvalidPolicyDocument"),
    (base64.b64encode(b'{"expiration": "2099-01-01T00:00:00Z"}').decode(), "InvalidPolicyDocument"),
    (
        base64.b64encode(b'{"expiration": "tomorrow", "conditions": []}').decode(),
        "InvalidPolicyDocument",
    ),
    (
        base64.b64encode(b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{}]}').decode(),
        "InvalidPolicyDocument",
    ),
    (
        base64.b64encode(
            b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [["ends-with", "$key", "x"]]}'
        ).decode(),
        "InvalidPolicyDocument",
    ),
]


@pytest.mark.parametrize(("policy", "code"), BAD_POLICIES)
def test_unreadable_policies(
    cluster: Cluster, s3: BaseClient, bucket: str, policy: str, code: str
) -> None:
    signature = base64.b64encode(
        hmac.new(cluster.secret_key.encode(), policy.encode(), hashlib.sha1).digest()
    ).decode()
    fields = [
        ("key", "bad.txt"),
        ("AWSAccessKeyId", cluster.access_key),
        ("policy", policy),
        ("signature", signature),
    ]
    status, _, body = post(cluster, bucket, fields)
    assert (status, error_of(body)) == (400, code)
    assert missing(s3, bucket, "bad.txt")


def test_forms_refused(cluster: Cluster, s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    """Each broken SigV4 form gets S3's error, and no object appears."""
    _, good = presigned(s3v4, bucket, "k.txt", Conditions=[["content-length-range", 3, 10]])
    by_name = dict(good)

    def with_field(name: str, value: str) -> Fields:
        return [(n, value if n == name else v) for n, v in good]

    cases: list[tuple[Fields, bytes, int, str]] = [
        # A signature that is not the signer's.
        (with_field("x-amz-signature", "0" * 64), b"hello", 403, "SignatureDoesNotMatch"),
        # An access key nobody has.
        (
            with_field("x-amz-credential", "NOBODY" + by_name["x-amz-credential"][6:]),
            b"hello",
            403,
            "InvalidAccessKeyId",
        ),
        # A field the policy does not name.
        ([*good, ("x-amz-meta-extra", "1")], b"hello", 403, "AccessDenied"),
        # The key the policy names is not the key sent.
        (with_field("key", "other.txt"), b"hello", 403, "AccessDenied"),
        # content-length-range: too large, too small.
        (good, b"x" * 11, 400, "EntityTooLarge"),
        (good, b"xy", 400, "EntityTooSmall"),
        # No key at all; a signature without its policy.
        ([(n, v) for n, v in good if n != "key"], b"hello", 400, "InvalidArgument"),
        ([(n, v) for n, v in good if n != "policy"], b"hello", 400, "InvalidArgument"),
        # A checksum the body does not have.
        (
            [*good, ("x-amz-checksum-sha256", base64.b64encode(b"\0" * 32).decode())],
            b"hello",
            400,
            "BadDigest",
        ),
    ]
    for fields, file, status, code in cases:
        got_status, _, body = post(cluster, bucket, fields, file)
        assert (got_status, error_of(body)) == (status, code), (fields, body)
        assert missing(s3, bucket, "k.txt"), fields
        assert missing(s3, bucket, "other.txt"), fields
    # The same form, whole, works: the refusals above were for what each changed.
    assert post(cluster, bucket, good)[0] == 204


def test_sigv2_signature_checked(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    _, fields = presigned(s3, bucket, "v2.txt")
    assert "AWSAccessKeyId" in dict(fields)
    forged = [(n, "AAAA" + v[4:] if n == "signature" else v) for n, v in fields]
    status, _, body = post(cluster, bucket, forged)
    assert (status, error_of(body)) == (403, "SignatureDoesNotMatch")
    assert missing(s3, bucket, "v2.txt")
    assert post(cluster, bucket, fields)[0] == 204


def test_expired_policy_and_not_a_form(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    conditions: list[Any] = [{"bucket": bucket}, {"key": "old.txt"}]
    fields = sigv2_form(
        cluster, conditions, [("key", "old.txt")], expiration="2020-01-01T00:00:00Z"
    )
    status, _, body = post(cluster, bucket, fields)
    assert (status, error_of(body)) == (403, "AccessDenied")
    assert b"Policy expired" in body
    status, _, body = post(cluster, bucket, [("key", "x")], content_type="text/plain")
    assert (status, error_of(body)) == (412, "PreconditionFailed")
    status, _, body = post(cluster, bucket, [("key", "x" * 30_000)])
    assert (status, error_of(body)) == (400, "MaxPostPreDataLengthExceededError")
    assert missing(s3, bucket, "old.txt")


def test_no_such_bucket(cluster: Cluster) -> None:
    status, _, body = post(cluster, unique_bucket_name("gone"), [("key", "a")])
    assert (status, error_of(body)) == (404, "NoSuchBucket")


def test_sigv4_form_for_another_region(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    elsewhere = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name="ap-south-1",
    ).client("s3", endpoint_url=cluster.endpoint, config=Config(signature_version="s3v4"))
    _, fields = presigned(elsewhere, bucket, "far.txt")
    status, _, body = post(cluster, bucket, fields)
    assert (status, error_of(body)) == (400, "AuthorizationQueryParametersError")
    assert missing(s3, bucket, "far.txt")
    elsewhere.close()


def test_encrypted_form_uploads(
    cluster: Cluster, s3: BaseClient, s3v4: BaseClient, bucket: str
) -> None:
    """The encryption fields ask as PutObject's headers do: SSE-S3, SSE-C, SSE-KMS; DSSE 501."""
    _, fields = presigned(
        s3v4,
        bucket,
        "sse-s3.txt",
        Fields={"x-amz-server-side-encryption": "AES256"},
        Conditions=[{"x-amz-server-side-encryption": "AES256"}],
    )
    status, headers, body = post(cluster, bucket, fields, b"sealed")
    assert status == 204, body
    assert headers["x-amz-server-side-encryption"] == "AES256"
    head = s3.head_object(Bucket=bucket, Key="sse-s3.txt")
    assert head["ServerSideEncryption"] == "AES256"
    key = bytes(range(32))
    customer = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
        "x-amz-server-side-encryption-customer-key-md5": base64.b64encode(
            hashlib.md5(key).digest()
        ).decode(),
    }
    _, fields = presigned(
        s3v4,
        bucket,
        "sse-c.txt",
        Fields=customer,
        Conditions=[{name: value} for name, value in customer.items()],
    )
    assert post(cluster, bucket, fields, b"customer sealed")[0] == 204
    got = s3.get_object(
        Bucket=bucket, Key="sse-c.txt", SSECustomerAlgorithm="AES256", SSECustomerKey=key
    )
    assert got["Body"].read() == b"customer sealed"
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="sse-c.txt")
    _, fields = presigned(
        s3v4,
        bucket,
        "kms.txt",
        Fields={"x-amz-server-side-encryption": "aws:kms"},
        Conditions=[{"x-amz-server-side-encryption": "aws:kms"}],
    )
    assert post(cluster, bucket, fields)[0] == 204
    assert s3.head_object(Bucket=bucket, Key="kms.txt")["ServerSideEncryption"] == "aws:kms"
    _, fields = presigned(
        s3v4,
        bucket,
        "dsse.txt",
        Fields={"x-amz-server-side-encryption": "aws:kms:dsse"},
        Conditions=[{"x-amz-server-side-encryption": "aws:kms:dsse"}],
    )
    status, _, body = post(cluster, bucket, fields)
    assert (status, error_of(body)) == (501, "NotImplemented")
    assert missing(s3, bucket, "dsse.txt")
