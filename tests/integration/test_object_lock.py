"""Object Lock with boto3: a bucket created with it, retention (GOVERNANCE with the bypass,
COMPLIANCE without), legal hold, default retention, and that no one (lifecycle included)
removes a locked version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import error_code, http_status, unique_bucket_name


def fails(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value), http_status(raised.value)


@pytest.fixture
def locked(s3: BaseClient) -> str:
    name = unique_bucket_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name  # left behind: its locked versions cannot be deleted (that is the point)


def soon(seconds: float = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_lock_bucket_is_versioned_for_good(s3: BaseClient, locked: str) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    assert fails(
        lambda: s3.put_bucket_versioning(
            Bucket=locked, VersioningConfiguration={"Status": "Suspended"}
        )
    ) == ("InvalidBucketState", 409)


def test_compliance_retention_keeps_a_version_from_everyone(s3: BaseClient, locked: str) -> None:
    until = soon()
    version = s3.put_object(
        Bucket=locked,
        Key="k",
        Body=b"kept",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    for bypass in (False, True):
        assert fails(
            lambda bypass=bypass: s3.delete_object(
                Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=bypass
            )
        ) == ("AccessDenied", 403)
    answer = s3.delete_objects(
        Bucket=locked, Delete={"Objects": [{"Key": "k", "VersionId": version}]}
    )
    assert answer["Errors"][0]["Code"] == "AccessDenied"
    # Shortening a COMPLIANCE retention is refused; extending it is allowed.
    assert fails(
        lambda: s3.put_object_retention(
            Bucket=locked,
            Key="k",
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon(60)},
            BypassGovernanceRetention=True,
        )
    ) == ("AccessDenied", 403)
    longer = soon(7200)
    s3.put_object_retention(
        Bucket=locked,
        Key="k",
        VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer},
    )
    got = s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    assert abs((got["RetainUntilDate"] - longer).total_seconds()) < 1
    # A delete without a version id writes a marker: allowed, and the version stays.
    assert s3.delete_object(Bucket=locked, Key="k")["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"kept"


def test_governance_yields_only_to_the_bypass(s3: BaseClient, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="g", Body=b"x")["VersionId"]
    s3.put_object_retention(
        Bucket=locked,
        Key="g",
        VersionId=version,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon()},
    )
    assert fails(lambda: s3.delete_object(Bucket=locked, Key="g", VersionId=version)) == (
        "AccessDenied",
        403,
    )
    s3.delete_object(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True)
    assert fails(lambda: s3.head_object(Bucket=locked, Key="g", VersionId=version))[1] == 404


def test_legal_hold_until_released(s3: BaseClient, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON")[
        "VersionId"
    ]
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"] == {"Status": "ON"}
    assert fails(
        lambda: s3.delete_object(
            Bucket=locked, Key="h", VersionId=version, BypassGovernanceRetention=True
        )
    ) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=locked, Key="h", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="h", VersionId=version)
    assert fails(lambda: s3.head_object(Bucket=locked, Key="h", VersionId=version))[1] == 404


def test_default_retention_applies_to_new_versions(s3: BaseClient, locked: str) -> None:
    s3.put_object_lock_configuration(
        Bucket=locked,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    version = s3.put_object(Bucket=locked, Key="d", Body=b"x")["VersionId"]
    retention = s3.get_object_retention(Bucket=locked, Key="d", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    left = retention["RetainUntilDate"] - datetime.now(UTC)
    assert timedelta(hours=23) < left <= timedelta(days=1)
    assert fails(lambda: s3.delete_object(Bucket=locked, Key="d", VersionId=version)) == (
        "AccessDenied",
        403,
    )
    # A copy gets the bucket's default, not its source's lock.
    copied = s3.copy_object(Bucket=locked, Key="c", CopySource={"Bucket": locked, "Key": "d"})
    head = s3.head_object(Bucket=locked, Key="c", VersionId=copied["VersionId"])
    assert head["ObjectLockMode"] == "GOVERNANCE"


def test_lock_requests_on_buckets_without_lock(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert fails(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == (
        "ObjectLockConfigurationNotFoundError",
        404,
    )
    assert fails(
        lambda: s3.put_object_retention(
            Bucket=bucket,
            Key="k",
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon()},
        )
    ) == ("InvalidRequest", 400)
    assert fails(
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"})
    ) == ("InvalidRequest", 400)
    assert fails(lambda: s3.get_object_retention(Bucket=bucket, Key="k")) == (
        "InvalidRequest",
        400,
    )
    # Object Lock needs versioning Enabled first.
    config = {"ObjectLockEnabled": "Enabled"}
    assert fails(
        lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
    ) == ("InvalidBucketState", 409)


def test_bad_lock_input(s3: BaseClient, locked: str) -> None:
    assert fails(
        lambda: s3.put_object(
            Bucket=locked,
            Key="k",
            Body=b"x",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) - timedelta(days=1),
        )
    ) == ("InvalidArgument", 400)
    assert fails(
        lambda: s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE")
    ) == ("InvalidArgument", 400)
    version = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    assert fails(lambda: s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)) == (
        "NoSuchObjectLockConfiguration",
        404,
    )
    assert fails(
        lambda: s3.put_object_lock_configuration(
            Bucket=locked,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}},
            },
        )
    ) == ("MalformedXML", 400)
    zero_days = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}},
    }
    assert fails(
        lambda: s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=zero_days)
    ) == ("InvalidRetentionPeriod", 400)
    assert s3.list_objects_v2(Bucket=locked)["KeyCount"] == 1  # the refused writes stored nothing
