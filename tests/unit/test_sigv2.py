"""SigV2: the AWS documentation's examples, requests signed by botocore, tampering, fuzzing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from s3compat.api.auth import sigv2
from s3compat.api.auth.model import AuthResult, RequestView
from s3compat.api.auth.request import parse_auth, verify_auth
from s3compat.api.errors import S3Error

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BUCKET = "awsexamplebucket1"
HOST = "awsexamplebucket1.s3.us-west-1.amazonaws.com"


def view(
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]] | None = None,
    host: str = HOST,
    bucket: str | None = BUCKET,
) -> RequestView:
    return RequestView(
        method=method,
        raw_path=path,
        query=query or [],
        headers=CIMultiDict([("Host", host), *headers]),
        host=host,
        virtual_host_bucket=bucket,
    )


def at(text: str) -> datetime:
    return datetime.strptime(text, "%a, %d %b %Y %H:%M:%S %z")


def authenticate(req: RequestView, now: datetime, secret: str = SECRET) -> AuthResult:
    return verify_auth(req, parse_auth(req), secret, now)


def expect(code: str, req: RequestView, now: datetime, secret: str = SECRET) -> S3Error:
    with pytest.raises(S3Error) as caught:
        authenticate(req, now, secret)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


# ---------------------------------------------------------------------------------------------
# The examples of "Authenticating Requests (AWS Signature Version 2)" in the S3 user guide.


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "to_sign", "signature"),
    [
        (
            "GET",
            "/photos/puppy.jpg",
            [],
            [("Date", "Tue, 27 Mar 2007 19:36:42 +0000")],
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        ),
        (
            "PUT",
            "/photos/puppy.jpg",
            [],
            [
                ("Content-Type", "image/jpeg"),
                ("Content-Length", "94328"),
                ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
            ],
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n"
            "/awsexamplebucket1/photos/puppy.jpg",
            "iqRzw+ileNPu1fhspnRs8nOjjIA=",
        ),
        (
            "GET",
            "/",
            [("prefix", "photos"), ("max-keys", "50"), ("marker", "puppy")],
            [("User-Agent", "Mozilla/5.0"), ("Date", "Tue, 27 Mar 2007 19:42:41 +0000")],
            "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/",
            "m0WP8eCtspQl5Ahe6L1SozdX9YA=",
        ),
        (
            "GET",
            "/",
            [("acl", "")],
            [("Date", "Tue, 27 Mar 2007 19:44:46 +0000")],
            "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl",
            "82ZHiFIjc+WbcwFKGUVEQspPn+0=",
        ),
    ],
)
def test_doc_header_examples(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    to_sign: str,
    signature: str,
) -> None:
    auth = ("Authorization", f"AWS {AKID}:{signature}")
    req = view(method, path, [*headers, auth], query)
    date_line = to_sign.split("\n")[3]
    assert sigv2.string_to_sign(req, presigned=False, date_line=date_line) == to_sign
    assert sigv2.sign(SECRET, to_sign) == signature
    now = at(date_line)
    assert authenticate(req, now) == AuthResult(
        access_key=AKID, content_sha256=None, streaming=None
    )
    expect("SignatureDoesNotMatch", req, now, secret="nope")


def test_doc_presigned_example() -> None:
    query = [
        ("AWSAccessKeyId", AKID),
        ("Signature", "NpgCjnDzrM+WFzoENXmpNDUsSn8="),
        ("Expires", "1175139620"),
    ]
    # This example still uses the guide's older bucket name, johnsmith.
    req = view(
        "GET", "/photos/puppy.jpg", [], query, host="johnsmith.s3.amazonaws.com", bucket="johnsmith"
    )
    parsed = parse_auth(req)
    assert parsed.kind == "sigv2-query" and parsed.expires == 1175139620
    assert sigv2.string_to_sign(req, presigned=True, date_line="1175139620") == (
        "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"
    )
    before = datetime.fromtimestamp(1175139620 - 10, UTC)
    assert authenticate(req, before).access_key == AKID
    error = expect("AccessDenied", req, datetime.fromtimestamp(1175139621, UTC))
    assert error.message == "Request has expired"
    assert error.fields["Expires"] == "2007-03-29T03:40:20Z"


def test_amz_headers_and_subresources_canonicalisation() -> None:
    req = view(
        "PUT",
        "/k",
        [
            ("X-Amz-Meta-B", " two "),
            ("x-amz-meta-a", "one"),
            ("x-amz-meta-b", "three"),
            ("x-amz-date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ("Date", "ignored when x-amz-date is present"),
            ("Content-MD5", "abc=="),
        ],
        query=[("versionId", "v1"), ("uploads", ""), ("prefix", "unsigned"), ("acl", "")],
        bucket=None,
    )
    assert sigv2.string_to_sign(req, presigned=False, date_line="") == (
        "PUT\nabc==\n\n\n"
        "x-amz-date:Tue, 27 Mar 2007 19:36:42 +0000\n"
        "x-amz-meta-a:one\nx-amz-meta-b:two,three\n"
        "/k?acl&uploads&versionId=v1"
    )


# ---------------------------------------------------------------------------------------------
# botocore-signed requests


def botocore_view(request: AWSRequest, bucket: str | None = None) -> RequestView:
    url = urlsplit(request.url)
    query = []
    for part in url.query.split("&") if url.query else []:
        name, _, value = part.partition("=")
        query.append((unquote(name), unquote(value)))
    headers = CIMultiDict((str(k), str(v)) for k, v in request.headers.items())
    headers.setdefault("Host", url.netloc)
    return RequestView(request.method, url.path, query, headers, url.netloc, bucket)


KEYS = ["plain", "with space", "plus+sign", "tilde~", "percent%", "unicodé/日本", "a//b", "../x"]


@pytest.mark.parametrize("key", KEYS)
def test_botocore_hmacv1_header(key: str) -> None:
    url = f"http://127.0.0.1:9000/bucket/{percent_encode(key, safe='/~')}?acl"
    request = AWSRequest(
        method="PUT", url=url, headers={"Content-Type": "text/plain", "x-amz-acl": "private"}
    )
    HmacV1Auth(Credentials(AKID, SECRET)).add_auth(request)
    now = datetime.now(UTC)
    good = botocore_view(request)
    assert authenticate(good, now).access_key == AKID

    def changed(**kwargs: Any) -> RequestView:
        fields: dict[str, Any] = {
            "method": good.method,
            "raw_path": good.raw_path,
            "query": good.query,
            "headers": CIMultiDict(good.headers),
            "host": good.host,
        }
        fields.update(kwargs)
        return RequestView(**fields)

    acl_header = CIMultiDict(good.headers)
    acl_header["x-amz-acl"] = "public-read"
    for bad in (
        changed(method="POST"),
        changed(raw_path=good.raw_path + "x"),
        changed(query=[("policy", "")]),
        changed(headers=acl_header),
    ):
        expect("SignatureDoesNotMatch", bad, now)
    expect("SignatureDoesNotMatch", good, now, secret="other")
    assert (
        expect("RequestTimeTooSkewed", good, now + timedelta(minutes=20)).fields[
            "MaxAllowedSkewMilliseconds"
        ]
        == "900000"
    )


@pytest.mark.parametrize("key", KEYS)
def test_botocore_hmacv1_query(key: str) -> None:
    url = f"http://127.0.0.1:9000/bucket/{percent_encode(key, safe='/~')}"
    request = AWSRequest(method="GET", url=url, headers={"x-amz-request-payer": "requester"})
    HmacV1QueryAuth(Credentials(AKID, SECRET), expires=60).add_auth(request)
    presigned = botocore_view(request)
    # The client follows the URL without the headers: they travel in the query.
    bare = RequestView("GET", presigned.raw_path, presigned.query, CIMultiDict(), presigned.host)
    now = datetime.now(UTC)
    assert authenticate(bare, now).access_key == AKID
    expect("AccessDenied", bare, now + timedelta(seconds=120))
    later = [(n, str(int(v) + 1) if n == "Expires" else v) for n, v in bare.query]
    expect("SignatureDoesNotMatch", RequestView("GET", bare.raw_path, later, bare.headers, ""), now)


def capture(addressing: str, call: str, **kwargs: Any) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url="http://s3.example.test:9000",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": addressing}),
    )

    class Captured(Exception):
        pass

    seen: list[Any] = []

    def stop(request: Any, **_: Any) -> None:
        seen.append(request)
        raise Captured

    client.meta.events.register("before-send.s3.*", stop)
    with pytest.raises(Captured):
        getattr(client, call)(**kwargs)
    return seen[0]


@pytest.mark.parametrize("addressing", ["path", "virtual"])
@pytest.mark.parametrize("key", ["k", "with space/été", "plus+sign"])
def test_boto3_sigv2_client(addressing: str, key: str) -> None:
    prepared = capture(addressing, "put_object", Bucket="bucket", Key=key, Body=b"x")
    url = urlsplit(prepared.url)
    headers = CIMultiDict(
        (k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()
    )
    bucket = "bucket" if addressing == "virtual" else None
    assert url.netloc.startswith("bucket.") == (addressing == "virtual")
    req = RequestView("PUT", url.path, [], headers, url.netloc, bucket)
    assert authenticate(req, datetime.now(UTC)).access_key == AKID


def test_boto3_generate_presigned_url_sigv2() -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}),
    )
    url = urlsplit(
        client.generate_presigned_url(
            "get_object", Params={"Bucket": "b", "Key": "a key+x"}, ExpiresIn=300
        )
    )
    query = [
        (unquote(n), unquote(v)) for n, _, v in (p.partition("=") for p in url.query.split("&"))
    ]
    req = RequestView("GET", url.path, query, CIMultiDict(), url.netloc)
    assert parse_auth(req).kind == "sigv2-query"
    assert authenticate(req, datetime.now(UTC)).access_key == AKID


# ---------------------------------------------------------------------------------------------
# Malformed claims


@pytest.mark.parametrize(
    ("headers", "query", "code"),
    [
        ([("Authorization", "AWS nocolon")], [], "InvalidArgument"),
        ([("Authorization", "AWS :sig")], [], "InvalidArgument"),
        ([("Authorization", "AWS AK:")], [], "InvalidArgument"),
        ([("Authorization", "AWS AK:sig")], [], "AccessDenied"),  # no date
        ([("Authorization", "AWS AK:sig"), ("Date", "yesterday")], [], "AccessDenied"),
        ([], [("AWSAccessKeyId", "AK"), ("Signature", "s")], "AccessDenied"),
        ([], [("AWSAccessKeyId", "AK"), ("Signature", "s"), ("Expires", "soon")], "AccessDenied"),
        ([], [("Signature", "s"), ("Expires", "1")], "AccessDenied"),
    ],
)
def test_malformed(headers: list[tuple[str, str]], query: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(S3Error) as caught:
        parse_auth(view("GET", "/k", headers, query))
    assert caught.value.code == code


def test_x_amz_date_alone_is_enough() -> None:
    stamp = formatdate(time.time(), usegmt=True)
    req = view("GET", "/k", [("x-amz-date", stamp)])
    to_sign = sigv2.string_to_sign(req, presigned=False, date_line="")
    signed = view(
        "GET",
        "/k",
        [("x-amz-date", stamp), ("Authorization", f"AWS {AKID}:{sigv2.sign(SECRET, to_sign)}")],
    )
    assert authenticate(signed, datetime.now(UTC)).access_key == AKID


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(
        st.none(), st.text(max_size=30), st.text(max_size=30).map(lambda text: "AWS " + text)
    ),
    date=st.one_of(st.none(), st.text(max_size=40), st.just("Tue, 27 Mar 2007 19:36:42 +0000")),
    query=st.lists(
        st.tuples(
            st.sampled_from(["AWSAccessKeyId", "Signature", "Expires", "acl", "x-amz-meta-a"]),
            st.text(max_size=15),
        ),
        max_size=5,
    ),
)
def test_fuzz_raise_only_s3_errors(
    authorization: str | None, date: str | None, query: list[tuple[str, str]]
) -> None:
    headers = []
    if authorization is not None:
        headers.append(("Authorization", authorization))
    if date is not None:
        headers.append(("Date", date))
    req = view("GET", "/k", headers, query)
    try:
        verify_auth(req, parse_auth(req), SECRET, at("Tue, 27 Mar 2007 19:36:42 +0000"))
    except S3Error:
        pass
