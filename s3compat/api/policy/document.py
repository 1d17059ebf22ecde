"""A bucket policy document: parsed and checked when it is put (MalformedPolicy for anything S3
refuses), and parsed again, cached, when a request is judged by it.

Principals name users of this store. Every user is its own account, and its canonical user ID,
its account ID and its access key are one string, so a user may be named as

- `{"AWS": "<access key>"}` (an account ID),
- `{"AWS": "arn:aws:iam::<access key>:root"}` (the account),
- `{"AWS": "arn:aws:iam::<access key>:user/<user name>"}` (the user, its name as `s3compat admin
  user add` gave it; both must be the same user's),
- `{"CanonicalUser": "<access key>"}`,

and everyone, anonymous requests included, as `"*"` or `{"AWS": "*"}`. A principal naming no
user of this store, and the Service and Federated kinds, are "Invalid principal in policy".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from s3compat.api import errors
from s3compat.api.policy.actions import KNOWN_ACTIONS, Scope
from s3compat.api.policy.conditions import Condition, parse_conditions, wildcard_match

VERSIONS = ("2012-10-17", "2008-10-17")
# Under 2008-10-17 `${...}` is literal text, not a policy variable.
VARIABLES_VERSION = "2012-10-17"
DEFAULT_VERSION = "2008-10-17"
MAX_POLICY_BYTES = 20 * 1024
S3_ARN_PREFIX = "arn:aws:s3:::"
EVERYONE = "*"

_POLICY_FIELDS = ("Version", "Id", "Statement")
_STATEMENT_FIELDS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_PRINCIPAL_ARN = re.compile(r"^arn:aws:iam::([^:/]+):(?:root|user/([^:]+))$")
_ACCOUNT_ID = re.compile(r"^[^:/*?\s]+$")

Effect = Literal["Allow", "Deny"]


@dataclass(frozen=True)
class PrincipalName:
    """A user a policy's principal names: its access key, and its name when an ARN gave one."""

    access_key: str
    user_name: str | None = None


@dataclass(frozen=True)
class Principals:
    """Who a statement's Principal (or NotPrincipal) names: everyone, or these access keys."""

    everyone: bool
    access_keys: frozenset[str] = frozenset()
    names: tuple[PrincipalName, ...] = ()

    def include(self, principal: str | None) -> bool:
        """Whether the requester (None: anonymous) is one of these."""
        return self.everyone or (principal is not None and principal in self.access_keys)


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: Effect
    principals: Principals
    not_principal: bool
    # Lower-cased action patterns (action names are case-insensitive).
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]

    @property
    def variables(self) -> bool:
        """Whether `${...}` in resources and conditions are policy variables."""
        return self.version == VARIABLES_VERSION

    def principal_names(self) -> list[PrincipalName]:
        """Every user the policy names, for the put to check that each one exists."""
        return [name for statement in self.statements for name in statement.principals.names]


