"""Bucket versioning with boto3: versions, delete markers, reads and deletes by version id,
suspended buckets, multipart and copies, ListObjectVersions paging, and that an old version's
chunks stay until that version is deleted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import quote

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.catalog import catalog_rows
from support.clients import error_code, http_status
from support.processes import Cluster
from support.signing import raw_request

MIB = 1024 * 1024
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def fails(call: Callable[[], object]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def code(error: ClientError) -> tuple[str, int]:
    return error_code(error), http_status(error)


def enable(s3: BaseClient, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def versions_of(
    cluster: Cluster, bucket: str, *, prefix: str = "", page_size: int = 1000
) -> list[tuple[str, str, bool, str]]:
    """(key, version id, is latest, "version" or "marker") of every entry in the order S3
    lists them (boto3 splits versions from delete markers, so the raw XML is read), following
    NextKeyMarker / NextVersionIdMarker page by page."""
    found: list[tuple[str, str, bool, str]] = []
    markers = ""
    while True:
        query = f"versions&max-keys={page_size}&prefix={quote(prefix, safe='')}{markers}"
        answer = raw_request(cluster, "GET", f"/{bucket}?{query}", {}, b"")
        assert answer.status == 200, answer.body
        root = answer.xml()
        for entry in root:
            kind = entry.tag.rsplit("}", 1)[-1]
            if kind in ("Version", "DeleteMarker"):
                found.append(
                    (
                        entry.findtext(f"{NS}Key") or "",
                        entry.findtext(f"{NS}VersionId") or "",
                        entry.findtext(f"{NS}IsLatest") == "true",
                        "version" if kind == "Version" else "marker",
                    )
                )
        if root.findtext(f"{NS}IsTruncated") != "true":
            return found
        key = quote(root.findtext(f"{NS}NextKeyMarker") or "", safe="")
        version = root.findtext(f"{NS}NextVersionIdMarker")
        markers = f"&key-marker={key}" + (f"&version-id-marker={version}" if version else "")


def test_enabled_bucket_keeps_every_version(s3: BaseClient, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{n}".encode())["VersionId"] for n in range(3)
    ]
    assert len(set(ids)) == 3 and "null" not in ids
    for n, version in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=version)
        assert got["Body"].read() == f"v{n}".encode()
        assert got["VersionId"] == version
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=version)["ContentLength"] == 2
    latest = s3.get_object(Bucket=bucket, Key="k")
    assert latest["Body"].read() == b"v2" and latest["VersionId"] == ids[2]
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (ids[2], True),
        (ids[1], False),
        (ids[0], False),
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_delete_marker_hides_the_key_and_deleting_it_brings_it_back(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker not in ("null", first)
    missing = fails(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert code(missing) == ("NoSuchKey", 404)
    headers = missing.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true"
    assert headers["x-amz-version-id"] == marker
    head = raw_request(cluster, "HEAD", f"/{bucket}/k", {}, b"")
    assert head.status == 404 and head.headers["x-amz-delete-marker"] == "true"
    by_marker = raw_request(cluster, "GET", f"/{bucket}/k?versionId={marker}", {}, b"")
    assert by_marker.status == 405 and by_marker.error_code() == "MethodNotAllowed"
    assert by_marker.headers["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"kept"
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(first, False)]
    undo = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert undo["DeleteMarker"] is True and undo["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_deleting_a_version_for_good(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    enable(s3, bucket)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{n}".encode())["VersionId"] for n in range(3)
    ]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[1])
    assert code(fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=ids[1]))) == (
        "NoSuchVersion",
        404,
    )
    # Deleting the latest makes the next newest current again.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v0"
    assert [v[1] for v in versions_of(cluster, bucket)] == [ids[0]]
    # Deleting a version the key does not have is no error (S3 answers 204).
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_version_ids_that_were_never_handed_out(s3: BaseClient, bucket: str) -> None:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId="bogus"))) == (
        "InvalidArgument",
        400,
    )
    absent = "7fffffffffffffff"
    assert code(fails(lambda: s3.head_object(Bucket=bucket, Key="k", VersionId=absent)))[1] == 404
    assert code(fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=absent))) == (
        "NoSuchVersion",
        404,
    )
    assert code(fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId="null"))) == (
        "NoSuchVersion",
        404,
    )


def test_objects_from_before_versioning_are_the_null_version(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    s3.put_object(Bucket=bucket, Key="old", Body=b"before")
    enable(s3, bucket)
    new = s3.put_object(Bucket=bucket, Key="old", Body=b"after")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="old", VersionId="null")["Body"].read() == b"before"
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"after"
    assert [(v[1], v[2]) for v in versions_of(cluster, bucket)] == [(new, True), ("null", False)]


def test_suspended_bucket_replaces_only_the_null_version(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"null one")
    assert "VersionId" not in put  # the null version: no x-amz-version-id
    s3.put_object(Bucket=bucket, Key="k", Body=b"null two")
    assert [(v[1], v[2]) for v in versions_of(cluster, bucket)] == [("null", True), (kept, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null two"
    # A delete writes a null delete marker, which replaces the null version.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    listed = versions_of(cluster, bucket)
    assert listed == [("k", "null", True, "marker"), ("k", kept, False, "version")]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"


def test_multipart_and_copy_make_versions(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="m", Body=b"small")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    parts = []
    for number, fill in ((1, b"a"), (2, b"b")):
        size = 5 * MIB if number == 1 else 100
        etag = s3.upload_part(
            Bucket=bucket, Key="m", UploadId=upload, PartNumber=number, Body=fill * size
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    second = done["VersionId"]
    assert second not in (first, "null")
    assert s3.head_object(Bucket=bucket, Key="m")["ContentLength"] == 5 * MIB + 100
    # Restoring the first version: copy it onto its own key (allowed with a version id).
    copied = s3.copy_object(
        Bucket=bucket, Key="m", CopySource={"Bucket": bucket, "Key": "m", "VersionId": first}
    )
    assert copied["CopySourceVersionId"] == first
    third = copied["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"small"
    assert [v[1] for v in versions_of(cluster, bucket)] == [third, second, first]
    part = s3.get_object(Bucket=bucket, Key="m", VersionId=second, PartNumber=2)
    assert part["Body"].read() == b"b" * 100


def test_listing_versions_pages_with_markers_and_delimiter(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    enable(s3, bucket)
    expected: list[tuple[str, str]] = []
    for key in ("a", "b/1", "b/2", "c"):
        ids = [s3.put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        expected += [(key, version) for version in reversed(ids)]
    marker = s3.delete_object(Bucket=bucket, Key="c")["VersionId"]
    expected.insert(9, ("c", marker))
    whole = versions_of(cluster, bucket)
    assert [(k, v) for k, v, _, _ in whole] == expected
    assert [latest for _, _, latest, _ in whole] == [i in (0, 3, 6, 9) for i in range(13)]
    for size in (1, 2, 5):
        paged = versions_of(cluster, bucket, page_size=size)
        assert paged == whole, size
    first = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert first["IsTruncated"] is True
    assert (first["NextKeyMarker"], first["NextVersionIdMarker"]) == expected[1]
    rest = s3.list_object_versions(
        Bucket=bucket, KeyMarker=expected[1][0], VersionIdMarker=expected[1][1], MaxKeys=1
    )
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in rest["Versions"]] == [
        (*expected[2], False)
    ]
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a", "c"}
    assert len(versions_of(cluster, bucket, prefix="b/")) == 6


def test_delete_objects_with_and_without_version_ids(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    enable(s3, bucket)
    one = s3.put_object(Bucket=bucket, Key="one", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="two", Body=b"2")
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "one", "VersionId": one}, {"Key": "two"}]},
    )
    deleted = {d["Key"]: d for d in answer["Deleted"]}
    assert deleted["one"]["VersionId"] == one and "DeleteMarker" not in deleted["one"]
    assert deleted["two"]["DeleteMarker"] is True
    assert deleted["two"]["DeleteMarkerVersionId"] not in ("null", "")
    assert [(k, kind) for k, _, _, kind in versions_of(cluster, bucket)] == [
        ("two", "marker"),
        ("two", "version"),
    ]


def test_delete_objects_deletes_one_key_in_the_order_it_is_listed(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    """DeleteObjects deletes many keys at once, but the entries of one key in their order: a key
    listed three times gets three markers, the last one listed the latest, and a key whose
    version is deleted after a marker was put on it keeps that marker."""
    enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="again", Body=b"1")["VersionId"]
    gone = s3.put_object(Bucket=bucket, Key="then", Body=b"2")["VersionId"]
    others = [{"Key": f"other-{n:02d}"} for n in range(40)]
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "again"},
                *others[:20],
                {"Key": "again"},
                {"Key": "then"},
                {"Key": "then", "VersionId": gone},
                *others[20:],
                {"Key": "again"},
            ]
        },
    )
    assert "Errors" not in answer
    markers = [d["DeleteMarkerVersionId"] for d in answer["Deleted"] if d["Key"] == "again"]
    assert len(markers) == 3 and len(set(markers)) == 3
    listed = [(k, v, latest, kind) for k, v, latest, kind in versions_of(cluster, bucket)]
    again = [entry for entry in listed if entry[0] == "again"]
    assert again[0] == ("again", markers[2], True, "marker")
    assert [v for _, v, _, _ in again] == [*reversed(markers), kept]
    assert [(kind, latest) for k, _, latest, kind in listed if k == "then"] == [("marker", True)]


def test_bucket_with_versions_is_not_empty(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    enable(s3, bucket)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    assert code(fails(lambda: s3.delete_bucket(Bucket=bucket))) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
    assert code(fails(lambda: s3.delete_bucket(Bucket=bucket))) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert versions_of(cluster, bucket) == []
    rows = catalog_rows(cluster, "SELECT count(*) FROM versions WHERE bucket = ?", bucket)
    assert rows[0][0] == 0


def test_old_versions_keep_their_chunks_until_deleted(
    s3: BaseClient, bucket: str, cluster: Cluster
) -> None:
    enable(s3, bucket)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=bytes([n]) * 4096)["VersionId"] for n in range(3)
    ]

    def chunks_of(version: str) -> int:
        rows = catalog_rows(
            cluster, "SELECT count(*) FROM chunks WHERE version_id = ?", int(version, 16)
        )
        return int(rows[0][0])

    assert all(chunks_of(v) >= 6 for v in ids)
    s3.delete_object(Bucket=bucket, Key="k")  # a marker frees nothing
    assert all(chunks_of(v) >= 6 for v in ids)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[0])
    assert chunks_of(ids[0]) == 0 and chunks_of(ids[1]) >= 6
    for n, version in ((1, ids[1]), (2, ids[2])):
        assert (
            s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read()
            == bytes([n]) * 4096
        )


def test_tags_and_acl_by_version(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    s3.put_object_tagging(
        Bucket=bucket, Key="k", VersionId=old, Tagging={"TagSet": [{"Key": "t", "Value": "old"}]}
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=old)["TagSet"] == [
        {"Key": "t", "Value": "old"}
    ]
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=old, ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="k", VersionId=old)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    current = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in current)
    # Access is decided by the version read: the old one is public, the current one is not.
    public = raw_request(cluster, "GET", f"/{bucket}/k?versionId={old}", {}, b"", signer=None)
    assert (public.status, public.body) == (200, b"1")
    private = raw_request(cluster, "GET", f"/{bucket}/k", {}, b"", signer=None)
    assert private.status == 403


def test_racing_writers_each_get_a_version(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    enable(s3, bucket)
    results: dict[int, str] = {}

    def write(n: int) -> None:
        results[n] = s3.put_object(Bucket=bucket, Key="race", Body=f"w{n}".encode())["VersionId"]

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = versions_of(cluster, bucket)
    assert sorted(v for _, v, _, _ in listed) == sorted(results.values())
    newest = max(results.values(), key=lambda v: int(v, 16))
    assert listed[0][1] == newest and listed[0][2] is True
    writer = next(n for n, v in results.items() if v == newest)
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == f"w{writer}".encode()


def test_conditional_delete_of_a_key_whose_latest_is_a_marker(s3: BaseClient, bucket: str) -> None:
    """A deleted key (its latest a delete marker) has no ETag or size to match: If-Match with
    an ETag fails (412), If-Match: * is a no-op; a key that never existed is 204 either way."""
    enable(s3, bucket)
    assert (
        s3.delete_object(Bucket=bucket, Key="never", IfMatch="nope")["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    assert code(fails(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch="nope"))) == (
        "PreconditionFailed",
        412,
    )
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)["DeleteMarker"] is True
    assert code(fails(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag))) == (
        "PreconditionFailed",
        412,
    )
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "ETag": etag}]})
    assert answer["Errors"][0]["Code"] == "PreconditionFailed"
    assert len([m for m in s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]]) == 1
