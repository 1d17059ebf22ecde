"""Authentication: SigV4 and SigV2 headers, presigned URLs, payload hashes, clock skew, and the
shape of every error answer."""

from __future__ import annotations

import datetime
import hashlib
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from support.clients import REGION, client_for, error_code, http_status, unique_bucket_name
from support.processes import Cluster
from support.signing import FixedTimeSigV2, FixedTimeSigV4, RawResponse, raw_request

SKEW = datetime.timedelta(minutes=20)


def configured_client(cluster: Cluster, config: Config) -> BaseClient:
    session = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name=REGION,
    )
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def code_of(body: bytes) -> str | None:
    return ElementTree.fromstring(body).findtext("Code") if body else None


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_wrong_secret(cluster: Cluster) -> None:
    client = client_for(cluster, cluster.access_key, "x" * 40)
    with pytest.raises(ClientError) as raised:
        client.list_buckets()
    assert (error_code(raised.value), http_status(raised.value)) == ("SignatureDoesNotMatch", 403)
    client.close()


def test_unknown_access_key(cluster: Cluster) -> None:
    client = client_for(cluster, "AKIANOSUCHKEY0000000", cluster.secret_key)
    with pytest.raises(ClientError) as raised:
        client.list_buckets()
    assert (error_code(raised.value), http_status(raised.value)) == ("InvalidAccessKeyId", 403)
    client.close()


def test_anonymous_requests_are_denied(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"x")
    for method, target in [
        ("GET", "/"),
        ("GET", f"/{bucket}"),
        ("GET", f"/{bucket}/private"),
        ("PUT", f"/{bucket}/new"),
        ("DELETE", f"/{bucket}/private"),
    ]:
        answer = raw_request(cluster, method, target, body=b"", signer=None)
        assert (answer.status, answer.error_code()) == (403, "AccessDenied"), (method, target)
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"x"


@pytest.fixture
def sigv4_presigner(cluster: Cluster) -> BaseClient:
    return configured_client(cluster, Config(signature_version="s3v4"))


def test_presigned_sigv4_get(sigv4_presigner: BaseClient, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file", Body=b"presigned body")
    url = sigv4_presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file"}, ExpiresIn=300
    )
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Signature=" in url
    assert fetch(url) == (200, b"presigned body")


def test_presigned_sigv4_put(sigv4_presigner: BaseClient, s3: BaseClient, bucket: str) -> None:
    url = sigv4_presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=300
    )
    request = urllib.request.Request(url, data=b"via presigned put", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"via presigned put"


def test_presigned_url_expires(sigv4_presigner: BaseClient, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="brief", Body=b"x")
    url = sigv4_presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "brief"}, ExpiresIn=1
    )
    time.sleep(2)  # the expiry is in whole seconds; nothing to poll
    status, body = fetch(url)
    assert (status, code_of(body)) == (403, "AccessDenied"), body[:300]


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda url: url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), "SignatureDoesNotMatch"),
        (lambda url: with_query(url, **{"X-Amz-Expires": "600"}), "SignatureDoesNotMatch"),
        (lambda url: url.replace("/target?", "/other?"), "SignatureDoesNotMatch"),
        (
            lambda url: url.replace("X-Amz-Credential=", "X-Amz-Credential=Z"),
            "InvalidAccessKeyId",
        ),
    ],
    ids=["signature", "expires", "object-key", "access-key"],
)
def test_tampered_presigned_url(
    sigv4_presigner: BaseClient,
    s3: BaseClient,
    bucket: str,
    tamper: Callable[[str], str],
    code: str,
) -> None:
    s3.put_object(Bucket=bucket, Key="target", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other", Body=b"y")
    url = sigv4_presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300
    )
    tampered = tamper(url)
    assert tampered != url
    status, body = fetch(tampered)
    assert (status, code_of(body)) == (403, code), body[:300]


def test_presigned_sigv2_get(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="v2 key+plus", Body=b"sigv2 body")
    presigner = configured_client(cluster, Config(signature_version="s3"))
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "v2 key+plus"}, ExpiresIn=300
    )
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    assert fetch(url) == (200, b"sigv2 body")
    status, body = fetch(url.replace("Signature=", "Signature=A"))
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")


def test_default_presigned_url_works(s3: BaseClient, bucket: str) -> None:
    # boto3's default presigner (SigV2 query auth for this configuration today).
    s3.put_object(Bucket=bucket, Key="default", Body=b"default presign")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "default"}, ExpiresIn=300
    )
    assert fetch(url) == (200, b"default presign")


