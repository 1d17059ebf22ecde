"""The POST policy of a browser upload form: reading it, and judging a form by it.

A signed form is only as narrow as its policy: the signature covers the policy (a base64 JSON
document with an `expiration` and a list of `conditions`), and the policy must name every field
the form sends. Invariant: a form whose fields are not each matched by a condition, or whose
policy is expired or unreadable, stores nothing. What the reference leaves to us, chosen here:

- Field names are matched without regard to case (`$Content-Type` covers `content-type`);
  values are compared exactly, with no unescaping (`\\$foo` matches the text `\\$foo`).
- `bucket` is always a field (the bucket the form is posted to), so a policy must name it.
- Exempt from being named: `policy`, the signature fields (`signature`, `AWSAccessKeyId`,
  `x-amz-signature`), `file`, `x-ignore-*`, and the `x-amz-checksum-*` / `Content-MD5`
  digests (a digest only narrows what is stored: the body must match it).
- `["starts-with", "$field", ""]` matches any value, an absent field included.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from s3compat.api import errors

EXEMPT_FIELDS = frozenset(
    {"policy", "signature", "awsaccesskeyid", "x-amz-signature", "file", "content-md5"}
)
EXEMPT_PREFIXES = ("x-ignore-", "x-amz-checksum-")
_EXPIRATION_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Condition:
    """`eq` or `starts-with` on one field (its lower-case name, without the `$`)."""

    operator: Literal["eq", "starts-with"]
    name: str
    value: str

    def holds(self, fields: Mapping[str, str]) -> bool:
        actual = fields.get(self.name)
        if self.operator == "eq":
            return actual == self.value
        return self.value == "" or (actual is not None and actual.startswith(self.value))

    def shown(self) -> str:
        return json.dumps([self.operator, f"${self.name}", self.value])


@dataclass(frozen=True)
class PostPolicy:
    expiration: datetime
    conditions: tuple[Condition, ...] = ()
    # content-length-range: the least and most bytes the file may have.
    length_range: tuple[int, int] | None = None
    named: frozenset[str] = field(default=frozenset())

    @property
    def max_length(self) -> int | None:
        return None if self.length_range is None else self.length_range[1]


def parse_policy(encoded: str, now: datetime) -> PostPolicy:
    """The policy of a form's `policy` field; InvalidPolicyDocument for one that cannot be
    read, AccessDenied for one that has expired."""
    try:
        document = json.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise errors.InvalidPolicyDocument() from None
    if not isinstance(document, dict):
        raise errors.InvalidPolicyDocument()
    expiration = _expiration(document.get("expiration"))
    listed = document.get("conditions")
    if not isinstance(listed, list):
        raise errors.InvalidPolicyDocument("Invalid Policy: Policy missing conditions.")
    conditions: list[Condition] = []
    length_range = None
    for item in listed:
        if isinstance(item, list) and item and str(item[0]).lower() == "content-length-range":
            length_range = _length_range(item)
        else:
            conditions.extend(_conditions(item))
    if expiration <= now:
        raise errors.AccessDenied("Invalid according to Policy: Policy expired.")
    return PostPolicy(
        expiration,
        tuple(conditions),
        length_range,
        frozenset(condition.name for condition in conditions),
    )


def _expiration(value: object) -> datetime:
    if not isinstance(value, str):
        raise errors.InvalidPolicyDocument("Invalid Policy: Policy missing expiration.")
    for layout in _EXPIRATION_FORMATS:
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise errors.InvalidPolicyDocument(f"Invalid Policy: Invalid 'expiration' value: '{value}'")


def _conditions(item: object) -> list[Condition]:
    """`{"field": "value"}` (one or more exact matches) or `[operator, "$field", value]`."""
    if isinstance(item, dict):
        if not item or not all(isinstance(v, str) for v in item.values()):
            raise _bad_condition(item)
        return [Condition("eq", name.lower(), value) for name, value in item.items()]
    if not isinstance(item, list) or len(item) != 3 or not all(isinstance(v, str) for v in item):
        raise _bad_condition(item)
    operator, name, value = item[0].lower(), item[1], item[2]
    if operator not in ("eq", "starts-with") or not name.startswith("$") or len(name) < 2:
        raise _bad_condition(item)
    return [Condition("eq" if operator == "eq" else "starts-with", name[1:].lower(), value)]


def _length_range(item: list[object]) -> tuple[int, int]:
    if len(item) != 3:
        raise _bad_condition(item)
    bounds = []
    for bound in item[1:]:
        if isinstance(bound, str) and bound.isdigit():
            bound = int(bound)
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise _bad_condition(item)
        bounds.append(bound)
    if bounds[0] > bounds[1]:
        raise _bad_condition(item)
    return bounds[0], bounds[1]


def _bad_condition(item: object) -> errors.InvalidPolicyDocument:
    return errors.InvalidPolicyDocument(
        f"Invalid Policy: Invalid Simple-Condition: {json.dumps(item)[:200]}"
    )


def check_fields(policy: PostPolicy, fields: Mapping[str, str], bucket: str) -> None:
    """AccessDenied unless every condition holds and every field is named by one. `fields`
    are the form's fields by lower-case name, `key` already with `${filename}` replaced."""
    values = {**fields, "bucket": bucket}
    for condition in policy.conditions:
        if not condition.holds(values):
            raise errors.AccessDenied(
                f"Invalid according to Policy: Policy Condition failed: {condition.shown()}"
            )
    extra = [
        name
        for name in values
        if name not in policy.named
        and name not in EXEMPT_FIELDS
        and not name.startswith(EXEMPT_PREFIXES)
    ]
    if extra:
        raise errors.AccessDenied(
            f"Invalid according to Policy: Extra input fields: {', '.join(sorted(extra))}"
        )


def check_length(policy: PostPolicy | None, size: int) -> None:
    """EntityTooSmall / EntityTooLarge for a file outside the policy's content-length-range."""
    if policy is None or policy.length_range is None:
        return
    least, most = policy.length_range
    if size < least:
        raise errors.EntityTooSmall(ProposedSize=str(size), MinSizeAllowed=str(least))
    if size > most:
        raise errors.EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(most))
