"""Bucket CORS against a real cluster: Put/Get/DeleteBucketCors through boto3, preflights
(OPTIONS, unsigned, as browsers send them) and the Access-Control-* headers on the actual
requests that follow, errors included, compared with the answers AWS is recorded giving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import (
    empty_and_delete_bucket,
    error_code,
    http_status,
    unique_bucket_name,
)
from support.data import new_user
from support.processes import Cluster
from support.signing import RawResponse, raw_request

APP = "https://app.example"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)
RULES: list[dict[str, Any]] = [
    {
        "ID": "app-writes",
        "AllowedOrigins": [APP, "https://*.app.example"],
        "AllowedMethods": ["PUT", "POST", "DELETE"],
        "AllowedHeaders": ["Content-*", "x-AMZ-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 3000,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def fails(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value), http_status(raised.value)


def access_control(response: RawResponse) -> dict[str, str]:
    """The response's Access-Control-* headers and Vary."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    }


def preflight(
    cluster: Cluster, target: str, origin: str | None = APP, method: str | None = "PUT", **more: str
) -> RawResponse:
    headers = {"Origin": origin, "Access-Control-Request-Method": method, **more}
    sent = {name: value for name, value in headers.items() if value is not None}
    return raw_request(cluster, "OPTIONS", target, sent, signer=None)


