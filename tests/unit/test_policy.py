"""Bucket policies, pure: parsing and its MalformedPolicy messages, wildcard matching, the
condition operators, evaluation (Deny beats Allow), IsPublic, and the operation -> action
table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.api.policy.actions import (
    OPERATION_ACTIONS,
    UNJUDGED_OPERATIONS,
    Scope,
    operation_action,
)
from s3compat.api.policy.conditions import parse_conditions, wildcard_match
from s3compat.api.policy.context import RequestFacts, request_context
from s3compat.api.policy.document import Policy, parse_policy
from s3compat.api.policy.evaluate import Decision, PolicyRequest, evaluate, is_public

BUCKET = "photos"
ALICE = "AKIAALICE"
BOB = "AKIABOB"


def statement(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def policy(*statements: dict[str, Any], version: str = "2012-10-17") -> Policy:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), BUCKET)


def request(
    action: str = "s3:GetObject",
    key: str | None = "a.txt",
    principal: str | None = None,
    **context: str,
) -> PolicyRequest:
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{key}" if key is not None else "")
    # aws_SourceIp=... names aws:sourceip, s3_max_keys=... s3:max-keys.
    values = {
        name.lower().replace("_", ":", 1).replace("_", "-"): (value,)
        for name, value in context.items()
    }
    return PolicyRequest(principal, action, resource, values)


def one(**fields: Any) -> dict[str, Any]:
    """A policy of one statement: the default one changed by `fields`."""
    return {"Statement": [statement(**fields)]}


def malformed(document: object) -> str:
    body = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(errors.MalformedPolicy) as caught:
        parse_policy(body, BUCKET)
    assert caught.value.status == 400 and caught.value.code == "MalformedPolicy"
    return caught.value.message


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "Policies must be valid JSON and the first byte must be '{'"),
        ("[1]", "Policies must be valid JSON and the first byte must be '{'"),
        ("{not json", "This policy contains invalid Json"),
        ('{"Statement": [], "Statement": []}', "This policy contains invalid Json"),
        ({}, "Missing required field Statement"),
        ({"Statement": []}, "Could not parse the policy: Statement is empty!"),
        ({"Version": "2020-01-01", **one()}, "The policy must contain a valid version string"),
        (one(Effect="Alow"), "Invalid effect: Alow"),
        (one(Effect=None), "Missing required field Effect"),
        (one(Principal=None), "Missing required field Principal"),
        (one(Action=None), "Missing required field Action"),
        (one(Resource=None), "Missing required field Resource"),
        (one(Action="s3:Fly"), "Policy has invalid action"),
        (one(Action="ec2:*"), "Policy has invalid action"),
        (one(Resource="arn:aws:s3:::other/*"), "Policy has invalid resource"),
        (one(Resource="*"), "Policy has invalid resource"),
        (one(Principal={"Service": "x.amazonaws.com"}), "Invalid principal in policy"),
        (one(Principal={"AWS": "arn:aws:iam::1:role/x"}), "Invalid principal in policy"),
        (
            one(Condition={"StringEqualz": {"aws:username": "a"}}),
            "Invalid Condition type : StringEqualz",
        ),
        (
            one(Condition={"stringequals": {"aws:username": "a"}}),
            "Invalid Condition type : stringequals",
        ),
        (
            one(Condition={"StringEquals": {"ec2:Region": "a"}}),
            "Policy has an invalid condition key",
        ),
        (
            one(Condition={"IpAddress": {"aws:SourceIp": "300.1.1.1"}}),
            "Invalid IP address in Conditions",
        ),
        (
            one(Action="s3:PutObject", Resource=f"arn:aws:s3:::{BUCKET}"),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            {"Statement": [statement(Sid="a"), statement(Sid="a")]},
            "Statement IDs (SID) in a single policy must be unique",
        ),
    ],
)
def test_malformed_policies_are_refused_with_s3s_message(document: object, message: str) -> None:
    assert malformed(document) == message


def test_both_action_and_not_action_is_refused() -> None:
    malformed(one(NotAction="s3:PutObject"))


def test_not_principal_needs_deny() -> None:
    malformed(one(Principal=None, NotPrincipal={"AWS": ALICE}))
    parse_policy(
        json.dumps(one(Effect="Deny", Principal=None, NotPrincipal="*")),
        BUCKET,
    )


def test_a_policy_over_20_kib_is_refused() -> None:
    many = [
        statement(Sid=f"s{n}", Resource=f"arn:aws:s3:::{BUCKET}/{'k' * 60}{n}") for n in range(300)
    ]
    assert "maximum allowed size of 20480 bytes" in malformed({"Statement": many})


def test_principal_forms_name_the_access_key() -> None:
    parsed = policy(
        statement(
            Principal={
                "AWS": [ALICE, f"arn:aws:iam::{BOB}:root", "arn:aws:iam::AKIAC:user/carol"],
                "CanonicalUser": "AKIAD",
            }
        )
    )
    principals = parsed.statements[0].principals
    assert principals.access_keys == {ALICE, BOB, "AKIAC", "AKIAD"}
    assert not principals.everyone
    assert [(n.access_key, n.user_name) for n in parsed.principal_names()][2] == ("AKIAC", "carol")
    assert policy(statement(Principal={"AWS": "*"})).statements[0].principals.everyone


def test_a_single_statement_object_and_default_version_are_accepted() -> None:
    parsed = parse_policy(json.dumps({"Statement": statement()}), BUCKET)
    assert parsed.version == "2008-10-17" and len(parsed.statements) == 1


def test_a_bucket_wildcard_resource_that_covers_the_bucket_is_accepted() -> None:
    policy(statement(Action="s3:*", Resource=["arn:aws:s3:::*", "arn:aws:s3:::pho?os/*"]))


# --- matching and evaluation ---------------------------------------------------------------


@given(st.text(alphabet="ab/*?.", max_size=12))
def test_a_pattern_without_wildcards_matches_only_itself(text: str) -> None:
    literal = text.replace("*", "").replace("?", "")
    assert wildcard_match(literal, literal)
    assert not wildcard_match(literal, literal + "x")


def test_wildcards_span_slashes_and_question_marks_one_character() -> None:
    assert wildcard_match("photos/*/test/*", "photos/1///test///object.jpg")
    assert not wildcard_match("photos/*/test/*", "photos/1-test/object.jpg")
    assert wildcard_match("s3:get*", "s3:getobjecttagging")
    assert wildcard_match("a?c", "abc") and not wildcard_match("a?c", "ac")


def test_deny_beats_allow_and_nothing_is_no_opinion() -> None:
    both = policy(statement(), statement(Effect="Deny", Resource=f"arn:aws:s3:::{BUCKET}/secret/*"))
    assert evaluate(both, request(key="a.txt")) is Decision.ALLOW
    assert evaluate(both, request(key="secret/x")) is Decision.DENY
    assert evaluate(both, request(action="s3:PutObject")) is Decision.NO_OPINION


def test_principals_and_anonymous() -> None:
    for_alice = policy(statement(Principal={"AWS": ALICE}))
    assert evaluate(for_alice, request(principal=ALICE)) is Decision.ALLOW
    assert evaluate(for_alice, request(principal=BOB)) is Decision.NO_OPINION
    assert evaluate(for_alice, request(principal=None)) is Decision.NO_OPINION
    everyone = policy(statement(Principal={"AWS": "*"}))
    assert evaluate(everyone, request(principal=None)) is Decision.ALLOW
    all_but_alice = policy(
        statement(Effect="Deny", Principal=None, NotPrincipal={"AWS": ALICE}, Action="s3:*")
    )
    assert evaluate(all_but_alice, request(principal=ALICE)) is Decision.NO_OPINION
    assert evaluate(all_but_alice, request(principal=BOB)) is Decision.DENY


def test_actions_are_case_insensitive_with_wildcards_and_not_action() -> None:
    assert evaluate(policy(statement(Action="S3:get*")), request()) is Decision.ALLOW
    assert evaluate(policy(statement(Action="s3:*")), request("s3:DeleteObject")) is Decision.ALLOW
    not_delete = policy(statement(Action=None, NotAction="s3:DeleteObject"))
    assert evaluate(not_delete, request("s3:PutObject")) is Decision.ALLOW
    assert evaluate(not_delete, request("s3:DeleteObject")) is Decision.NO_OPINION


def test_resources_are_case_sensitive_and_not_resource_inverts() -> None:
    prefixed = policy(statement(Resource=f"arn:aws:s3:::{BUCKET}/public/*"))
    assert evaluate(prefixed, request(key="public/a")) is Decision.ALLOW
    assert evaluate(prefixed, request(key="Public/a")) is Decision.NO_OPINION
    outside = policy(statement(Resource=None, NotResource=f"arn:aws:s3:::{BUCKET}/private/*"))
    assert evaluate(outside, request(key="public/a")) is Decision.ALLOW
    assert evaluate(outside, request(key="private/a")) is Decision.NO_OPINION


def test_policy_variables_in_resources_need_version_2012() -> None:
    home = {"Resource": f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*"}
    with_variables = policy(statement(**home))
    assert (
        evaluate(with_variables, request(key="home/alice/x", aws_username="alice"))
        is Decision.ALLOW
    )
    assert (
        evaluate(with_variables, request(key="home/bob/x", aws_username="alice"))
        is Decision.NO_OPINION
    )
    assert evaluate(with_variables, request(key="home/alice/x")) is Decision.NO_OPINION
    literal = policy(statement(**home), version="2008-10-17")
    assert (
        evaluate(literal, request(key="home/${aws:username}/x", aws_username="a")) is Decision.ALLOW
    )


# --- conditions ----------------------------------------------------------------------------


def holds(block: dict[str, Any], **context: str) -> bool:
    everything = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    parsed = policy(statement(Action="s3:*", Resource=everything, Condition=block))
    return evaluate(parsed, request(**context)) is Decision.ALLOW


def test_source_ip_cidrs() -> None:
    loopback = {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}
    assert holds(loopback, aws_SourceIp="127.0.0.1")
    assert not holds(loopback, aws_SourceIp="10.1.2.3")
    assert not holds(loopback)
    assert holds({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}, aws_SourceIp="127.0.0.1")
    assert holds({"IpAddress": {"aws:SourceIp": "::1"}}, aws_SourceIp="::1")
    assert not holds({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, aws_SourceIp="::1")


def test_bool_strings_and_missing_keys() -> None:
    secure = {"Bool": {"aws:SecureTransport": "false"}}
    assert holds(secure, aws_SecureTransport="false")
    assert not holds(secure, aws_SecureTransport="true")
    assert holds({"Bool": {"aws:SecureTransport": False}}, aws_SecureTransport="false")
    assert holds({"StringNotEquals": {"s3:x-amz-acl": "public-read"}})  # missing: negated holds
    assert not holds({"StringEquals": {"s3:x-amz-acl": "private"}})  # missing: no match
    assert holds({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}})
    assert holds({"Null": {"s3:x-amz-acl": "true"}})
    assert not holds({"Null": {"s3:x-amz-acl": "false"}})
    assert holds({"StringLike": {"s3:prefix": ["home/", "home/*"]}}, s3_prefix="home/a")
    assert not holds({"StringNotLike": {"s3:prefix": ["home/*"]}}, s3_prefix="home/a")
    assert holds({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, aws_username="alice")
    assert holds({"StringEquals": {"AWS:UserName": "alice"}}, aws_username="alice")


def test_numbers_and_dates() -> None:
    assert holds({"NumericLessThanEquals": {"s3:max-keys": "10"}}, s3_max_keys="10")
    assert not holds({"NumericLessThan": {"s3:max-keys": 10}}, s3_max_keys="10")
    assert not holds({"NumericLessThan": {"s3:max-keys": 10}}, s3_max_keys="many")
    now = "2026-12-07T10:00:00Z"
    assert holds({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, aws_CurrentTime=now)
    assert not holds({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01"}}, aws_CurrentTime=now)
    assert holds({"DateGreaterThan": {"aws:EpochTime": 0}}, aws_EpochTime="1765101600")


def test_all_operators_keys_and_values() -> None:
    both = {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}}
    assert holds(both, aws_username="alice", aws_SecureTransport="true")
    assert not holds(both, aws_username="alice", aws_SecureTransport="false")
    assert holds({"StringEquals": {"aws:username": ["bob", "alice"]}}, aws_username="alice")
    assert not holds({"StringNotEquals": {"aws:username": ["bob", "alice"]}}, aws_username="alice")


def test_set_operators() -> None:
    (any_of,) = parse_conditions({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    (all_of,) = parse_conditions({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    assert any_of.holds({"aws:tagkeys": ("a", "z")}) and not any_of.holds({})
    assert not all_of.holds({"aws:tagkeys": ("a", "z")}) and all_of.holds({"aws:tagkeys": ("a",)})
    assert all_of.holds({})


def test_arn_conditions() -> None:
    (like,) = parse_conditions({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::photos*"}})
    assert like.holds({"aws:sourcearn": ("arn:aws:s3:::photos-2",)})
    assert not like.holds({"aws:sourcearn": ("arn:aws:sqs:::photos",)})


# --- public or not -------------------------------------------------------------------------


def test_is_public() -> None:
    assert is_public(policy(statement()))
    assert is_public(policy(statement(Principal={"AWS": "*"}, Action="s3:*")))
    assert not is_public(policy(statement(Principal={"AWS": ALICE})))
    assert not is_public(policy(statement(Effect="Deny")))
    narrow = {"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}}
    assert not is_public(policy(statement(Condition=narrow)))
    assert is_public(policy(statement(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})))
    assert is_public(policy(statement(Condition={"Bool": {"aws:SecureTransport": "true"}})))
    assert not is_public(policy(statement(Condition={"StringEquals": {"aws:SourceAccount": "1"}})))
    assert is_public(policy(statement(Condition={"StringLike": {"aws:SourceAccount": "*"}})))


# --- the action table and the context ------------------------------------------------------


def test_every_operation_has_an_action_or_is_unjudged() -> None:
    assert set(OPERATION_ACTIONS) | UNJUDGED_OPERATIONS == set(Op)
    assert not set(OPERATION_ACTIONS) & UNJUDGED_OPERATIONS


@pytest.mark.parametrize(
    ("operation", "versioned", "expected"),
    [
        (Op.ListObjectsV2, False, ("s3:ListBucket", Scope.BUCKET)),
        (Op.ListObjectVersions, False, ("s3:ListBucketVersions", Scope.BUCKET)),
        (Op.ListMultipartUploads, False, ("s3:ListBucketMultipartUploads", Scope.BUCKET)),
        (Op.CompleteMultipartUpload, False, ("s3:PutObject", Scope.OBJECT)),
        (Op.DeleteBucketTagging, False, ("s3:PutBucketTagging", Scope.BUCKET)),
        (Op.HeadObject, True, ("s3:GetObjectVersion", Scope.OBJECT)),
        (Op.DeleteObject, True, ("s3:DeleteObjectVersion", Scope.OBJECT)),
        (Op.CreateBucket, False, None),
    ],
)
def test_operation_actions(operation: Op, versioned: bool, expected: object) -> None:
    assert operation_action(operation, versioned=versioned) == expected


def test_request_context() -> None:
    facts = RequestFacts(
        principal=None,
        principal_name=None,
        source_ip="127.0.0.1",
        secure=False,
        headers={"x-amz-acl": "public-read", "x-amz-copy-source": "/src/a%20b?versionId=null"},
        query={"prefix": "home/", "max-keys": "5"},
        now=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    )
    listing = request_context(facts, "s3:ListBucket")
    assert listing["aws:userid"] == ("anonymous",) and "aws:username" not in listing
    assert listing["s3:prefix"] == ("home/",) and listing["s3:max-keys"] == ("5",)
    assert listing["aws:securetransport"] == ("false",)
    assert listing["aws:currenttime"] == ("2026-12-07T10:00:00Z",)
    reading = request_context(facts, "s3:GetObject")
    assert "s3:prefix" not in reading
    assert reading["s3:x-amz-acl"] == ("public-read",)
    assert reading["s3:x-amz-copy-source"] == ("src/a b",)
