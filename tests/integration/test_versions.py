"""ListObjectVersions and PutBucketVersioning on (never versioned) buckets, with boto3."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status, unique_bucket_name
from support.processes import Cluster
from support.signing import raw_request

KEYS = ["a", "b/1", "b/2", "c d+é", "e"]


def fails(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value), http_status(raised.value)


@pytest.fixture
def filled(s3: BaseClient, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_every_object_is_its_null_version(s3: BaseClient, filled: str, cluster: Cluster) -> None:
    answer = s3.list_object_versions(Bucket=filled)
    assert answer["Name"] == filled
    assert answer["IsTruncated"] is False
    assert "DeleteMarkers" not in answer
    versions = answer["Versions"]
    assert [v["Key"] for v in versions] == KEYS
    head = s3.head_object(Bucket=filled, Key="a")
    first = versions[0]
    assert first["VersionId"] == "null"
    assert first["IsLatest"] is True
    assert first["ETag"] == head["ETag"]
    assert first["Size"] == 1
    assert first["StorageClass"] == "STANDARD"
    assert first["Owner"]["ID"] == cluster.access_key
    # HTTP dates have whole seconds, XML timestamps milliseconds.
    assert first["LastModified"].replace(microsecond=0) == head["LastModified"]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)


def test_prefix_delimiter_and_encoding(s3: BaseClient, filled: str, cluster: Cluster) -> None:
    answer = s3.list_object_versions(Bucket=filled, Delimiter="/")
    assert [v["Key"] for v in answer["Versions"]] == ["a", "c d+é", "e"]
    assert answer["CommonPrefixes"] == [{"Prefix": "b/"}]
    answer = s3.list_object_versions(Bucket=filled, Prefix="b/")
    assert [v["Key"] for v in answer["Versions"]] == ["b/1", "b/2"]
    assert answer["Prefix"] == "b/"
    # boto3 asks for encoding-type=url and decodes: the keys come back as written.
    raw = raw_request(cluster, "GET", f"/{filled}?versions&encoding-type=url&prefix=c")
    assert raw.status == 200
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert raw.xml().findtext(f"{ns}Version/{ns}Key") == "c%20d%2B%C3%A9"
    assert raw.xml().findtext(f"{ns}EncodingType") == "url"


def test_paging_with_key_and_version_id_markers(s3: BaseClient, filled: str) -> None:
    first = s3.list_object_versions(Bucket=filled, MaxKeys=2)
    assert first["IsTruncated"] is True
    assert first["MaxKeys"] == 2
    assert [v["Key"] for v in first["Versions"]] == ["a", "b/1"]
    assert (first["NextKeyMarker"], first["NextVersionIdMarker"]) == ("b/1", "null")
    second = s3.list_object_versions(
        Bucket=filled, MaxKeys=2, KeyMarker="b/1", VersionIdMarker="null"
    )
    assert [v["Key"] for v in second["Versions"]] == ["b/2", "c d+é"]
    assert second["KeyMarker"] == "b/1"
    assert second["VersionIdMarker"] == "null"
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=filled, PaginationConfig={"PageSize": 2}
    )
    assert [v["Key"] for page in pages for v in page.get("Versions", [])] == KEYS
    delimited = s3.list_object_versions(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert delimited["NextKeyMarker"] == "b/"
    assert "NextVersionIdMarker" not in delimited
    rest = s3.list_object_versions(Bucket=filled, Delimiter="/", KeyMarker="b/")
    assert [v["Key"] for v in rest["Versions"]] == ["c d+é", "e"]


def test_marker_errors(s3: BaseClient, filled: str) -> None:
    assert fails(lambda: s3.list_object_versions(Bucket=filled, VersionIdMarker="null")) == (
        "InvalidArgument",
        400,
    )
    assert fails(
        lambda: s3.list_object_versions(Bucket=filled, KeyMarker="a", VersionIdMarker="v1")
    ) == ("InvalidArgument", 400)
    assert fails(lambda: s3.list_object_versions(Bucket=unique_bucket_name())) == (
        "NoSuchBucket",
        404,
    )


def test_cleanup_by_versions_as_test_suites_do(s3: BaseClient, filled: str) -> None:
    versions = s3.list_object_versions(Bucket=filled)["Versions"]
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
    answer = s3.delete_objects(Bucket=filled, Delete={"Objects": objects})
    assert len(answer["Deleted"]) == len(KEYS)
    assert "Versions" not in s3.list_object_versions(Bucket=filled)


def test_put_bucket_versioning(s3: BaseClient, bucket: str) -> None:
    done = s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert done["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert fails(
        lambda: s3.put_bucket_versioning(
            Bucket=unique_bucket_name(), VersioningConfiguration={"Status": "Suspended"}
        )
    ) == ("NoSuchBucket", 404)


def test_put_bucket_versioning_malformed(bucket: str, cluster: Cluster) -> None:
    for body in (
        b"<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>",
        b"<Versioning><Status>Suspended</Status></Versioning>",
        b"",
    ):
        answer = raw_request(cluster, "PUT", f"/{bucket}?versioning", {}, body)
        assert (answer.error_code(), answer.status) == ("MalformedXML", 400)
    mfa = raw_request(
        cluster,
        "PUT",
        f"/{bucket}?versioning",
        {},
        b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>"
        b"</VersioningConfiguration>",
    )
    assert mfa.status == 501  # refused, not ignored: MFA Delete is not implemented
    state = raw_request(cluster, "GET", f"/{bucket}?versioning", {}, b"")
    assert state.status == 200 and b"Status" not in state.body
