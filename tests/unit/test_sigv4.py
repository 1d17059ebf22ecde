"""SigV4: the AWS documentation's S3 examples, requests signed by botocore, tampering, fuzzing."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from s3compat.api.auth import sigv4
from s3compat.api.auth.model import AuthResult, RequestView
from s3compat.api.auth.request import parse_auth, verify_auth
from s3compat.api.errors import S3Error

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_TIME = datetime(2013, 5, 24, tzinfo=UTC)
EMPTY = hashlib.sha256(b"").hexdigest()
HOST = "examplebucket.s3.amazonaws.com"


def view(
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]] | None = None,
    host: str = HOST,
) -> RequestView:
    return RequestView(
        method=method,
        raw_path=path,
        query=query or [],
        headers=CIMultiDict([("Host", host), *headers]),
        host=host,
    )


def doc_auth(signed: str, signature: str) -> tuple[str, str]:
    return (
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}",
    )


def authenticate(req: RequestView, now: datetime, secret: str = SECRET) -> AuthResult:
    parsed = parse_auth(req)
    return verify_auth(req, parsed, secret, now)


def expect(code: str, req: RequestView, now: datetime, secret: str = SECRET) -> S3Error:
    with pytest.raises(S3Error) as caught:
        authenticate(req, now, secret)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


# ---------------------------------------------------------------------------------------------
# The examples of "Signature Calculations for the Authorization Header: Transferring Payload in
# a Single Chunk" and "Authenticating Requests: Using Query Parameters".


def test_doc_get_object_with_range() -> None:
    signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    req = view(
        "GET",
        "/test.txt",
        [
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            doc_auth("host;range;x-amz-content-sha256;x-amz-date", signature),
        ],
    )
    parsed = parse_auth(req)
    canonical = sigv4.canonical_request(req, parsed.signed_headers, EMPTY, presigned=False)
    assert canonical == (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}"
    )
    assert sigv4.string_to_sign(parsed.amz_date, parsed.scope, canonical) == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )
    result = verify_auth(req, parsed, SECRET, DOC_TIME)
    assert result == AuthResult(
        access_key=AKID, content_sha256=EMPTY, streaming=None, region="us-east-1"
    )
    assert parsed.region == "us-east-1"


def test_doc_put_object() -> None:
    body_sha = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert body_sha == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    signature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    req = view(
        "PUT",
        "/test%24file.text",
        [
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", body_sha),
            doc_auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", signature),
        ],
    )
    parsed = parse_auth(req)
    canonical = sigv4.canonical_request(req, parsed.signed_headers, body_sha, presigned=False)
    assert canonical == (
        "PUT\n/test%24file.text\n\n"
        "date:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
        f"x-amz-content-sha256:{body_sha}\nx-amz-date:20130524T000000Z\n"
        "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
        f"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n{body_sha}"
    )
    to_sign = sigv4.string_to_sign(parsed.amz_date, parsed.scope, canonical)
    assert to_sign.endswith("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d")
    assert authenticate(req, DOC_TIME).content_sha256 == body_sha


@pytest.mark.parametrize(
    ("query", "canonical_query", "canonical_hash", "signature"),
    [
        (
            [("lifecycle", "")],
            "lifecycle=",
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            [("max-keys", "2"), ("prefix", "J")],
            "max-keys=2&prefix=J",
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_doc_bucket_requests(
    query: list[tuple[str, str]], canonical_query: str, canonical_hash: str, signature: str
) -> None:
    req = view(
        "GET",
        "/",
        [
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY),
            doc_auth("host;x-amz-content-sha256;x-amz-date", signature),
        ],
        query=query,
    )
    parsed = parse_auth(req)
    canonical = sigv4.canonical_request(req, parsed.signed_headers, EMPTY, presigned=False)
    assert canonical.split("\n")[2] == canonical_query
    assert hashlib.sha256(canonical.encode()).hexdigest() == canonical_hash
    assert authenticate(req, DOC_TIME).access_key == AKID


DOC_PRESIGNED_QUERY = [
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Credential", f"{AKID}/20130524/us-east-1/s3/aws4_request"),
    ("X-Amz-Date", "20130524T000000Z"),
    ("X-Amz-Expires", "86400"),
    ("X-Amz-SignedHeaders", "host"),
    ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
]


def test_doc_presigned_url() -> None:
    req = view("GET", "/test.txt", [], query=DOC_PRESIGNED_QUERY)
    parsed = parse_auth(req)
    assert parsed.kind == "sigv4-query"
    canonical = sigv4.canonical_request(
        req, parsed.signed_headers, "UNSIGNED-PAYLOAD", presigned=True
    )
    assert canonical == (
        "GET\n/test.txt\n"
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
        "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
        "&X-Amz-SignedHeaders=host\n"
        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    )
    assert sigv4.string_to_sign(parsed.amz_date, parsed.scope, canonical).endswith(
        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
    )
    result = verify_auth(req, parsed, SECRET, DOC_TIME + timedelta(hours=23))
    assert result == AuthResult(
        access_key=AKID,
        content_sha256="UNSIGNED-PAYLOAD",
        streaming=None,
        region="us-east-1",
        presigned=True,
    )
    expired = expect("AccessDenied", req, DOC_TIME + timedelta(seconds=86401))
    assert expired.message == "Request has expired"
    assert expired.fields["X-Amz-Expires"] == "86400"
    assert expired.fields["Expires"] == "2013-05-25T00:00:00Z"
    expect("AccessDenied", req, DOC_TIME - timedelta(hours=1))  # not yet valid


def test_doc_streaming_seed_signature() -> None:
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    req = view(
        "PUT",
        "/examplebucket/chunkObject.txt",
        [
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
            doc_auth(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                "x-amz-decoded-content-length;x-amz-storage-class",
                seed,
            ),
        ],
        host="s3.amazonaws.com",
    )
    result = authenticate(req, DOC_TIME)
    assert result.content_sha256 == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    assert result.streaming is not None
    assert result.streaming.seed_signature == seed
    assert result.streaming.scope == "20130524/us-east-1/s3/aws4_request"
    assert result.streaming.signing_key == sigv4.signing_key(SECRET, "20130524", "us-east-1")


# ---------------------------------------------------------------------------------------------
# Canonicalisation details


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/b/a%20b", "/b/a%20b"),
        ("/b/a+b", "/b/a%2Bb"),
        ("/b/a%2Bb", "/b/a%2Bb"),
        ("/b/~x", "/b/~x"),
        ("/b/%7Ex", "/b/~x"),
        ("/b/100%25", "/b/100%25"),
        ("/b//double", "/b//double"),
        ("/b/../x", "/b/../x"),
        ("/b/./x", "/b/./x"),
        ("/b/a%2Fb", "/b/a%2Fb"),
        ("/b/%C3%A9t%C3%A9", "/b/%C3%A9t%C3%A9"),
        ("/b/été", "/b/%C3%A9t%C3%A9"),
        ("/b/bad%zz", "/b/bad%25zz"),
        ("/b/*!'()", "/b/%2A%21%27%28%29"),
    ],
)
def test_canonical_uri(raw: str, canonical: str) -> None:
    assert sigv4.canonical_uri(raw) == canonical


def test_canonical_query_sorts_encoded_names_then_values() -> None:
    query = [("b", "2"), ("a", "z"), ("a", "y"), ("A", "1"), ("x y", "a+b/c"), ("acl", "")]
    assert sigv4.canonical_query(query) == "A=1&a=y&a=z&acl=&b=2&x%20y=a%2Bb%2Fc"
    presigned = [("X-Amz-Signature", "abc"), ("X-Amz-Date", "d")]
    assert sigv4.canonical_query(presigned, presigned=True) == "X-Amz-Date=d"


def test_canonical_headers_trim_and_join_repeats() -> None:
    req = view("GET", "/", [("X-Amz-Meta-A", "  a   b  "), ("x-amz-meta-a", "c")])
    text = sigv4.canonical_headers(req, ["host", "x-amz-meta-a"])
    assert text == f"host:{HOST}\nx-amz-meta-a:a b,c\n"


# ---------------------------------------------------------------------------------------------
# Requests signed by botocore


def botocore_view(request: AWSRequest, host: str | None = None) -> RequestView:
    """Turn a signed AWSRequest into what the gateway would see."""
    url = urlsplit(request.url)
    query: list[tuple[str, str]] = []
    for part in url.query.split("&") if url.query else []:
        name, _, value = part.partition("=")
        query.append((unquote(name), unquote(value)))
    headers = CIMultiDict((str(k), str(v)) for k, v in request.headers.items())
    netloc = host or url.netloc
    headers.setdefault("Host", netloc)
    return RequestView(
        method=request.method, raw_path=url.path, query=query, headers=headers, host=netloc
    )


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    secret: str = SECRET,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    S3SigV4Auth(Credentials(AKID, secret), "s3", "eu-west-3").add_auth(request)
    return request


def presign_v4(
    method: str, url: str, expires: int = 3600, headers: dict[str, str] | None = None
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers)
    S3SigV4QueryAuth(Credentials(AKID, SECRET), "s3", "us-east-1", expires=expires).add_auth(
        request
    )
    return request


TRICKY_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "tilde~key",
    "percent%25literal",
    "100%",
    "unicodé/日本語.txt",
    "/leading-slash//double",
    "../escape/x",
    "./dot",
    "semi;colon,comma=eq&amp",
    "star*bang!quote'paren()",
    "emoji-\U0001f600",
]


def key_url(key: str, query: str = "") -> str:
    # What botocore's REST serializer does to keys: percent-encode, keeping "/" and "~".
    from botocore.utils import percent_encode

    url = f"http://127.0.0.1:9000/bucket/{percent_encode(key, safe='/~')}"
    return f"{url}?{query}" if query else url


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_botocore_header_signed_tricky_keys(key: str) -> None:
    now = datetime.now(UTC)
    body = b"hello"
    request = sign_v4("PUT", key_url(key), {"x-amz-meta-note": "  a  b "}, body)
    result = authenticate(botocore_view(request), now)
    assert result.content_sha256 == hashlib.sha256(body).hexdigest()
    assert result.access_key == AKID


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_botocore_presigned_tricky_keys(key: str) -> None:
    now = datetime.now(UTC)
    request = presign_v4("GET", key_url(key, "versionId=null&response-content-type=a%2Fb"))
    result = authenticate(botocore_view(request), now)
    assert result.content_sha256 == "UNSIGNED-PAYLOAD"


def tampered(req: RequestView, **changes: Any) -> RequestView:
    return dataclasses.replace(req, **changes)


def with_header(req: RequestView, name: str, value: str) -> RequestView:
    headers = CIMultiDict(req.headers)
    headers[name] = value
    return tampered(req, headers=headers)


def test_botocore_header_signed_tampering_rejected() -> None:
    now = datetime.now(UTC)
    request = sign_v4(
        "PUT", key_url("k", "tagging"), {"x-amz-meta-a": "1", "Content-Type": "text/plain"}, b"x"
    )
    good = botocore_view(request)
    authenticate(good, now)
    cases = {
        "method": tampered(good, method="POST"),
        "path": tampered(good, raw_path="/bucket/k2"),
        "query added": tampered(good, query=[*good.query, ("acl", "")]),
        "query value": tampered(good, query=[("tagging", "x")]),
        "signed header": with_header(good, "x-amz-meta-a", "2"),
        "content type": with_header(good, "Content-Type", "text/html"),
        "host": tampered(good, host="evil.example"),
        "payload hash": with_header(good, "x-amz-content-sha256", EMPTY),
    }
    for name, req in cases.items():
        error = expect("SignatureDoesNotMatch", req, now)
        assert error.fields["AWSAccessKeyId"] == AKID, name
        assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n"), name
        assert "CanonicalRequest" in error.fields and "SignatureProvided" in error.fields
    expect("SignatureDoesNotMatch", good, now, secret="not-the-secret")
    # An x-amz-* header nobody signed is refused outright.
    unsigned = with_header(good, "x-amz-copy-source", "other/key")
    assert expect("AccessDenied", unsigned, now).fields["HeadersNotSigned"] == "x-amz-copy-source"


def test_header_signed_clock_skew() -> None:
    now = datetime.now(UTC)
    good = botocore_view(sign_v4("GET", key_url("k")))
    authenticate(good, now + timedelta(minutes=14))
    error = expect("RequestTimeTooSkewed", good, now + timedelta(minutes=16))
    assert error.fields["MaxAllowedSkewMilliseconds"] == "900000"
    assert set(error.fields) == {"RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"}
    expect("RequestTimeTooSkewed", good, now - timedelta(minutes=16))


def test_botocore_date_header_instead_of_x_amz_date() -> None:
    now = datetime.now(UTC)
    # botocore signs with the Date header (and no X-Amz-Date) when the request carries one.
    request = sign_v4("GET", key_url("k"), {"Date": "placeholder"})
    assert "X-Amz-Date" not in request.headers
    authenticate(botocore_view(request), now)


def test_botocore_presigned_tampering_and_expiry() -> None:
    now = datetime.now(UTC)
    good = botocore_view(presign_v4("GET", key_url("k"), expires=60))
    authenticate(good, now)
    expect("SignatureDoesNotMatch", tampered(good, raw_path="/bucket/other"), now)
    expect("SignatureDoesNotMatch", tampered(good, method="DELETE"), now)
    expect("SignatureDoesNotMatch", tampered(good, query=[*good.query, ("acl", "")]), now)
    expect("SignatureDoesNotMatch", good, now, secret="wrong")
    longer = [(n, "3600" if n == "X-Amz-Expires" else v) for n, v in good.query]
    expect("SignatureDoesNotMatch", tampered(good, query=longer), now)
    assert expect("AccessDenied", good, now + timedelta(seconds=120)).message == (
        "Request has expired"
    )


@pytest.mark.parametrize(
    "header",
    [("x-amz-acl", "public-read"), ("x-amz-copy-source", "other/secret"), ("X-Amz-Meta-A", "1")],
)
def test_presigned_request_refuses_unsigned_amz_headers(header: tuple[str, str]) -> None:
    """The holder of a presigned URL may not add what the signer did not sign (AWS: 403)."""
    now = datetime.now(UTC)
    good = botocore_view(presign_v4("PUT", key_url("k"), expires=60))
    authenticate(good, now)
    error = expect("AccessDenied", with_header(good, *header), now)
    assert error.message == "There were headers present in the request which were not signed"
    assert error.fields["HeadersNotSigned"] == header[0].lower()
    # The payload hash may come unsigned: it is part of what the signature covers.
    authenticate(with_header(good, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"), now)
    expect("SignatureDoesNotMatch", with_header(good, "x-amz-content-sha256", EMPTY), now)


def test_presigned_request_may_carry_the_amz_headers_it_signed() -> None:
    now = datetime.now(UTC)
    request = presign_v4("PUT", key_url("k"), expires=60, headers={"x-amz-acl": "private"})
    view = botocore_view(request)
    assert "x-amz-acl" in dict(view.query)["X-Amz-SignedHeaders"].split(";")
    authenticate(with_header(view, "x-amz-acl", "private"), now)


@pytest.mark.parametrize(
    ("expires", "ok"),
    [("0", True), ("1", True), ("604800", True), ("604801", False), ("-1", False), ("x", False)],
)
def test_presigned_expires_bounds(expires: str, ok: bool) -> None:
    """0 parses (the URL is already expired: 403 at verification, see
    tests/integration/test_presign_expiry.py); over 7 days or negative is malformed."""
    query = [(n, expires if n == "X-Amz-Expires" else v) for n, v in DOC_PRESIGNED_QUERY]
    req = view("GET", "/test.txt", [], query=query)
    if ok:
        assert parse_auth(req).expires == int(expires)
    else:
        with pytest.raises(S3Error) as caught:
            parse_auth(req)
        assert caught.value.code == "AuthorizationQueryParametersError"


# ---------------------------------------------------------------------------------------------
# A real boto3 client, its requests captured before they are sent


class Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def capture(endpoint: str, call: str, **kwargs: Any) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )

    def stop(request: Any, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send.s3.*", stop)
    with pytest.raises(Captured) as caught:
        getattr(client, call)(**kwargs)
    return caught.value.request


def prepared_view(prepared: Any) -> RequestView:
    url = urlsplit(prepared.url)
    query = []
    for part in url.query.split("&") if url.query else []:
        name, _, value = part.partition("=")
        query.append((unquote(name), unquote(value)))
    headers = CIMultiDict(
        (k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()
    )
    headers.setdefault("Host", url.netloc)
    return RequestView(prepared.method, url.path, query, headers, url.netloc)


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_boto3_client_requests_verify(key: str) -> None:
    now = datetime.now(UTC)
    put = capture("http://127.0.0.1:9000", "put_object", Bucket="bucket", Key=key, Body=b"data")
    assert (
        authenticate(prepared_view(put), now).content_sha256 == hashlib.sha256(b"data").hexdigest()
    )
    get = capture(
        "http://127.0.0.1:9000", "get_object", Bucket="bucket", Key=key, Range="bytes=0-1"
    )
    authenticate(prepared_view(get), now)
    listing = capture(
        "http://127.0.0.1:9000", "list_objects_v2", Bucket="bucket", Prefix=key, MaxKeys=2
    )
    authenticate(prepared_view(listing), now)


def test_boto3_https_put_is_streaming_unsigned_trailer() -> None:
    put = capture("https://127.0.0.1:9000", "put_object", Bucket="bucket", Key="k", Body=b"data")
    result = authenticate(prepared_view(put), datetime.now(UTC))
    assert result.content_sha256 == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert result.streaming is None


# ---------------------------------------------------------------------------------------------
# Malformed claims


V4 = "AWS4-HMAC-SHA256 "


def v4cred(credential: str, signed: str, extra: str = "") -> str:
    return f"{V4}Credential=AK/{credential},SignedHeaders={signed},Signature=a{extra}"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (
            V4 + "Credential=AK/20130524/us-east-1/s3/aws4_request",
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("2013/us-east-1/s3/aws4_request", "host"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130524/us-east-1/ec2/aws4_request", "host"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130524/us-east-1/s3/aws5_request", "host"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130525/us-east-1/s3/aws4_request", "host"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130524/us-east-1/s3/aws4_request", "range"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130524/us-east-1/s3/aws4_request", "Host"),
            "AuthorizationHeaderMalformed",
        ),
        (
            v4cred("20130524/us-east-1/s3/aws4_request", "host", ",X=y"),
            "AuthorizationHeaderMalformed",
        ),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "InvalidArgument"),
        ("Bearer x", "InvalidArgument"),
    ],
)
def test_malformed_authorization_header(authorization: str, code: str) -> None:
    req = view(
        "GET",
        "/",
        [
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY),
            ("Authorization", authorization),
        ],
    )
    with pytest.raises(S3Error) as caught:
        parse_auth(req)
    assert caught.value.code == code


def test_header_auth_requires_date_and_content_sha256() -> None:
    auth = doc_auth("host;x-amz-date", "00")
    no_sha = view("GET", "/", [("x-amz-date", "20130524T000000Z"), auth])
    with pytest.raises(S3Error, match="x-amz-content-sha256") as caught:
        parse_auth(no_sha)
    assert caught.value.code == "InvalidRequest"
    no_date = view("GET", "/", [("x-amz-content-sha256", EMPTY), auth])
    with pytest.raises(S3Error) as caught:
        parse_auth(no_date)
    assert caught.value.code == "AccessDenied"
    bad_sha = view(
        "GET", "/", [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", "abc"), auth]
    )
    with pytest.raises(S3Error) as caught:
        parse_auth(bad_sha)
    assert caught.value.code == "InvalidArgument"


def test_two_mechanisms_and_anonymous() -> None:
    both = view("GET", "/test.txt", [doc_auth("host", "00")], query=DOC_PRESIGNED_QUERY)
    with pytest.raises(S3Error) as caught:
        parse_auth(both)
    assert caught.value.code == "InvalidArgument"
    anonymous = view("GET", "/test.txt", [])
    parsed = parse_auth(anonymous)
    assert parsed.kind == "anonymous" and parsed.access_key is None
    assert verify_auth(anonymous, parsed, "", DOC_TIME) == AuthResult(None, None, None)


def test_presigned_missing_parameter() -> None:
    query = [pair for pair in DOC_PRESIGNED_QUERY if pair[0] != "X-Amz-Date"]
    with pytest.raises(S3Error) as caught:
        parse_auth(view("GET", "/test.txt", [], query=query))
    assert caught.value.code == "AuthorizationQueryParametersError"


# ---------------------------------------------------------------------------------------------
# Fuzz: garbage never escapes as anything but an S3Error


def _header_values() -> st.SearchStrategy[str]:
    parts = st.sampled_from(
        [
            "AWS4-HMAC-SHA256 ",
            "AWS ",
            "Credential=",
            "AK/20130524/us-east-1/s3/aws4_request",
            ",",
            ";",
            "=",
            "/",
            "SignedHeaders=host;x-amz-date",
            "Signature=",
            "00ff",
            ":",
        ]
    )
    return st.lists(st.one_of(parts, st.text(max_size=8)), max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(st.none(), _header_values()),
    amz_date=st.one_of(st.none(), st.sampled_from(["20130524T000000Z", "2013", ""]), st.text()),
    sha=st.one_of(st.none(), st.sampled_from([EMPTY, "UNSIGNED-PAYLOAD"]), st.text(max_size=70)),
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Amz-Algorithm",
                    "X-Amz-Credential",
                    "X-Amz-Date",
                    "X-Amz-Expires",
                    "X-Amz-SignedHeaders",
                    "X-Amz-Signature",
                    "AWSAccessKeyId",
                    "Signature",
                    "Expires",
                    "acl",
                ]
            ),
            st.one_of(_header_values(), st.text(max_size=20)),
        ),
        max_size=7,
    ),
    path=st.text(max_size=20),
)
def test_fuzz_parse_and_verify_raise_only_s3_errors(
    authorization: str | None,
    amz_date: str | None,
    sha: str | None,
    query: list[tuple[str, str]],
    path: str,
) -> None:
    headers: list[tuple[str, str]] = []
    for name, value in (
        ("Authorization", authorization),
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", sha),
    ):
        if value is not None:
            headers.append((name, value))
    req = view("GET", "/" + path, headers, query=query)
    try:
        parsed = parse_auth(req)
        verify_auth(req, parsed, SECRET, DOC_TIME)
    except S3Error:
        pass


def test_header_bytes_that_are_not_utf8_are_signed_as_sent() -> None:
    """aiohttp surrogate-escapes such bytes; the canonical request is hashed over the bytes
    the client sent (b"caf\\xe9"), not refused or re-encoded."""
    canonical = "PUT\n/b/k\n\nx-amz-meta-word:caf\udce9\n\nx-amz-meta-word\nUNSIGNED-PAYLOAD"
    sent = canonical.encode("utf-8", "surrogateescape")
    assert b"caf\xe9" in sent
    expected = hashlib.sha256(sent).hexdigest()
    to_sign = sigv4.string_to_sign(
        "20261129T000000Z", "20261129/us-east-1/s3/aws4_request", canonical
    )
    assert to_sign.endswith("\n" + expected)
