"""Bucket lifecycle: the configuration API (boto3 and s3cmd-shaped requests) on the shared
cluster, and rules being carried out on a cluster of our own whose lifecycle day is 1 s: objects
expire, incomplete uploads are aborted, and their bytes leave the chunk daemons."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.catalog import catalog_rows
from support.clients import client_for, error_code, http_status, make_bucket, unique_bucket_name
from support.data import stored_bytes, used_bytes
from support.processes import Cluster, start_cluster, stop_cluster
from support.signing import raw_request
from support.waiting import wait_for

EXPIRY_TIMEOUT_SECONDS = 30.0
PART_BYTES = 1024 * 1024 + 7


def fails(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value), http_status(raised.value)


def expire_days(prefix: str, days: int, rule_id: str = "expire") -> dict[str, Any]:
    return {
        "ID": rule_id,
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }


# --- the configuration API ----------------------------------------------------------------


def test_put_get_delete(s3: BaseClient, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (
        "NoSuchLifecycleConfiguration",
        404,
    )
    rules: list[dict[str, Any]] = [
        expire_days("logs/", 30),
        {
            "ID": "date",
            "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "t", "Value": "1"}]}},
            "Status": "Disabled",
            "Expiration": {"Date": datetime(2031, 1, 1, tzinfo=UTC)},
        },
        {
            "ID": "uploads",
            "Filter": {},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 3},
        },
        {
            "ID": "size",
            "Filter": {"ObjectSizeGreaterThan": 1024},
            "Status": "Enabled",
            "Expiration": {"Days": 1},
        },
    ]
    put = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules}
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules
    deleted = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (
        "NoSuchLifecycleConfiguration",
        404,
    )


def test_expiration_header_on_put_head_and_get(s3: BaseClient, bucket: str) -> None:
    """x-amz-expiration names when a rule will expire the object (the day boundary after
    written + Days, in real days) and the rule; objects no rule covers get none."""
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "short",
                    "Filter": {"Prefix": "days1/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": 1},
                },
                {
                    "ID": 'tagged "x"',
                    "Status": "Enabled",
                    "Expiration": {"Days": 3},
                    "Filter": {"Tag": {"Key": "keep", "Value": "no"}},
                },
            ]
        },
    )
    before = datetime.now(UTC)
    put = s3.put_object(Bucket=bucket, Key="days1/a", Body=b"a")
    for answer in (
        put,
        s3.head_object(Bucket=bucket, Key="days1/a"),
        s3.get_object(Bucket=bucket, Key="days1/a"),
    ):
        header = answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
        assert header.endswith(', rule-id="short"'), header
        assert answer["Expiration"] == header  # boto3 reads it as Expiration
        when = parsedate_to_datetime(header.split('"')[1])
        assert (when.hour, when.minute, when.second) == (0, 0, 0)
        assert timedelta(days=1) < when - before <= timedelta(days=2)
    tagged = s3.put_object(Bucket=bucket, Key="other", Body=b"b", Tagging="keep=no")
    assert tagged["Expiration"].endswith('rule-id="tagged \\"x\\""'), tagged["Expiration"]
    plain = s3.put_object(Bucket=bucket, Key="other2", Body=b"c")
    assert "Expiration" not in plain
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="days1/a")


def test_legacy_prefix_and_generated_id(s3: BaseClient, bucket: str) -> None:
    rule = {"Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 2}}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    [stored] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert stored["Prefix"] == "old/"
    assert "Filter" not in stored
    assert stored["ID"]


def test_s3cmd_expire_request(s3: BaseClient, bucket: str, cluster: Cluster) -> None:
    body = (
        b"<LifecycleConfiguration>  <Rule>    <Filter>      <Prefix></Prefix>    </Filter>"
        b"    <Status>Enabled</Status>    <Expiration>      <Days>5</Days>    </Expiration>"
        b"  </Rule></LifecycleConfiguration>"
    )
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    answer = raw_request(cluster, "PUT", f"/{bucket}?lifecycle", {"Content-MD5": md5}, body)
    assert answer.status == 200, answer.body
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["Filter"], rule["Expiration"]) == ({"Prefix": ""}, {"Days": 5})
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    answer = raw_request(cluster, "PUT", f"/{bucket}?lifecycle", {"Content-MD5": wrong}, body)
    assert (answer.error_code(), answer.status) == ("BadDigest", 400)


def test_validation(s3: BaseClient, bucket: str) -> None:
    def put(*rules: dict[str, Any]) -> tuple[str, int]:
        return fails(
            lambda: s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
            )
        )

    assert put(expire_days("a", 0)) == ("InvalidArgument", 400)
    assert put(expire_days("a", 1, "same"), expire_days("b", 1, "same")) == ("InvalidArgument", 400)
    assert put({"ID": "x", "Filter": {"Prefix": "a"}, "Status": "Enabled"}) == (
        "InvalidArgument",
        400,
    )
    assert put(
        {
            "Filter": {"Prefix": "a"},
            "Status": "Enabled",
            "Expiration": {"Date": datetime(2031, 1, 1, 12, tzinfo=UTC)},
        }
    ) == ("InvalidArgument", 400)
    assert put(
        {
            "Filter": {"Prefix": "a"},
            "Status": "Enabled",
            "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
        }
    ) == ("NotImplemented", 501)
    assert put({"Status": "Enabled", "Expiration": {"Days": 1}}) == ("MalformedXML", 400)
    assert put({"Filter": {"Prefix": "a"}, "Status": "Maybe", "Expiration": {"Days": 1}}) == (
        "MalformedXML",
        400,
    )
    assert put(*[expire_days(f"p{i}", 1, f"r{i}") for i in range(1001)]) == ("MalformedXML", 400)
    missing = unique_bucket_name()
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=missing)) == (
        "NoSuchBucket",
        404,
    )
    assert fails(
        lambda: s3.put_bucket_lifecycle_configuration(
            Bucket=missing, LifecycleConfiguration={"Rules": [expire_days("a", 1)]}
        )
    ) == ("NoSuchBucket", 404)
    # Nothing was stored by the refused requests.
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (
        "NoSuchLifecycleConfiguration",
        404,
    )


# --- rules carried out --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose lifecycle day is one second (and whose sweeper runs twice a second)."""
    root = tmp_path_factory.mktemp("lifecycle-cluster")
    running, process = start_cluster(
        root / "data", root, ["--lifecycle-day", "1", "--sweep-interval", "0.5", "--gc-grace", "1"]
    )
    try:
        yield running
    finally:
        stop_cluster(process)


