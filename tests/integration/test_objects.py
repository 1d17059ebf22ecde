"""Object operations against a real cluster: round trips, metadata, ranges, conditions, deletes,
key handling, and integrity checks (Content-MD5, flexible checksums)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from awscrt import checksums
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status
from support.processes import Cluster
from support.signing import raw_request

UTC = datetime.UTC


def quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def expect_error(call: Callable[[], Any], code: str, status: int) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    assert (error_code(raised.value), http_status(raised.value)) == (code, status), (
        raised.value.response
    )
    return raised.value


def expect_status(call: Callable[[], Any], status: int) -> None:
    """For answers without an error body (304, HEAD errors): only the status counts."""
    with pytest.raises(ClientError) as raised:
        call()
    assert http_status(raised.value) == status, raised.value.response


def fetch(s3: BaseClient, **arguments: Any) -> tuple[dict[str, Any], bytes]:
    """get_object, with the body read and the connection released even if reading fails."""
    answer = s3.get_object(**arguments)
    with contextlib.closing(answer["Body"]) as body:
        return answer, body.read()


def put_many(s3: BaseClient, bucket: str, keys: list[str], body: bytes = b"") -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body), keys))


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, 300_001])
def test_put_get_head_delete_round_trip(s3: BaseClient, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="object", Body=data)
    assert put["ETag"] == quoted_md5(data)
    assert "VersionId" not in put  # never x-amz-version-id on an unversioned bucket

    head = s3.head_object(Bucket=bucket, Key="object")
    assert head["ContentLength"] == size
    assert head["ETag"] == quoted_md5(data)
    assert head["LastModified"].tzinfo is not None

    got, body = fetch(s3, Bucket=bucket, Key="object")
    assert got["ContentLength"] == size
    assert got["ETag"] == quoted_md5(data)
    assert body == data

    deleted = s3.delete_object(Bucket=bucket, Key="object")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="object"), "NoSuchKey", 404)
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="object"), 404)


def test_missing_key(s3: BaseClient, bucket: str) -> None:
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="absent"), "NoSuchKey", 404)
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="absent"), 404)


def test_metadata_and_standard_headers_are_kept(s3: BaseClient, bucket: str) -> None:
    expires = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="described",
        Body=gzip.compress(b"payload"),
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
        ContentType="text/x-test; charset=utf-8",
        CacheControl="max-age=600, private",
        ContentDisposition='attachment; filename="report.txt"',
        ContentEncoding="gzip",
        ContentLanguage="de-CH",
        Expires=expires,
    )
    for answer in (
        s3.head_object(Bucket=bucket, Key="described"),
        fetch(s3, Bucket=bucket, Key="described")[0],
    ):
        assert answer["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
        assert answer["ContentType"] == "text/x-test; charset=utf-8"
        assert answer["CacheControl"] == "max-age=600, private"
        assert answer["ContentDisposition"] == 'attachment; filename="report.txt"'
        assert answer["ContentEncoding"] == "gzip"
        assert answer["ContentLanguage"] == "de-CH"
        assert parsedate_to_datetime(answer["ExpiresString"]) == expires


@pytest.mark.parametrize(
    "body", [gzip.compress(b"zipped " * 100), b"not gzip at all"], ids=["gzip", "not-gzip"]
)
def test_content_encoding_body_is_stored_as_sent(s3: BaseClient, bucket: str, body: bytes) -> None:
    # Content-Encoding describes the object; the gateway must neither decode nor check it.
    put = s3.put_object(Bucket=bucket, Key="z", Body=body, ContentEncoding="gzip")
    assert put["ETag"] == quoted_md5(body)
    got, stored = fetch(s3, Bucket=bucket, Key="z")
    assert got["ContentEncoding"] == "gzip"
    assert got["ContentLength"] == len(body)
    assert stored == body


def test_default_content_type(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="plain")["ContentType"] == "binary/octet-stream"


def test_overwrite_returns_only_new_bytes(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"A" * 100_000)
    s3.put_object(Bucket=bucket, Key="k", Body=b"short")
    got, body = fetch(s3, Bucket=bucket, Key="k")
    assert body == b"short"
    assert got["ETag"] == quoted_md5(b"short")
    assert got["ContentLength"] == 5


# --- ranges ----------------------------------------------------------------------------------

RANGE_DATA = bytes(range(256)) * 4  # 1024 bytes


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-100", 100, 100),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-7", 1017, 1023),
        ("bytes=1020-5000", 1020, 1023),  # an end past the object is clamped
        ("bytes=-5000", 0, 1023),  # a suffix longer than the object is the whole object
    ],
)
def test_ranges(s3: BaseClient, bucket: str, header: str, start: int, end: int) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    got, body = fetch(s3, Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/{len(RANGE_DATA)}"
    assert got["ContentLength"] == end - start + 1
    assert body == RANGE_DATA[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=1024-2000", "bytes=5000-6000"])
def test_unsatisfiable_range(s3: BaseClient, bucket: str, header: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_DATA)
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="r", Range=header), "InvalidRange", 416)


def test_range_on_empty_object_is_unsatisfiable(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    expect_error(
        lambda: s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0"), "InvalidRange", 416
    )


def test_response_header_overrides(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"body", ContentType="application/octet-stream")
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    got, body = fetch(
        s3,
        Bucket=bucket,
        Key="o",
        ResponseContentType="text/plain",
        ResponseContentLanguage="fr",
        ResponseExpires=expires,
        ResponseCacheControl="no-cache",
        ResponseContentDisposition='attachment; filename="x.txt"',
        ResponseContentEncoding="identity",
    )
    assert got["ContentType"] == "text/plain"
    assert got["ContentLanguage"] == "fr"
    assert parsedate_to_datetime(got["ExpiresString"]) == expires
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == 'attachment; filename="x.txt"'
    assert got["ContentEncoding"] == "identity"
    assert body == b"body"
    # The overrides change one answer, not the object.
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "application/octet-stream"


# --- conditional requests --------------------------------------------------------------------


@pytest.fixture
def conditional_object(s3: BaseClient, bucket: str) -> Iterator[tuple[str, str, datetime.datetime]]:
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="c")
    yield bucket, head["ETag"], head["LastModified"]


def test_conditional_get(s3: BaseClient, conditional_object: tuple[str, str, Any]) -> None:
    bucket, etag, modified = conditional_object
    day = datetime.timedelta(days=1)
    ok: list[dict[str, Any]] = [
        {"IfMatch": etag},
        {"IfMatch": "*"},
        {"IfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        {"IfModifiedSince": modified - day},
        {"IfUnmodifiedSince": modified + day},
        # If-Match true wins over a false If-Unmodified-Since (RFC 7232 §6, S3 reference).
        {"IfMatch": etag, "IfUnmodifiedSince": modified - day},
    ]
    for conditions in ok:
        for call in (s3.get_object, s3.head_object):
            answer = call(Bucket=bucket, Key="c", **conditions)
            if "Body" in answer:
                answer["Body"].close()
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200, conditions
    not_modified: list[dict[str, Any]] = [
        {"IfNoneMatch": etag},
        {"IfNoneMatch": "*"},
        {"IfModifiedSince": modified},
        {"IfModifiedSince": modified + datetime.timedelta(seconds=1)},
        # If-None-Match false wins over a true If-Modified-Since.
        {"IfNoneMatch": etag, "IfModifiedSince": modified - day},
    ]
    for conditions in not_modified:
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as raised:
                call(Bucket=bucket, Key="c", **conditions)
            assert http_status(raised.value) == 304, conditions
    failed: list[dict[str, Any]] = [
        {"IfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"IfUnmodifiedSince": modified - day},
    ]
    for conditions in failed:
        expect_error(
            lambda c=conditions: s3.get_object(Bucket=bucket, Key="c", **c),
            "PreconditionFailed",
            412,
        )
        expect_status(
            lambda c=conditions: s3.head_object(Bucket=bucket, Key="c", **c),
            412,
        )


def test_not_modified_has_no_body_but_has_etag(
    cluster: Cluster, conditional_object: tuple[str, str, Any]
) -> None:
    bucket, etag, _ = conditional_object
    answer = raw_request(cluster, "GET", f"/{bucket}/c", headers={"If-None-Match": etag})
    assert answer.status == 304
    assert answer.body == b""
    assert answer.header("ETag") == etag


def test_put_if_none_match_star(s3: BaseClient, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*"),
        "PreconditionFailed",
        412,
    )
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


# --- deletes ---------------------------------------------------------------------------------


def test_delete_absent_key_is_204(s3: BaseClient, bucket: str) -> None:
    answer = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects_verbose_and_quiet(s3: BaseClient, bucket: str) -> None:
    keys = [f"v/{n}" for n in range(5)]
    put_many(s3, bucket, keys, b"x")
    verbose = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in [*keys[:3], "v/absent"]]},
    )
    assert sorted(d["Key"] for d in verbose["Deleted"]) == sorted([*keys[:3], "v/absent"])
    assert verbose.get("Errors", []) == []
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[3:]], "Quiet": True}
    )
    assert quiet.get("Deleted", []) == []
    assert quiet.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_thousand_keys(s3: BaseClient, bucket: str) -> None:
    keys = [f"k{n:04d}" for n in range(1000)]
    # Every fourth key exists (creating all 1000 costs seconds); S3 reports absent keys as
    # deleted too, so the answer must list all of them.
    put_many(s3, bucket, keys[::4])
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in answer["Deleted"]) == keys
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_over_thousand_keys_is_malformed(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k0000", Body=b"stays")
    objects = [{"Key": f"k{n:04d}"} for n in range(1001)]
    expect_error(
        lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": objects}), "MalformedXML", 400
    )
    assert s3.get_object(Bucket=bucket, Key="k0000")["Body"].read() == b"stays"


def test_version_id_null_is_accepted(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="n", Body=b"null version")
    assert s3.head_object(Bucket=bucket, Key="n", VersionId="null")["ContentLength"] == 12
    got = s3.get_object(Bucket=bucket, Key="n", VersionId="null")
    assert got["Body"].read() == b"null version"
    deleted = s3.delete_object(Bucket=bucket, Key="n", VersionId="null")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="n"), 404)


def test_delete_objects_with_null_version_id(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="n", Body=b"x")
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "n", "VersionId": "null"}]}
    )
    assert [d["Key"] for d in answer["Deleted"]] == ["n"]
    assert answer.get("Errors", []) == []
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="n"), 404)


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k" * 1024, "é" * 512], ids=["1024-ascii", "1024-utf8"])
def test_longest_key(s3: BaseClient, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 513], ids=["1025-ascii", "1026-utf8"])
def test_key_too_long(s3: BaseClient, bucket: str, key: str) -> None:
    expect_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), "KeyTooLongError", 400)


ODD_KEYS = [
    "../../etc/passwd",
    "a//b",
    "sp ace+plus",
    "/leading-slash",
    "trailing-slash/",
    "per%cent%2Fslash",
    "question?hash#amp&eq=",
    "tilde~star*paren(1)",
    "unicodé/日本語/🙂",
    "..",
]


def test_odd_keys_round_trip_and_never_name_files(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    for key in ODD_KEYS:
        body = f"content of {key}".encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body), key
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(ODD_KEYS)

    distinctive = {"passwd", "etc", "sp ace+plus", "leading-slash", "trailing-slash"}
    distinctive |= {"日本語", "🙂", "unicodé", "question?hash#amp&eq=", "per%cent%2Fslash"}
    names: set[str] = set()
    for top in [cluster.data_dir.parent]:
        for _, directories, files in os.walk(top):
            names.update(directories)
            names.update(files)
    assert not names & distinctive, sorted(names & distinctive)
    assert not (cluster.data_dir.parent / "etc").exists()
    for chunk_dir in cluster.chunk_dirs:
        for path in Path(chunk_dir).rglob("*"):
            assert path.name not in {"a", "b"} | distinctive, path


CONTROL_KEYS = ["line\nfeed", "car\rriage", "bell\x07", "esc\x1b[0m", "del\x7f", "x\ufffe"]


def test_keys_with_control_characters(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    """Stored and read as S3 stores them; listed %-encoded with encoding-type=url (boto3's
    default) and as character references without it, as S3 writes them."""
    for key in CONTROL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    s3.copy_object(Bucket=bucket, Key="copy\x01", CopySource={"Bucket": bucket, "Key": "bell\x07"})
    # S3 names the key in CreateMultipartUpload's answer as a character reference, which
    # botocore's parser refuses (boto/botocore#3496): read the answer raw, as S3 sends it.
    started = raw_request(cluster, "POST", f"/{bucket}/multi%02?uploads")
    assert started.status == 200
    assert b"<Key>multi&#x2;</Key>" in started.body
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted([*CONTROL_KEYS, "copy\x01"])
    plain = raw_request(cluster, "GET", f"/{bucket}?list-type=2&prefix=bell")
    assert plain.status == 200
    assert b"<Key>bell&#x7;</Key>" in plain.body
    # DeleteObjects cannot name them: botocore writes U+0007 raw into the XML body, which no
    # XML 1.0 parser reads (MalformedXML). DeleteObject can.
    for key in listed:
        s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_dot_segments_are_not_resolved(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    # A path that a URL normaliser would resolve to another bucket must name the literal key.
    s3.put_object(Bucket=bucket, Key="x/../y", Body=b"literal")
    answer = raw_request(cluster, "GET", f"/{bucket}/x/../y")
    assert (answer.status, answer.body) == (200, b"literal")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="y"), "NoSuchKey", 404)
    encoded = raw_request(cluster, "GET", f"/{bucket}/{quote('x/../y', safe='')}")
    assert (encoded.status, encoded.body) == (200, b"literal")


# --- integrity -------------------------------------------------------------------------------


def test_content_md5_correct(s3: BaseClient, bucket: str) -> None:
    data = b"checked payload"
    answer = s3.put_object(
        Bucket=bucket, Key="m", Body=data, ContentMD5=b64(hashlib.md5(data).digest())
    )
    assert answer["ETag"] == quoted_md5(data)


@pytest.mark.parametrize(
    ("content_md5", "code"),
    [
        (b64(hashlib.md5(b"something else").digest()), "BadDigest"),
        ("not base64 at all!", "InvalidDigest"),
        (b64(b"0123456789"), "InvalidDigest"),  # decodes, but not to 16 bytes
    ],
)
def test_content_md5_wrong(
    cluster: Cluster, s3: BaseClient, bucket: str, content_md5: str, code: str
) -> None:
    # A raw request: botocore retries BadDigest four times with back-off, which only costs time.
    s3.put_object(Bucket=bucket, Key="m", Body=b"original")
    answer = raw_request(
        cluster, "PUT", f"/{bucket}/m", {"Content-MD5": content_md5}, body=b"replacement"
    )
    assert (answer.status, answer.error_code()) == (400, code), answer.body[:500]
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"original"


CHECKSUM_DATA = b"The quick brown fox jumps over the lazy dog" * 1000


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(checksums.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(checksums.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm.lower(), data).digest())


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_flexible_checksums(s3: BaseClient, bucket: str, algorithm: str) -> None:
    sent: dict[str, str] = {}

    def capture(request: Any, **_: Any) -> None:
        for name, value in request.headers.items():
            sent[name.lower()] = value.decode() if isinstance(value, bytes) else value

    s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        put = s3.put_object(
            Bucket=bucket, Key="sum", Body=CHECKSUM_DATA, ChecksumAlgorithm=algorithm
        )
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", capture)
    header = f"x-amz-checksum-{algorithm.lower()}"
    computed = sent.get(header)
    if computed is None:  # sent as an aws-chunked trailer: botocore computes the same value
        computed = expected_checksum(algorithm, CHECKSUM_DATA)
    assert computed == expected_checksum(algorithm, CHECKSUM_DATA)
    assert put.get(f"Checksum{algorithm}") == computed
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head.get(f"Checksum{algorithm}") == computed
    got, body = fetch(s3, Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert got.get(f"Checksum{algorithm}") == computed
    assert body == CHECKSUM_DATA


def test_wrong_checksum_header_is_bad_digest(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="sum", Body=b"original")
    wrong = b64(zlib.crc32(b"not the body").to_bytes(4, "big"))
    answer = raw_request(
        cluster,
        "PUT",
        f"/{bucket}/sum",
        headers={"x-amz-checksum-crc32": wrong},
        body=b"the real body",
    )
    assert (answer.status, answer.error_code()) == (400, "BadDigest"), answer.body[:500]
    assert s3.get_object(Bucket=bucket, Key="sum")["Body"].read() == b"original"
    fresh = raw_request(
        cluster,
        "PUT",
        f"/{bucket}/fresh",
        headers={"x-amz-checksum-crc32": wrong},
        body=b"the real body",
    )
    assert (fresh.status, fresh.error_code()) == (400, "BadDigest"), fresh.body[:500]
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="fresh"), 404)
