"""The POST policy of browser forms (api/postpolicy.py) and the form's signature
(api/auth/postform.py): reading, judging fields, and signatures as boto3 makes them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from s3compat.api import errors
from s3compat.api.auth.postform import parse_form_signature, verify_form_signature
from s3compat.api.postpolicy import check_fields, check_length, parse_policy

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def encoded(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def policy_of(*conditions: Any, expiration: str = "2026-12-07T13:00:00.000Z") -> str:
    return encoded({"expiration": expiration, "conditions": list(conditions)})


def test_conditions_hold_and_name_every_field() -> None:
    policy = parse_policy(
        policy_of(
            {"bucket": "b"},
            ["starts-with", "$key", "user/"],
            ["eq", "$Content-Type", "text/plain"],
            ["content-length-range", 1, 10],
        ),
        NOW,
    )
    fields = {"key": "user/a", "content-type": "text/plain", "policy": "...", "x-ignore-me": "1"}
    check_fields(policy, fields, "b")
    assert policy.length_range == (1, 10)
    check_length(policy, 10)
    with pytest.raises(errors.EntityTooLarge):
        check_length(policy, 11)
    with pytest.raises(errors.EntityTooSmall):
        check_length(policy, 0)


@pytest.mark.parametrize(
    ("fields", "bucket", "why"),
    [
        ({"key": "other/a"}, "b", "Policy Condition failed"),
        ({"key": "user/a"}, "elsewhere", "Policy Condition failed"),
        ({"key": "user/a", "acl": "public-read"}, "b", "Extra input fields: acl"),
    ],
)
def test_fields_refused(fields: dict[str, str], bucket: str, why: str) -> None:
    policy = parse_policy(policy_of({"bucket": "b"}, ["starts-with", "$key", "user/"]), NOW)
    with pytest.raises(errors.AccessDenied, match=why):
        check_fields(policy, fields, bucket)


def test_bucket_must_be_named() -> None:
    policy = parse_policy(policy_of(["starts-with", "$key", ""]), NOW)
    with pytest.raises(errors.AccessDenied, match="Extra input fields: bucket"):
        check_fields(policy, {"key": "a"}, "b")


def test_starts_with_empty_matches_anything_and_names_are_case_blind() -> None:
    policy = parse_policy(
        policy_of({"BuCkEt": "b"}, ["StArTs-WiTh", "$KeY", ""], ["starts-with", "$tagging", ""]),
        NOW,
    )
    check_fields(policy, {"key": "anything"}, "b")


@pytest.mark.parametrize(
    "text",
    [
        "%%%",
        base64.b64encode(b"[1, 2]").decode(),
        encoded({"conditions": []}),
        encoded({"EXPIRATION": "2026-12-07T13:00:00Z", "conditions": []}),
        encoded({"expiration": "2026-12-07 13:00:00+00:00", "conditions": []}),
        encoded({"expiration": "2026-12-07T13:00:00Z"}),
        encoded({"expiration": "2026-12-07T13:00:00Z", "CONDITIONS": []}),
        policy_of({}),
        policy_of({"key": 5}),
        policy_of(["eq", "key", "a"]),
        policy_of(["in", "$key", "a"]),
        policy_of(["content-length-range", 0]),
        policy_of(["content-length-range", -1, 0]),
        policy_of(["content-length-range", 5, 1]),
        policy_of(["content-length-range", 0.5, 1]),
    ],
)
def test_unreadable(text: str) -> None:
    with pytest.raises(errors.InvalidPolicyDocument):
        parse_policy(text, NOW)


def test_expired() -> None:
    with pytest.raises(errors.AccessDenied, match="expired"):
        parse_policy(policy_of({"bucket": "b"}, expiration="2026-12-07T11:59:59Z"), NOW)


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_boto3_forms_verify(signature_version: str) -> None:
    client = boto3.session.Session(
        aws_access_key_id="AKEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
    ).client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        config=boto3.session.Config(signature_version=signature_version),
    )
    form = client.generate_presigned_post("bucket", "key")
    fields = {name.lower(): value for name, value in form["fields"].items()}
    signature = parse_form_signature(fields)
    assert signature is not None and signature.access_key == "AKEXAMPLE"
    verify_form_signature(signature, "secret")
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_form_signature(signature, "other secret")
    policy = parse_policy(signature.policy, datetime.now(UTC))
    check_fields(policy, fields, "bucket")


def test_partly_signed_forms_refused() -> None:
    assert parse_form_signature({"key": "a"}) is None
    for fields in (
        {"key": "a", "policy": "p"},
        {"key": "a", "awsaccesskeyid": "AK", "policy": "p"},
        {"key": "a", "awsaccesskeyid": "AK", "signature": "s"},
        {"key": "a", "x-amz-signature": "s", "policy": "p"},
    ):
        with pytest.raises(errors.InvalidArgument):
            parse_form_signature(fields)
