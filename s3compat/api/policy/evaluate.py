"""Judging one request by a bucket policy, and whether a policy makes its bucket public.

`evaluate` answers Deny if a Deny statement applies, Allow if an Allow statement does, and
NoOpinion otherwise; combining that with ACLs and ownership is `auth/access.py`'s business.
A statement applies when its principal, action, resource and every condition match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from s3compat.api.policy.actions import KNOWN_ACTIONS
from s3compat.api.policy.conditions import Condition, wildcard_match
from s3compat.api.policy.document import Policy, Statement


class Decision(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    NO_OPINION = "NoOpinion"


@dataclass(frozen=True)
class PolicyRequest:
    """What a policy judges: who (an access key; None: anonymous) does what to which ARN, and
    the request's condition context (lower-cased key -> its values)."""

    principal: str | None
    action: str
    resource: str
    context: Mapping[str, Sequence[str]]


def _matches_action(statement: Statement, action: str) -> bool:
    lowered = action.lower()
    matched = any(wildcard_match(pattern, lowered) for pattern in statement.actions)
    return matched != statement.not_action


def _matches_resource(statement: Statement, request: PolicyRequest, variables: bool) -> bool:
    context = request.context if variables else None
    matched = any(
        wildcard_match(pattern, request.resource, context=context)
        for pattern in statement.resources
    )
    return matched != statement.not_resource


def applies(statement: Statement, request: PolicyRequest, variables: bool) -> bool:
    """Whether `statement` speaks about `request`."""
    if statement.principals.include(request.principal) == statement.not_principal:
        return False
    if not _matches_action(statement, request.action):
        return False
    if not _matches_resource(statement, request, variables):
        return False
    return all(condition.holds(request.context, variables) for condition in statement.conditions)


def evaluate(policy: Policy, request: PolicyRequest) -> Decision:
    """Deny beats Allow; neither is NoOpinion."""
    allowed = False
    for statement in policy.statements:
        if applies(statement, request, policy.variables):
            if statement.effect == "Deny":
                return Decision.DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.NO_OPINION


# --- is it public? ---------------------------------------------------------------------------

# "The meaning of public" (S3 Block Public Access): a statement is not public when it is
# restricted to fixed values of one of these keys (or to narrow aws:SourceIp ranges).
FIXED_VALUE_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:userid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:dataaccesspointarn",
        "s3:dataaccesspointaccount",
    }
)
FIXED_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")
# Actions that expose a bucket's data; a wildcard grant of only other actions is not public.
BAD_ACTION_PREFIXES = ("s3:get", "s3:list", "s3:delete", "s3:put")
BAD_ACTIONS = ("s3:abortmultipartupload", "s3:restoreobject")
# aws:SourceIp ranges broader than these prefixes are public (private ranges are not).
NARROWEST_PUBLIC_PREFIX = {4: 8, 6: 32}


def _fixed(value: str) -> bool:
    return not any(mark in value for mark in ("*", "?", "${"))


def _narrow(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    return network.is_private or network.prefixlen >= NARROWEST_PUBLIC_PREFIX[network.version]


def _restricting(condition: Condition) -> bool:
    """Whether a condition limits a statement to fixed parties in S3's sense."""
    if condition.if_exists or condition.set_operator == "ForAllValues":
        return False
    if condition.key == "aws:sourceip":
        return condition.operator == "IpAddress" and all(_narrow(v) for v in condition.values)
    if condition.key not in FIXED_VALUE_KEYS or condition.operator not in FIXED_OPERATORS:
        return False
    if condition.key == "aws:userid" and any(v.endswith(":*") for v in condition.values):
        return False
    return all(_fixed(value) for value in condition.values)


def _bad(action: str) -> bool:
    return action.startswith(BAD_ACTION_PREFIXES) or action in BAD_ACTIONS


def _grants_bad_action(statement: Statement) -> bool:
    for known in KNOWN_ACTIONS:
        matched = any(wildcard_match(pattern, known) for pattern in statement.actions)
        if matched != statement.not_action and _bad(known):
            return True
    return False


def is_public(policy: Policy) -> bool:
    """Whether the policy grants a wildcard principal access that no condition limits."""
    for statement in policy.statements:
        if statement.effect != "Allow" or not statement.principals.everyone:
            continue
        if any(_restricting(condition) for condition in statement.conditions):
            continue
        if _grants_bad_action(statement):
            return True
    return False
