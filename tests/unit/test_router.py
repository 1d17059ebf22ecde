"""The router resolves the request examples of the S3 API reference, path and virtual style."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.api.errors import (
    InvalidArgument,
    InvalidBucketName,
    KeyTooLongError,
    MethodNotAllowed,
    S3Error,
)
from s3compat.api.router import (
    ROUTES,
    Route,
    bucket_from_host,
    resolve,
    validate_bucket_name,
    validate_key,
)

COPY = {"x-amz-copy-source": "/src-bucket/src-key"}

# (method, query, headers, operation) of the reference's request examples on a bucket.
BUCKET_EXAMPLES: list[tuple[str, dict[str, str], dict[str, str], str]] = [
    ("PUT", {}, {}, "CreateBucket"),
    ("HEAD", {}, {}, "HeadBucket"),
    ("DELETE", {}, {}, "DeleteBucket"),
    ("GET", {}, {}, "ListObjects"),
    ("GET", {"prefix": "photos/2006/", "delimiter": "/"}, {}, "ListObjects"),
    ("GET", {"marker": "a", "encoding-type": "url"}, {}, "ListObjects"),
    ("GET", {"list-type": "2"}, {}, "ListObjectsV2"),
    ("GET", {"list-type": "2", "start-after": "k", "max-keys": "3"}, {}, "ListObjectsV2"),
    ("GET", {"location": ""}, {}, "GetBucketLocation"),
    ("GET", {"versions": ""}, {}, "ListObjectVersions"),
    ("GET", {"versions": "", "prefix": "x", "key-marker": "k"}, {}, "ListObjectVersions"),
    ("POST", {"delete": ""}, {}, "DeleteObjects"),
    ("GET", {"uploads": ""}, {}, "ListMultipartUploads"),
    ("GET", {"uploads": "", "max-uploads": "3"}, {}, "ListMultipartUploads"),
    ("GET", {"versioning": ""}, {}, "GetBucketVersioning"),
    ("PUT", {"versioning": ""}, {}, "PutBucketVersioning"),
    ("GET", {"acl": ""}, {}, "GetBucketAcl"),
    ("PUT", {"acl": ""}, {}, "PutBucketAcl"),
    ("GET", {"tagging": ""}, {}, "GetBucketTagging"),
    ("PUT", {"tagging": ""}, {}, "PutBucketTagging"),
    ("DELETE", {"tagging": ""}, {}, "DeleteBucketTagging"),
    ("GET", {"lifecycle": ""}, {}, "GetBucketLifecycleConfiguration"),
    ("PUT", {"lifecycle": ""}, {}, "PutBucketLifecycleConfiguration"),
    ("DELETE", {"lifecycle": ""}, {}, "DeleteBucketLifecycle"),
    ("GET", {"policy": ""}, {}, "GetBucketPolicy"),
    ("GET", {"cors": ""}, {}, "GetBucketCors"),
    ("GET", {"website": ""}, {}, "GetBucketWebsite"),
    ("GET", {"encryption": ""}, {}, "GetBucketEncryption"),
    ("GET", {"object-lock": ""}, {}, "GetObjectLockConfiguration"),
    ("GET", {"replication": ""}, {}, "GetBucketReplication"),
    ("GET", {"logging": ""}, {}, "GetBucketLogging"),
    ("GET", {"notification": ""}, {}, "GetBucketNotificationConfiguration"),
    ("GET", {"requestPayment": ""}, {}, "GetBucketRequestPayment"),
    ("GET", {"accelerate": ""}, {}, "GetBucketAccelerateConfiguration"),
    ("GET", {"ownershipControls": ""}, {}, "GetBucketOwnershipControls"),
    ("GET", {"publicAccessBlock": ""}, {}, "GetPublicAccessBlock"),
    ("GET", {"policyStatus": ""}, {}, "GetBucketPolicyStatus"),
    ("GET", {"analytics": "", "id": "list1"}, {}, "GetBucketAnalyticsConfiguration"),
    ("GET", {"analytics": ""}, {}, "ListBucketAnalyticsConfigurations"),
    ("GET", {"metrics": "", "id": "EntireBucket"}, {}, "GetBucketMetricsConfiguration"),
    ("GET", {"inventory": ""}, {}, "ListBucketInventoryConfigurations"),
    ("PUT", {"intelligent-tiering": "", "id": "x"}, {}, "PutBucketIntelligentTieringConfiguration"),
    ("POST", {}, {"Content-Type": "multipart/form-data; boundary=x"}, "PostObject"),
]

# (method, query, headers, operation) of the reference's request examples on an object.
OBJECT_EXAMPLES: list[tuple[str, dict[str, str], dict[str, str], str]] = [
    ("PUT", {}, {}, "PutObject"),
    ("PUT", {}, COPY, "CopyObject"),
    ("PUT", {}, {"X-Amz-Copy-Source": "src/key"}, "CopyObject"),
    ("GET", {}, {}, "GetObject"),
    ("GET", {"versionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}, {}, "GetObject"),
    ("GET", {"partNumber": "1"}, {}, "GetObject"),
    ("GET", {"response-content-type": "text/plain", "x-id": "GetObject"}, {}, "GetObject"),
    ("HEAD", {}, {}, "HeadObject"),
    ("DELETE", {}, {}, "DeleteObject"),
    ("DELETE", {"versionId": "null"}, {}, "DeleteObject"),
    ("POST", {"uploads": ""}, {}, "CreateMultipartUpload"),
    (
        "PUT",
        {
            "partNumber": "1",
            "uploadId": "VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR",
        },
        {},
        "UploadPart",
    ),
    ("PUT", {"partNumber": "2", "uploadId": "u"}, COPY, "UploadPartCopy"),
    ("POST", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
    ("DELETE", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
    ("GET", {"uploadId": "u", "max-parts": "2", "part-number-marker": "1"}, {}, "ListParts"),
    ("GET", {"acl": ""}, {}, "GetObjectAcl"),
    ("GET", {"acl": "", "versionId": "v"}, {}, "GetObjectAcl"),
    ("PUT", {"acl": ""}, {}, "PutObjectAcl"),
    ("GET", {"tagging": ""}, {}, "GetObjectTagging"),
    ("PUT", {"tagging": ""}, {}, "PutObjectTagging"),
    ("DELETE", {"tagging": ""}, {}, "DeleteObjectTagging"),
    ("GET", {"attributes": ""}, {}, "GetObjectAttributes"),
    ("GET", {"legal-hold": ""}, {}, "GetObjectLegalHold"),
    ("PUT", {"retention": ""}, {}, "PutObjectRetention"),
    ("GET", {"torrent": ""}, {}, "GetObjectTorrent"),
    ("POST", {"restore": ""}, {}, "RestoreObject"),
    ("POST", {"select": "", "select-type": "2"}, {}, "SelectObjectContent"),
    # A subresource of buckets, or an unknown name, is only an argument on an object.
    ("GET", {"versioning": ""}, {}, "GetObject"),
    ("GET", {"frobnicate": ""}, {}, "GetObject"),
]

DOMAIN = "s3.example.test"


@pytest.mark.parametrize(("method", "query", "headers", "operation"), BUCKET_EXAMPLES)
def test_bucket_examples_path_and_virtual_style(
    method: str, query: dict[str, str], headers: dict[str, str], operation: str
) -> None:
    expected = Route(operation, "examplebucket", None)
    path_style = resolve(method, "/examplebucket", query, DOMAIN, DOMAIN, headers)
    path_style_slash = resolve(method, "/examplebucket/", query, "127.0.0.1:9000", DOMAIN, headers)
    virtual = resolve(method, "/", query, f"examplebucket.{DOMAIN}:9000", DOMAIN, headers)
    assert path_style == path_style_slash == virtual == expected


@pytest.mark.parametrize(("method", "query", "headers", "operation"), OBJECT_EXAMPLES)
def test_object_examples_path_and_virtual_style(
    method: str, query: dict[str, str], headers: dict[str, str], operation: str
) -> None:
    expected = Route(operation, "examplebucket", "photos/2006/my image.jpg")
    path_style = resolve(
        method, "/examplebucket/photos/2006/my image.jpg", query, DOMAIN, DOMAIN, headers
    )
    virtual = resolve(
        method, "/photos/2006/my image.jpg", query, f"examplebucket.{DOMAIN}", DOMAIN, headers
    )
    assert path_style == virtual == expected


def test_list_buckets_ignores_query_and_subresource_names() -> None:
    for query in ({}, {"x-id": "ListBuckets"}, {"max-buckets": "10"}, {"acl": ""}):
        assert resolve("GET", "/", query, "localhost:9000") == Route("ListBuckets", None, None)


def test_copy_source_header_is_ignored_without_headers_argument() -> None:
    assert resolve("PUT", "/b/k", {}, "localhost").operation == "PutObject"


def test_list_type_other_than_2_is_v1() -> None:
    assert resolve("GET", "/b", {"list-type": "1"}, "localhost").operation == "ListObjects"


@pytest.mark.parametrize(
    "key",
    [
        "a//b",
        "/leading",
        "trailing/",
        "../../etc/passwd",
        "./.",
        "..",
        "sp ace+plus%25percent",
        "ünï/cödé/日本語",
        "?not-a-query&x=1",
        "a" * 2000,
    ],
)
def test_keys_are_kept_byte_for_byte(key: str) -> None:
    assert resolve("GET", f"/bkt/{key}", {}, "localhost").key == key
    assert resolve("GET", f"/{key}", {}, "bkt.localhost").key == key


@pytest.mark.parametrize(
    ("host", "domain", "bucket"),
    [
        ("localhost", "localhost", None),
        ("localhost:9000", "localhost", None),
        ("bkt.localhost", "localhost", "bkt"),
        ("BKT.LocalHost:80", "localhost", "bkt"),
        ("my.dotted.bucket.localhost", "localhost", "my.dotted.bucket"),
        ("bkt.localhost.", "localhost", "bkt"),
        ("127.0.0.1:9000", "localhost", None),
        ("[::1]:9000", "localhost", None),
        ("10.0.0.1", "0.1", None),
        ("example.com", "localhost", None),
        ("evil-localhost", "localhost", None),
        ("bkt.s3.example.test", "s3.example.test", "bkt"),
    ],
)
def test_bucket_from_host(host: str, domain: str, bucket: str | None) -> None:
    assert bucket_from_host(host, domain) == bucket


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("POST", "/b/k", {}),  # POST on an object needs uploads, uploadId, restore or select
        ("POST", "/b/k", {"acl": ""}),
        ("PUT", "/", {}),
        ("DELETE", "/", {}),
        ("PATCH", "/b/k", {}),
        ("TRACE", "/b", {}),
        ("POST", "/b", {"acl": ""}),
        ("DELETE", "/b", {"delete": ""}),
        ("GET", "/b/k", {"uploads": ""}),
        ("HEAD", "/b", {"acl": ""}),
    ],
)
def test_method_not_allowed(method: str, path: str, query: dict[str, str]) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        resolve(method, path, query, "localhost")
    assert caught.value.status == 405


def test_empty_bucket_segment_with_key_is_invalid_bucket_name() -> None:
    with pytest.raises(InvalidBucketName):
        resolve("GET", "//key", {}, "localhost")


def test_every_route_list_ends_unconditionally() -> None:
    # Otherwise a request could match a table entry yet resolve to nothing.
    for candidates in ROUTES.values():
        last = candidates[-1]
        assert last.query is None and last.header is None


@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "get"]),
    path=st.text(max_size=60),
    query=st.dictionaries(
        st.sampled_from(
            ["acl", "uploads", "uploadId", "list-type", "id", "x", "versions", "delete"]
        )
        | st.text(max_size=8),
        st.text(max_size=8),
        max_size=4,
    ),
    host=st.text(max_size=30) | st.sampled_from(["b.localhost", "localhost", "[::1]:1"]),
    headers=st.dictionaries(st.sampled_from(["x-amz-copy-source", "X-Other"]), st.text(max_size=4)),
)
def test_resolve_raises_only_s3_errors(
    method: str, path: str, query: dict[str, str], host: str, headers: dict[str, str]
) -> None:
    try:
        route = resolve(method, path, query, host, "localhost", headers)
    except S3Error:
        return
    assert route.key is None or route.bucket is not None


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket", "my.bucket.name", "a" * 63, "1bucket", "bucket1", "xn-ok", "a-s3alias-x"],
)
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",
        "a" * 64,
        "MyBucket",
        "my_bucket",
        "-bucket",
        "bucket-",
        ".bucket",
        "bucket.",
        "my..bucket",
        "192.168.5.4",
        "xn--bucket",
        "sthree-bucket",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bück",
        "bucket/slash",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        validate_bucket_name(name)


@pytest.mark.parametrize(
    "key",
    ["k", "../../etc/passwd", "tab\tnewline\ncr\r", "日本語", "a" * 1024, "é" * 512, "\ufffd"],
)
def test_valid_keys(key: str) -> None:
    validate_key(key)


def test_empty_key_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        validate_key("")


@pytest.mark.parametrize("key", ["a" * 1025, "é" * 513, "😀" * 257])
def test_key_over_1024_utf8_bytes_is_too_long(key: str) -> None:
    with pytest.raises(KeyTooLongError):
        validate_key(key)


@pytest.mark.parametrize("key", ["nul\x00", "\ud800lone"])
def test_keys_no_catalog_can_hold_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument, match="cannot be stored"):
        validate_key(key)


@pytest.mark.parametrize("key", ["bell\x07", "esc\x1b", "line\nfeed", "x\ufffe", "\uffff"])
def test_control_characters_are_stored_as_s3_stores_them(key: str) -> None:
    validate_key(key)