@pytest.fixture
def cors_bucket(s3: BaseClient, bucket: str) -> str:
    """The test bucket with RULES and one object, `k`."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"cors-test")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    return bucket


@pytest.fixture
def other_user(cluster: Cluster) -> Iterator[BaseClient]:
    user = new_user(cluster, "cors")
    yield user.client
    user.client.close()


# --- Put/Get/DeleteBucketCors -----------------------------------------------------------------


def test_configuration_round_trip(s3: BaseClient, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_cors(Bucket=bucket)) == ("NoSuchCORSConfiguration", 404)
    put = s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    # A second Put replaces the whole configuration; header casing is kept as written.
    replacement = [
        {"AllowedOrigins": [""], "AllowedMethods": ["GET"], "AllowedHeaders": ["X-Mixed-CASE"]}
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": replacement})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == replacement
    deleted = s3.delete_bucket_cors(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(lambda: s3.get_bucket_cors(Bucket=bucket)) == ("NoSuchCORSConfiguration", 404)
    # Deleting what is not there is no error, as on S3.
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_refused_configurations(s3: BaseClient, cluster: Cluster, bucket: str) -> None:
    bad_method = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "MYMETHOD"]}]}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bad_method)
    assert (http_status(caught.value), error_code(caught.value)) == (400, "InvalidRequest")
    assert caught.value.response["Error"]["Message"] == (
        "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD"
    )
    empty: dict[str, Any] = {"CORSRules": []}
    assert fails(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=empty)) == (
        "MalformedXML",
        400,
    )
    many = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101}
    assert fails(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=many)) == (
        "InvalidRequest",
        400,
    )
    broken = raw_request(cluster, "PUT", f"/{bucket}?cors", body=b"<CORSConfiguration><CORSRule>")
    assert (broken.status, broken.error_code()) == (400, "MalformedXML")
    # Nothing refused was stored.
    assert fails(lambda: s3.get_bucket_cors(Bucket=bucket)) == ("NoSuchCORSConfiguration", 404)
    hundred = {"CORSRules": many["CORSRules"][:100]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=hundred)
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100


def test_only_the_bucket_owner_configures_cors(
    s3: BaseClient, cors_bucket: str, other_user: BaseClient
) -> None:
    # Not even a bucket everyone may write to lets others read or change its CORS rules.
    s3.put_bucket_acl(Bucket=cors_bucket, ACL="public-read-write")
    config = {"CORSRules": RULES[1:]}
    denied = ("AccessDenied", 403)
    assert fails(lambda: other_user.get_bucket_cors(Bucket=cors_bucket)) == denied

    def put() -> object:
        return other_user.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration=config)

    assert fails(put) == denied
    assert fails(lambda: other_user.delete_bucket_cors(Bucket=cors_bucket)) == denied
    assert s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES
    missing = unique_bucket_name()
    assert fails(lambda: s3.get_bucket_cors(Bucket=missing)) == ("NoSuchBucket", 404)


def test_configuration_goes_with_the_bucket(s3: BaseClient) -> None:
    name = unique_bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert fails(lambda: s3.get_bucket_cors(Bucket=name)) == ("NoSuchCORSConfiguration", 404)
    finally:
        empty_and_delete_bucket(s3, name)


# --- preflight ------------------------------------------------------------------------------


def test_preflight_allowed(cluster: Cluster, cors_bucket: str) -> None:
    answer = preflight(cluster, f"/{cors_bucket}/k")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.header("Content-Type") is None  # as S3: an empty answer, typed as nothing
    assert access_control(answer) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "PUT, POST, DELETE",
        "Access-Control-Expose-Headers": "ETag, x-amz-request-id",
        "Access-Control-Max-Age": "3000",
        "Vary": VARY,
    }
    assert answer.header("x-amz-request-id")


def test_preflight_headers_match_without_case_and_with_wildcards(
    cluster: Cluster, cors_bucket: str
) -> None:
    asked = "Content-Type, X-Amz-Date,x-amz-content-sha256"
    answer = preflight(
        cluster,
        f"/{cors_bucket}/k",
        "https://eu.app.example",
        **{"Access-Control-Request-Headers": asked},
    )
    assert answer.status == 200
    assert answer.header("Access-Control-Allow-Origin") == "https://eu.app.example"
    assert answer.header("Access-Control-Allow-Headers") == (
        "content-type, x-amz-date, x-amz-content-sha256"
    )
    refused = preflight(
        cluster,
        f"/{cors_bucket}/k",
        **{"Access-Control-Request-Headers": "x-amz-date, authorization"},
    )
    assert (refused.status, refused.error_code()) == (403, "AccessForbidden")


def test_the_first_matching_rule_wins(s3: BaseClient, cluster: Cluster, cors_bucket: str) -> None:
    # A GET from APP: the first rule allows APP but not GET, the second allows GET from anyone.
    answer = preflight(cluster, f"/{cors_bucket}/k", method="GET")
    assert answer.status == 200
    assert access_control(answer) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Vary": VARY,
    }
    # Put a rule for APP's GETs first: it wins over the wildcard rule from then on.
    first = {"AllowedOrigins": [APP], "AllowedMethods": ["GET"], "MaxAgeSeconds": 5}
    s3.put_bucket_cors(Bucket=cors_bucket, CORSConfiguration={"CORSRules": [first, *RULES]})
    answer = preflight(cluster, f"/{cors_bucket}/k", method="GET")
    assert answer.header("Access-Control-Allow-Origin") == APP
    assert answer.header("Access-Control-Max-Age") == "5"


def test_preflight_refusals(s3: BaseClient, cluster: Cluster, cors_bucket: str) -> None:
    def refusal(answer: RawResponse) -> tuple[Any, ...]:
        document = answer.xml()
        fields = ("Code", "Message", "Method", "ResourceType")
        return (answer.status, *(document.findtext(name) for name in fields))

    wrong_origin = preflight(cluster, f"/{cors_bucket}/k", "http://app.example")
    assert refusal(wrong_origin) == (403, "AccessForbidden", NOT_ALLOWED, "PUT", "OBJECT")
    assert access_control(wrong_origin) == {}
    on_bucket = preflight(cluster, f"/{cors_bucket}", "https://x.example", "DELETE")
    assert refusal(on_bucket) == (403, "AccessForbidden", NOT_ALLOWED, "DELETE", "BUCKET")
    # No method asked for: S3 reads it as a preflight for OPTIONS, which no rule can allow.
    no_method = preflight(cluster, f"/{cors_bucket}/k", method=None)
    assert refusal(no_method) == (403, "AccessForbidden", NOT_ALLOWED, "OPTIONS", "OBJECT")
    no_origin = preflight(cluster, f"/{cors_bucket}/k", origin=None)
    assert (no_origin.status, no_origin.error_code()) == (400, "BadRequest")
    assert no_origin.xml().findtext("Message") == (
        "Insufficient information. Origin request header needed."
    )
    s3.delete_bucket_cors(Bucket=cors_bucket)
    disabled = preflight(cluster, f"/{cors_bucket}/k")
    assert refusal(disabled) == (
        403,
        "AccessForbidden",
        "CORSResponse: CORS is not enabled for this bucket.",
        "PUT",
        "BUCKET",
    )
    gone = preflight(cluster, f"/{unique_bucket_name('gone')}/k")
    assert refusal(gone) == (
        403,
        "AccessForbidden",
        "CORSResponse: Bucket not found",
        "PUT",
        "BUCKET",
    )


# --- actual requests ------------------------------------------------------------------------


def test_actual_requests_from_an_allowed_origin_get_the_headers(
    cluster: Cluster, cors_bucket: str
) -> None:
    get = raw_request(cluster, "GET", f"/{cors_bucket}/k", {"Origin": "https://x.example"})
    assert (get.status, get.body) == (200, b"cors-test")
    assert access_control(get) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Vary": VARY,
    }
    head = raw_request(cluster, "HEAD", f"/{cors_bucket}/k", {"Origin": APP})
    assert head.status == 200
    assert head.header("Access-Control-Allow-Origin") == "*"
    put = raw_request(cluster, "PUT", f"/{cors_bucket}/new", {"Origin": APP}, b"data")
    assert put.status == 200
    assert access_control(put) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "PUT, POST, DELETE",
        "Access-Control-Expose-Headers": "ETag, x-amz-request-id",
        "Access-Control-Max-Age": "3000",
        "Vary": VARY,
    }
    delete = raw_request(cluster, "DELETE", f"/{cors_bucket}/new", {"Origin": APP})
    assert delete.status == 204
    assert delete.header("Access-Control-Allow-Origin") == APP


def test_error_answers_carry_the_headers_too(cluster: Cluster, cors_bucket: str) -> None:
    missing = raw_request(cluster, "GET", f"/{cors_bucket}/nothing", {"Origin": APP})
    assert (missing.status, missing.error_code()) == (404, "NoSuchKey")
    assert missing.header("Access-Control-Allow-Origin") == "*"
    # An anonymous PUT is refused; the refusal is readable by the page that sent it.
    anonymous = raw_request(
        cluster, "PUT", f"/{cors_bucket}/anon", {"Origin": APP}, b"x", signer=None
    )
    assert (anonymous.status, anonymous.error_code()) == (403, "AccessDenied")
    assert anonymous.header("Access-Control-Allow-Origin") == APP
    assert anonymous.header("Vary") == VARY


def test_no_headers_without_a_match(s3: BaseClient, cluster: Cluster, cors_bucket: str) -> None:
    plain = raw_request(cluster, "GET", f"/{cors_bucket}/k")
    assert plain.status == 200 and access_control(plain) == {}
    # The method is not allowed for this origin by any rule (the wildcard rule: GET and HEAD).
    delete = raw_request(cluster, "DELETE", f"/{cors_bucket}/k", {"Origin": "https://x.example"})
    assert delete.status == 204 and access_control(delete) == {}
    s3.put_object(Bucket=cors_bucket, Key="k", Body=b"cors-test")
    # As S3 does, an actual request that names another method is matched by that method, and
    # one that names request headers by those.
    asks_put = {"Origin": "https://x.example", "Access-Control-Request-Method": "PUT"}
    assert access_control(raw_request(cluster, "GET", f"/{cors_bucket}/k", asks_put)) == {}
    asks_header = {"Origin": "https://x.example", "Access-Control-Request-Headers": "x-amz-date"}
    assert access_control(raw_request(cluster, "GET", f"/{cors_bucket}/k", asks_header)) == {}
    # Once the configuration is gone, no headers at all (nothing is cached).
    s3.delete_bucket_cors(Bucket=cors_bucket)
    after = raw_request(cluster, "GET", f"/{cors_bucket}/k", {"Origin": "https://x.example"})
    assert after.status == 200 and access_control(after) == {}


def test_buckets_without_cors_send_no_headers(
    s3: BaseClient, cluster: Cluster, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    get = raw_request(cluster, "GET", f"/{bucket}/k", {"Origin": APP})
    assert get.status == 200 and access_control(get) == {}
    listing = raw_request(cluster, "GET", "/", {"Origin": APP})
    assert listing.status == 200 and access_control(listing) == {}