def test_sigv2_header_auth(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    answer = raw_request(cluster, "PUT", f"/{bucket}/v2", body=b"hmac-v1", signer="sigv2")
    assert answer.status == 200, answer.body[:300]
    assert s3.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"hmac-v1"


def test_payload_hash_mismatch(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    answer = raw_request(
        cluster,
        "PUT",
        f"/{bucket}/hashed",
        headers={"X-Amz-Content-SHA256": hashlib.sha256(b"a different body").hexdigest()},
        body=b"the body actually sent",
    )
    assert (answer.status, answer.error_code()) == (400, "XAmzContentSHA256Mismatch"), answer.body[
        :500
    ]
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=bucket, Key="hashed")
    assert http_status(raised.value) == 404


def test_unsigned_payload_is_accepted(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    answer = raw_request(
        cluster,
        "PUT",
        f"/{bucket}/unsigned",
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        body=b"unsigned payload",
    )
    assert answer.status == 200, answer.body[:300]
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"unsigned payload"


@pytest.mark.parametrize("direction", [-1, 1], ids=["past", "future"])
@pytest.mark.parametrize("scheme", ["sigv4-x-amz-date", "sigv4-date", "sigv2-date"])
def test_request_time_too_skewed(cluster: Cluster, scheme: str, direction: int) -> None:
    at = datetime.datetime.now(datetime.UTC) + direction * SKEW
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    headers: dict[str, str] = {}
    signer: FixedTimeSigV4 | FixedTimeSigV2
    if scheme == "sigv2-date":
        signer = FixedTimeSigV2(credentials, at)
    else:
        signer = FixedTimeSigV4(credentials, at)
        if scheme == "sigv4-date":
            headers["Date"] = "placeholder"  # botocore then signs a Date, not X-Amz-Date
    answer = raw_request(cluster, "GET", "/", headers=headers, signer=signer)
    assert (answer.status, answer.error_code()) == (403, "RequestTimeTooSkewed"), answer.body[:500]


def test_small_skew_is_accepted(cluster: Cluster) -> None:
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=3)
    signer = FixedTimeSigV4(Credentials(cluster.access_key, cluster.secret_key), at)
    answer = raw_request(cluster, "GET", "/", signer=signer)
    assert answer.status == 200, answer.body[:500]


def assert_s3_error(answer: RawResponse, status: int, code: str) -> None:
    assert answer.status == status, answer.body[:500]
    request_id = answer.header("x-amz-request-id")
    assert request_id
    assert (answer.header("Content-Type") or "").startswith("application/xml")
    root = ElementTree.fromstring(answer.body)
    assert root.tag == "Error"
    assert root.findtext("Code") == code
    assert root.findtext("Message")
    assert root.findtext("RequestId") == request_id


def test_error_answers_are_s3_xml(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    cases: list[tuple[str, str, dict[str, str], bytes, str | None, int, str]] = [
        ("GET", "/no-such-bucket-here-at-all", {}, b"", "sigv4", 404, "NoSuchBucket"),
        ("GET", f"/{bucket}/missing", {}, b"", "sigv4", 404, "NoSuchKey"),
        ("GET", "/", {}, b"", None, 403, "AccessDenied"),
        ("PUT", "/Bad_Bucket", {}, b"", "sigv4", 400, "InvalidBucketName"),
        ("POST", f"/{bucket}?delete", {}, b"<Delete><Object>", "sigv4", 400, "MalformedXML"),
    ]
    for method, target, headers, body, signer, status, code in cases:
        answer = raw_request(cluster, method, target, headers=headers, body=body, signer=signer)
        assert_s3_error(answer, status, code)
    wrong_key = raw_request(cluster, "GET", "/", access_key="AKIANOSUCHKEY0000000")
    assert_s3_error(wrong_key, 403, "InvalidAccessKeyId")
    wrong_secret = raw_request(cluster, "GET", "/", secret_key="y" * 40)
    assert_s3_error(wrong_secret, 403, "SignatureDoesNotMatch")
    s3.put_object(Bucket=bucket, Key="small", Body=b"abc")
    bad_range = raw_request(cluster, "GET", f"/{bucket}/small", headers={"Range": "bytes=10-"})
    assert_s3_error(bad_range, 416, "InvalidRange")


def test_head_errors_carry_a_request_id(cluster: Cluster, bucket: str) -> None:
    answer = raw_request(cluster, "HEAD", f"/{bucket}/missing")
    assert answer.status == 404
    assert answer.body == b""
    assert answer.header("x-amz-request-id")


def test_sigv2_client_creates_and_deletes_buckets(cluster: Cluster) -> None:
    """boto3 with signature_version "s3" (SigV2 headers) for bucket operations too, as old
    clients and the s3-tests' v2 clients use it."""
    v2 = client_for(cluster, signature_version="s3")
    name = unique_bucket_name("sigv2")
    v2.create_bucket(Bucket=name)
    v2.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert v2.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "a", "Value": "b"}]
    v2.put_object(Bucket=name, Key="k", Body=b"x")
    assert v2.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
    v2.delete_object(Bucket=name, Key="k")
    v2.delete_bucket(Bucket=name)