def _missing(field: str) -> errors.MalformedPolicy:
    return errors.MalformedPolicy(f"Missing required field {field}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise errors.MalformedPolicy("This policy contains invalid Json")
    return dict(pairs)


def _strings(raw: object, error: errors.MalformedPolicy) -> tuple[str, ...]:
    """A field that is one string or a non-empty list of strings."""
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise error
    return tuple(items)


def _principals(raw: object) -> Principals:
    invalid = errors.MalformedPolicy("Invalid principal in policy")
    if raw == EVERYONE:
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise invalid
    everyone = False
    names: list[PrincipalName] = []
    for kind, value in raw.items():
        if kind not in ("AWS", "CanonicalUser"):
            raise invalid
        for item in _strings(value, invalid):
            if kind == "AWS" and item == EVERYONE:
                everyone = True
            elif kind == "CanonicalUser" or _ACCOUNT_ID.match(item):
                if not _ACCOUNT_ID.match(item):
                    raise invalid
                names.append(PrincipalName(item))
            elif match := _PRINCIPAL_ARN.match(item):
                names.append(PrincipalName(match.group(1), match.group(2)))
            else:
                raise invalid
    keys = frozenset(name.access_key for name in names)
    return Principals(everyone, keys, tuple(names))


def _actions(raw: object) -> tuple[str, ...]:
    invalid = errors.MalformedPolicy("Policy has invalid action")
    actions = tuple(action.lower() for action in _strings(raw, invalid))
    for action in actions:
        if action != "*" and not any(wildcard_match(action, known) for known in KNOWN_ACTIONS):
            raise invalid
    return actions


def _resources(raw: object, bucket: str | None) -> tuple[str, ...]:
    invalid = errors.MalformedPolicy("Policy has invalid resource")
    resources = _strings(raw, invalid)
    for resource in resources:
        if not resource.startswith(S3_ARN_PREFIX):
            raise invalid
        named = resource[len(S3_ARN_PREFIX) :].split("/", 1)[0]
        if bucket is not None and not (named and wildcard_match(named, bucket)):
            raise invalid
    return resources


def resource_scopes(resource: str) -> set[Scope]:
    """What a resource pattern can match: the bucket, objects in it, or both (a `*` in the
    bucket's part may span the `/`)."""
    rest = resource[len(S3_ARN_PREFIX) :]
    if "/" in rest:
        return {Scope.OBJECT}
    if "*" in rest:
        return {Scope.BUCKET, Scope.OBJECT}
    return {Scope.BUCKET}


def action_scopes(action: str) -> set[Scope]:
    """The resource kinds of the actions a (lower-cased) action pattern matches."""
    return {scope for known, scope in KNOWN_ACTIONS.items() if wildcard_match(action, known)}


def _check_actions_apply(statement: Statement) -> None:
    """S3 refuses a statement one of whose actions applies to none of its resources (such as
    s3:PutObject on the bucket's own ARN)."""
    if statement.not_action or statement.not_resource:
        return
    scopes = set().union(*(resource_scopes(resource) for resource in statement.resources))
    for action in statement.actions:
        if not action_scopes(action) & scopes:
            raise errors.MalformedPolicy("Action does not apply to any resource(s) in statement")


def _one_of(statement: dict[str, Any], field: str) -> tuple[object, bool]:
    """The value of `field` or of `Not<field>` (which one was given); exactly one must be."""
    given, negated = statement.get(field), statement.get(f"Not{field}")
    if given is not None and negated is not None:
        raise errors.MalformedPolicy(f"Statement cannot hold both {field} and Not{field}")
    if given is None and negated is None:
        raise _missing(field)
    return (given, False) if given is not None else (negated, True)


def _statement(raw: object, bucket: str | None) -> Statement:
    if not isinstance(raw, dict):
        raise errors.MalformedPolicy("Invalid policy syntax.")
    for field in raw:
        if field not in _STATEMENT_FIELDS:
            raise errors.MalformedPolicy(f"Unknown field {field}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise errors.MalformedPolicy("Invalid policy syntax.")
    effect = raw.get("Effect")
    if effect is None:
        raise _missing("Effect")
    if effect not in ("Allow", "Deny"):
        raise errors.MalformedPolicy(f"Invalid effect: {effect}")
    principal, not_principal = _one_of(raw, "Principal")
    if not_principal and effect == "Allow":
        raise errors.MalformedPolicy("NotPrincipal may only be used with Effect Deny")
    action, not_action = _one_of(raw, "Action")
    resource, not_resource = _one_of(raw, "Resource")
    condition = raw.get("Condition")
    statement = Statement(
        sid=sid,
        effect=effect,
        principals=_principals(principal),
        not_principal=not_principal,
        actions=_actions(action),
        not_action=not_action,
        resources=_resources(resource, bucket),
        not_resource=not_resource,
        conditions=() if condition is None else parse_conditions(condition),
    )
    _check_actions_apply(statement)
    return statement


def parse_policy(body: bytes | str, bucket: str | None) -> Policy:
    """Parse and check a policy for `bucket` (None: a stored policy, checked when it was put);
    MalformedPolicy for anything S3 refuses."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as error:
        raise errors.MalformedPolicy(
            "Policies must be valid JSON and the first byte must be '{'"
        ) from error
    if not text.lstrip().startswith("{"):
        raise errors.MalformedPolicy("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:
        raise errors.MalformedPolicy("This policy contains invalid Json") from error
    if len(json.dumps(document, separators=(",", ":")).encode()) > MAX_POLICY_BYTES:
        raise errors.MalformedPolicy(
            f"Normalized policy document exceeds the maximum allowed size of "
            f"{MAX_POLICY_BYTES} bytes"
        )
    for field in document:
        if field not in _POLICY_FIELDS:
            raise errors.MalformedPolicy(f"Unknown field {field}")
    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise errors.MalformedPolicy("The policy must contain a valid version string")
    raw_statements = document.get("Statement")
    if raw_statements is None:
        raise _missing("Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise errors.MalformedPolicy("Could not parse the policy: Statement is empty!")
    statements = tuple(_statement(raw, bucket) for raw in raw_statements)
    sids = [statement.sid for statement in statements if statement.sid is not None]
    if len(set(sids)) != len(sids):
        raise errors.MalformedPolicy("Statement IDs (SID) in a single policy must be unique")
    return Policy(version, statements)


@lru_cache(maxsize=256)
def stored_policy(text: str) -> Policy:
    """A stored policy, parsed once per distinct text (it was checked when it was put)."""
    return parse_policy(text, None)