@pytest.fixture(scope="module")
def fast_s3(fast_cluster: Cluster) -> BaseClient:
    return client_for(fast_cluster)


@pytest.fixture
def fast_bucket(fast_s3: BaseClient) -> Iterator[str]:
    yield from make_bucket(fast_s3)


def settled_bytes(cluster: Cluster) -> int:
    """Used bytes once nothing is waiting to be written or deleted."""

    def pending() -> int:
        (row,) = catalog_rows(
            cluster, "SELECT (SELECT count(*) FROM intents) + (SELECT count(*) FROM deletions)"
        )
        return int(row[0])

    wait_for(lambda: pending() == 0, EXPIRY_TIMEOUT_SECONDS)
    return used_bytes(cluster)


def exists(s3: BaseClient, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if http_status(error) == 404:
            return False
        raise
    return True


def test_objects_expire_after_days_and_free_their_bytes(
    fast_s3: BaseClient, fast_bucket: str, fast_cluster: Cluster
) -> None:
    fast_s3.put_object(Bucket=fast_bucket, Key="keep/a", Body=b"k" * 5000)
    fast_s3.put_object(Bucket=fast_bucket, Key="tagged/no", Body=b"n" * 100)
    before = settled_bytes(fast_cluster)
    fast_s3.put_object(Bucket=fast_bucket, Key="tmp/a", Body=b"t" * 70_000)
    fast_s3.put_object(Bucket=fast_bucket, Key="tmp/b", Body=b"t" * 30_000)
    fast_s3.put_object(Bucket=fast_bucket, Key="tagged/yes", Body=b"y" * 100, Tagging="gone=1")
    assert used_bytes(fast_cluster) >= before + 100_000
    rules = [
        expire_days("tmp/", 1, "tmp"),
        {
            "ID": "tagged",
            "Filter": {"Tag": {"Key": "gone", "Value": "1"}},
            "Status": "Enabled",
            "Expiration": {"Days": 2},
        },
    ]
    fast_s3.put_bucket_lifecycle_configuration(
        Bucket=fast_bucket, LifecycleConfiguration={"Rules": rules}
    )
    wait_for(
        lambda: (
            not any(exists(fast_s3, fast_bucket, key) for key in ("tmp/a", "tmp/b", "tagged/yes"))
        ),
        EXPIRY_TIMEOUT_SECONDS,
    )
    listed = fast_s3.list_objects_v2(Bucket=fast_bucket)
    assert [item["Key"] for item in listed["Contents"]] == ["keep/a", "tagged/no"]
    wait_for(lambda: used_bytes(fast_cluster) == before, EXPIRY_TIMEOUT_SECONDS)
    assert fast_s3.get_object(Bucket=fast_bucket, Key="keep/a")["Body"].read() == b"k" * 5000


def test_date_rule_applies_once_passed(fast_s3: BaseClient, fast_bucket: str) -> None:
    fast_s3.put_object(Bucket=fast_bucket, Key="old/a", Body=b"a")
    fast_s3.put_object(Bucket=fast_bucket, Key="new/a", Body=b"a")
    rules = [
        {
            "ID": "past",
            "Filter": {"Prefix": "old/"},
            "Status": "Enabled",
            "Expiration": {"Date": datetime(2020, 1, 1, tzinfo=UTC)},
        },
        {
            "ID": "future",
            "Filter": {"Prefix": "new/"},
            "Status": "Enabled",
            "Expiration": {"Date": datetime(2999, 1, 1, tzinfo=UTC)},
        },
    ]
    fast_s3.put_bucket_lifecycle_configuration(
        Bucket=fast_bucket, LifecycleConfiguration={"Rules": rules}
    )
    wait_for(lambda: not exists(fast_s3, fast_bucket, "old/a"), EXPIRY_TIMEOUT_SECONDS)
    assert exists(fast_s3, fast_bucket, "new/a")


def test_disabled_rule_does_nothing(fast_s3: BaseClient, fast_bucket: str) -> None:
    fast_s3.put_object(Bucket=fast_bucket, Key="a", Body=b"a")
    rule = {**expire_days("", 1), "Status": "Disabled"}
    fast_s3.put_bucket_lifecycle_configuration(
        Bucket=fast_bucket, LifecycleConfiguration={"Rules": [rule]}
    )
    marker = expire_days("marker/", 1, "marker")
    fast_s3.put_object(Bucket=fast_bucket, Key="marker/x", Body=b"m")
    fast_s3.put_bucket_lifecycle_configuration(
        Bucket=fast_bucket, LifecycleConfiguration={"Rules": [rule, marker]}
    )
    # Once the enabled rule has acted, the disabled one had its chances too.
    wait_for(lambda: not exists(fast_s3, fast_bucket, "marker/x"), EXPIRY_TIMEOUT_SECONDS)
    assert exists(fast_s3, fast_bucket, "a")


def test_incomplete_upload_is_aborted_and_its_bytes_freed(
    fast_s3: BaseClient, fast_bucket: str, fast_cluster: Cluster
) -> None:
    kept = fast_s3.create_multipart_upload(Bucket=fast_bucket, Key="keep/big")["UploadId"]
    fast_s3.upload_part(
        Bucket=fast_bucket, Key="keep/big", UploadId=kept, PartNumber=1, Body=b"k" * 1000
    )
    before = settled_bytes(fast_cluster)
    upload_id = fast_s3.create_multipart_upload(Bucket=fast_bucket, Key="up/big")["UploadId"]
    for number in (1, 2):
        fast_s3.upload_part(
            Bucket=fast_bucket,
            Key="up/big",
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes([number]) * PART_BYTES,
        )
    assert used_bytes(fast_cluster) == before + 2 * stored_bytes(PART_BYTES)
    rule = {
        "ID": "abort",
        "Filter": {"Prefix": "up/"},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    fast_s3.put_bucket_lifecycle_configuration(
        Bucket=fast_bucket, LifecycleConfiguration={"Rules": [rule]}
    )

    def open_uploads() -> list[str]:
        listed = fast_s3.list_multipart_uploads(Bucket=fast_bucket)
        return [upload["Key"] for upload in listed.get("Uploads", [])]

    wait_for(lambda: open_uploads() == ["keep/big"], EXPIRY_TIMEOUT_SECONDS)
    assert fails(
        lambda: fast_s3.list_parts(Bucket=fast_bucket, Key="up/big", UploadId=upload_id)
    ) == ("NoSuchUpload", 404)
    wait_for(lambda: used_bytes(fast_cluster) == before, EXPIRY_TIMEOUT_SECONDS)
    fast_s3.abort_multipart_upload(Bucket=fast_bucket, Key="keep/big", UploadId=kept)


def test_versioned_bucket_expiry_noncurrent_versions_and_lone_markers(
    fast_s3: BaseClient, fast_bucket: str
) -> None:
    """In a versioned bucket Expiration writes a delete marker (the data stays as a noncurrent
    version); NoncurrentVersionExpiration removes noncurrent versions but the newest
    NewerNoncurrentVersions; ExpiredObjectDeleteMarker then removes the marker left alone."""
    s3, bucket = fast_s3, fast_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = [s3.put_object(Bucket=bucket, Key="keep/k", Body=f"{n}".encode()) for n in range(3)]
    for n in range(3):
        s3.put_object(Bucket=bucket, Key="gone/k", Body=f"{n}".encode())
    rules = [
        {
            "ID": "noncurrent",
            "Filter": {"Prefix": "keep/"},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1},
        },
        {
            "ID": "expire",
            "Filter": {"Prefix": "gone/"},
            "Status": "Enabled",
            "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "markers",
            "Filter": {"Prefix": "gone/"},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})

    def versions(prefix: str) -> list[tuple[str, bool]]:
        answer = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        found = [(v["VersionId"], False) for v in answer.get("Versions", [])]
        return found + [(m["VersionId"], True) for m in answer.get("DeleteMarkers", [])]

    # keep/k: the current version and the newest noncurrent one stay, the oldest goes.
    wanted = sorted((k["VersionId"], False) for k in kept[1:])
    wait_for(lambda: sorted(versions("keep/")) == wanted, timeout=30)
    assert s3.get_object(Bucket=bucket, Key="keep/k")["Body"].read() == b"2"
    # gone/k: expired (a marker over it), its versions removed, then the lone marker too.
    wait_for(lambda: versions("gone/") == [], timeout=45)
    assert sorted(versions("keep/")) == wanted
