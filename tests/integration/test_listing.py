"""ListObjects (V1) and ListObjectsV2: prefixes, delimiters, pagination, URL encoding, order."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote_plus

import pytest
from botocore.client import BaseClient
from support.clients import empty_and_delete_bucket, unique_bucket_name
from support.processes import Cluster
from support.signing import raw_request

S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MANY_KEYS = [f"many/{n:05d}" for n in range(1100)]


def utf8_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def put_all(s3: BaseClient, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))


@pytest.fixture(scope="module")
def many(s3: BaseClient) -> Iterator[str]:
    """A bucket with 1,100 empty objects (more than a page of 1,000), shared by the pagination
    tests."""
    name = unique_bucket_name("list")
    s3.create_bucket(Bucket=name)
    try:
        put_all(s3, name, MANY_KEYS)
        yield name
    finally:
        empty_and_delete_bucket(s3, name)


@pytest.mark.parametrize("page_size", [1000, 7])
def test_v2_pagination(s3: BaseClient, many: str, page_size: int) -> None:
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=many, PaginationConfig={"PageSize": page_size}
        )
    )
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    assert keys == MANY_KEYS
    assert len(pages) == -(-len(MANY_KEYS) // page_size)
    for page in pages[:-1]:
        assert page["IsTruncated"] is True
        assert page["KeyCount"] == page_size
        assert page["NextContinuationToken"]
    assert pages[-1]["IsTruncated"] is False
    assert "NextContinuationToken" not in pages[-1]


@pytest.mark.parametrize("page_size", [1000, 7])
def test_v1_pagination(s3: BaseClient, many: str, page_size: int) -> None:
    pages = list(
        s3.get_paginator("list_objects").paginate(
            Bucket=many, PaginationConfig={"PageSize": page_size}
        )
    )
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    assert keys == MANY_KEYS
    assert len(pages) == -(-len(MANY_KEYS) // page_size)
    assert all(page["IsTruncated"] for page in pages[:-1])
    assert pages[-1]["IsTruncated"] is False


def test_default_max_keys_is_1000(s3: BaseClient, many: str) -> None:
    v2 = s3.list_objects_v2(Bucket=many)
    assert (v2["KeyCount"], v2["MaxKeys"], v2["IsTruncated"]) == (1000, 1000, True)
    v1 = s3.list_objects(Bucket=many)
    assert (len(v1["Contents"]), v1["MaxKeys"], v1["IsTruncated"]) == (1000, 1000, True)


def test_v1_marker_and_v2_start_after(s3: BaseClient, many: str) -> None:
    v1 = s3.list_objects(Bucket=many, Marker="many/00234", MaxKeys=3)
    assert [item["Key"] for item in v1["Contents"]] == ["many/00235", "many/00236", "many/00237"]
    assert v1["Marker"] == "many/00234"
    v2 = s3.list_objects_v2(Bucket=many, StartAfter="many/01097", MaxKeys=5)
    assert [item["Key"] for item in v2["Contents"]] == ["many/01098", "many/01099"]
    assert v2["StartAfter"] == "many/01097"
    assert v2["IsTruncated"] is False


def test_v1_next_marker_with_delimiter(s3: BaseClient, bucket: str) -> None:
    put_all(s3, bucket, ["a/1", "a/2", "b/1", "c"])
    first = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/", "b/"]
    assert first["IsTruncated"] is True
    assert first["NextMarker"] == "b/"
    second = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=first["NextMarker"])
    assert [item["Key"] for item in second["Contents"]] == ["c"]
    assert second["IsTruncated"] is False


def test_prefix_and_delimiter(s3: BaseClient, bucket: str) -> None:
    keys = ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg"]
    keys += ["photosynthesis.txt", "readme.md", "docs/x"]
    put_all(s3, bucket, keys)

    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "photos/"]
    assert [item["Key"] for item in top["Contents"]] == ["photosynthesis.txt", "readme.md"]
    assert top["KeyCount"] == 4  # keys and common prefixes together

    inside = s3.list_objects_v2(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert [item["Key"] for item in inside["Contents"]] == ["photos/top.jpg"]
    assert inside["Prefix"] == "photos/"
    assert inside["Delimiter"] == "/"

    plain = s3.list_objects_v2(Bucket=bucket, Prefix="photos")
    assert [item["Key"] for item in plain["Contents"]] == utf8_order(
        [k for k in keys if k.startswith("photos")]
    )
    v1 = s3.list_objects(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert [item["Key"] for item in v1["Contents"]] == ["photos/top.jpg"]

    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing-here")["KeyCount"] == 0


def test_common_prefixes_count_toward_max_keys(s3: BaseClient, bucket: str) -> None:
    put_all(s3, bucket, [f"dir{n}/file" for n in range(5)])
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page.get("CommonPrefixes", [])) for page in pages] == [2, 2, 1]
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert prefixes == [f"dir{n}/" for n in range(5)]


ENCODED_KEYS = [
    "with space",
    "plus+sign",
    "per%cent",
    "amp&er=sand?q",
    "unicodé/日本語",
    "emoji 🙂/x",
    "tab\there",
    "lt<gt>quote\"apos'",
]


def test_encoding_type_url_round_trips(s3: BaseClient, bucket: str) -> None:
    put_all(s3, bucket, ENCODED_KEYS)
    # Unasked, botocore sends encoding-type=url and decodes the answer itself.
    v2 = s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in v2["Contents"]] == utf8_order(ENCODED_KEYS)
    v1 = s3.list_objects(Bucket=bucket)
    assert [item["Key"] for item in v1["Contents"]] == utf8_order(ENCODED_KEYS)
    # Asked explicitly, botocore leaves the decoding to the caller.
    explicit = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert explicit["EncodingType"] == "url"
    raw_keys = [item["Key"] for item in explicit["Contents"]]
    assert [unquote_plus(key) for key in raw_keys] == utf8_order(ENCODED_KEYS)
    assert all(" " not in key and "&" not in key for key in raw_keys), raw_keys
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="unicodé/")
    assert [item["Key"] for item in grouped["Contents"]] == ["unicodé/日本語"]
    assert grouped["Prefix"] == "unicodé/"
    prefixes = s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]
    assert [p["Prefix"] for p in prefixes] == ["emoji 🙂/", "unicodé/"]


def test_encoding_type_url_on_the_wire(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    put_all(s3, bucket, ["per%cent", "plus+sign"])
    encoded = raw_request(cluster, "GET", f"/{bucket}?list-type=2&encoding-type=url")
    assert encoded.status == 200, encoded.body[:500]
    keys = [e.text for e in encoded.xml().iter(f"{S3_NAMESPACE}Key")]
    assert keys == ["per%25cent", "plus%2Bsign"]
    assert encoded.xml().findtext(f"{S3_NAMESPACE}EncodingType") == "url"
    plain = raw_request(cluster, "GET", f"/{bucket}?list-type=2")
    assert [e.text for e in plain.xml().iter(f"{S3_NAMESPACE}Key")] == ["per%cent", "plus+sign"]


def test_fetch_owner(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="owned", Body=b"x")
    owner_id = s3.list_buckets()["Owner"]["ID"]
    without = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert "Owner" not in without
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]
    assert with_owner["Owner"]["ID"] == owner_id
    v1 = s3.list_objects(Bucket=bucket)["Contents"][0]
    assert v1["Owner"]["ID"] == owner_id


def test_listing_entry_fields(s3: BaseClient, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="f", Body=b"12345")
    entry = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert entry["Key"] == "f"
    assert entry["Size"] == 5
    assert entry["ETag"] == put["ETag"]
    assert entry["StorageClass"] == "STANDARD"
    # Listings carry milliseconds, HTTP dates whole seconds.
    listed_modified = entry["LastModified"].replace(microsecond=0)
    assert listed_modified == s3.head_object(Bucket=bucket, Key="f")["LastModified"]


def test_list_after_write_and_after_delete(s3: BaseClient, bucket: str) -> None:
    for n in range(20):
        key = f"k{n:02d}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert listed == [f"k{m:02d}" for m in range(n + 1)]
    for n in range(20):
        s3.delete_object(Bucket=bucket, Key=f"k{n:02d}")
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert listed == [f"k{m:02d}" for m in range(n + 1, 20)]


def test_keys_are_in_utf8_binary_order(s3: BaseClient, bucket: str) -> None:
    # Code-point order is UTF-8 byte order; UTF-16 or locale collation would differ on these.
    keys = ["a", "B", "b", "~", "é", "Z", "\uff61", "\U0001f600", "a/b", "a-b", "a b", "0", "_"]
    put_all(s3, bucket, keys)
    v2 = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert v2 == utf8_order(keys)
    v1 = [item["Key"] for item in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == utf8_order(keys)
    paged = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
        for item in page.get("Contents", [])
    ]
    assert paged == utf8_order(keys)
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="\uff61")["Contents"]
    assert [item["Key"] for item in after] == ["\U0001f600"]


def test_raw_key_path_is_encoded_like_botocore(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    key = "dir/with space+plus"
    s3.put_object(Bucket=bucket, Key=key, Body=b"raw")
    answer = raw_request(cluster, "GET", f"/{bucket}/{quote(key, safe='/~')}")
    assert (answer.status, answer.body) == (200, b"raw")
