"""A statement's `Condition` block: parsing it (operators, keys, values) and deciding whether it
holds for a request's context.

The rules are IAM's ("IAM JSON policy elements: Condition operators"):

- Several operators, and several keys under one operator, must all hold; several values for
  one key are alternatives (for a negated operator, StringNotEquals and the like, none of them
  may match).
- A key missing from the request's context does not match: the condition is false, except
  for a negated operator (true), `...IfExists` (true), `ForAllValues:` (true) and `Null` (which
  asks exactly that).
- `ForAnyValue:` / `ForAllValues:` compare each of a multi-valued key's values.
- Context key names are case-insensitive; operator names are not (a mis-cased one is refused
  like an unknown one).

Policy variables (`${aws:username}`, `${*}`, ...) are expanded in string conditions and in
resources when the policy's Version is 2012-10-17; a variable whose key the request does not
have matches nothing.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from s3compat.api import errors

Context = Mapping[str, Sequence[str]]

SET_OPERATORS = ("ForAnyValue", "ForAllValues")
IF_EXISTS = "IfExists"
# The condition keys of S3 a policy may name (besides every `aws:` global key), lower-cased.
S3_KEYS = frozenset(
    key.lower()
    for key in (
        "s3:prefix s3:delimiter s3:max-keys s3:x-amz-acl s3:x-amz-copy-source "
        "s3:x-amz-metadata-directive s3:x-amz-grant-full-control s3:x-amz-grant-read "
        "s3:x-amz-grant-read-acp s3:x-amz-grant-write s3:x-amz-grant-write-acp "
        "s3:x-amz-storage-class s3:x-amz-server-side-encryption "
        "s3:x-amz-server-side-encryption-aws-kms-key-id "
        "s3:x-amz-server-side-encryption-customer-algorithm s3:x-amz-content-sha256 "
        "s3:versionid s3:signatureversion s3:authType s3:signatureAge s3:TlsVersion "
        "s3:RequestObjectTagKeys s3:locationconstraint s3:ResourceAccount "
        "s3:object-lock-mode s3:object-lock-retain-until-date "
        "s3:object-lock-remaining-retention-days s3:object-lock-legal-hold "
        "s3:if-match s3:if-none-match s3:ObjectCreationOperation s3:x-amz-object-ownership "
        "s3:DataAccessPointArn s3:DataAccessPointAccount s3:AccessPointNetworkOrigin"
    ).split()
)
S3_KEY_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/")

_VARIABLE = re.compile(r"\$\{([^}]*)\}|\*|\?|[^$*?]+|\$")


# --- values ---------------------------------------------------------------------------------


def parse_date(text: str) -> float | None:
    """A W3C ISO 8601 date or epoch seconds, as epoch seconds; None if it is neither."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # A date or time without a zone ("2027-01-01") is read as UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _in_network(value: str, cidr: str) -> bool:
    network = _network(cidr)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return network is not None and address.version == network.version and address in network


def _compare(
    test: Callable[[float, float], bool], parse: Callable[[str], float | None]
) -> Callable[[str, str], bool]:
    def match(value: str, wanted: str) -> bool:
        left, right = parse(value), parse(wanted)
        return left is not None and right is not None and test(left, right)

    return match


@lru_cache(maxsize=1024)
def _compiled(regex: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def pattern_regex(pattern: str, context: Context | None) -> str | None:
    """The regular expression of an IAM wildcard pattern (`*` any run, `?` one character);
    with a `context`, `${key}` variables are replaced by the key's value (None: a variable has
    no value, so the pattern matches nothing)."""
    parts = []
    for token in _VARIABLE.finditer(pattern):
        text = token.group(0)
        if token.group(1) is not None and context is not None:
            value = expand_variable(token.group(1), context)
            if value is None:
                return None
            parts.append(re.escape(value))
        elif text == "*":
            parts.append(".*")
        elif text == "?":
            parts.append(".")
        else:
            parts.append(re.escape(text))
    return "".join(parts)


def expand_variable(name: str, context: Context) -> str | None:
    """The value of `${name}`: `*`, `?` and `$` stand for themselves, a key for its value."""
    if name in ("*", "?", "$"):
        return name
    values = context.get(name.strip().lower())
    return values[0] if values else None


def expand(text: str, context: Context | None) -> str | None:
    """`text` with its `${key}` variables replaced (None if one has no value)."""
    if context is None or "${" not in text:
        return text
    parts = []
    for token in _VARIABLE.finditer(text):
        if token.group(1) is not None:
            value = expand_variable(token.group(1), context)
            if value is None:
                return None
            parts.append(value)
        else:
            parts.append(token.group(0))
    return "".join(parts)


def wildcard_match(
    pattern: str, value: str, *, ignore_case: bool = False, context: Context | None = None
) -> bool:
    """Whether `value` matches the IAM wildcard `pattern` (`*`, `?`, and variables if a
    `context` is given)."""
    if context is None or "${" not in pattern:
        return _static_pattern(pattern, ignore_case).fullmatch(value) is not None
    regex = pattern_regex(pattern, context)
    return regex is not None and _compiled(regex, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _static_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """A pattern without variables, compiled once."""
    regex = pattern_regex(pattern, None)
    assert regex is not None
    return _compiled(regex, ignore_case)


def _arn_match(value: str, pattern: str, context: Context | None) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (the last, the
    resource, may hold colons)."""
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    if len(values) != 6 or len(patterns) != 6:
        return False
    return all(wildcard_match(p, v, context=context) for p, v in zip(patterns, values, strict=True))


# --- operators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    """A base condition operator: how one request value matches one policy value, whether
    the operator is a negation (true when nothing matches), and how a policy value is
    checked when the policy is put (None: any value)."""

    match: Callable[[str, str, Context | None], bool]
    negated: bool = False
    valid: Callable[[str], bool] | None = None


def _plain(match: Callable[[str, str], bool]) -> Callable[[str, str, Context | None], bool]:
    return lambda value, wanted, context: match(value, wanted)


def _string_equals(value: str, wanted: str, context: Context | None) -> bool:
    expanded = expand(wanted, context)
    return expanded is not None and value == expanded


def _string_equals_ignore_case(value: str, wanted: str, context: Context | None) -> bool:
    expanded = expand(wanted, context)
    return expanded is not None and value.casefold() == expanded.casefold()


def _string_like(value: str, wanted: str, context: Context | None) -> bool:
    return wildcard_match(wanted, value, context=context)


def _bool_value(text: str) -> bool:
    return text.lower() in ("true", "false")


# The comparison operators of a family (Numeric..., Date...): name suffix -> (test, negated).
_ORDERINGS: dict[str, tuple[Callable[[float, float], bool], bool]] = {
    "Equals": (operator.eq, False),
    "NotEquals": (operator.eq, True),
    "LessThan": (operator.lt, False),
    "LessThanEquals": (operator.le, False),
    "GreaterThan": (operator.gt, False),
    "GreaterThanEquals": (operator.ge, False),
}


def _ordered(
    family: str, parse: Callable[[str], float | None], valid: Callable[[str], bool]
) -> dict[str, Operator]:
    return {
        family + suffix: Operator(_plain(_compare(test, parse)), negated=negated, valid=valid)
        for suffix, (test, negated) in _ORDERINGS.items()
    }


_is_number: Callable[[str], bool] = lambda text: _number(text) is not None  # noqa: E731
_is_date: Callable[[str], bool] = lambda text: parse_date(text) is not None  # noqa: E731
_is_network: Callable[[str], bool] = lambda text: _network(text) is not None  # noqa: E731

OPERATORS: dict[str, Operator] = {
    "StringEquals": Operator(_string_equals),
    "StringNotEquals": Operator(_string_equals, negated=True),
    "StringEqualsIgnoreCase": Operator(_string_equals_ignore_case),
    "StringNotEqualsIgnoreCase": Operator(_string_equals_ignore_case, negated=True),
    "StringLike": Operator(_string_like),
    "StringNotLike": Operator(_string_like, negated=True),
    **_ordered("Numeric", _number, _is_number),
    **_ordered("Date", parse_date, _is_date),
    "Bool": Operator(_plain(lambda a, b: a.lower() == b.lower()), valid=_bool_value),
    "BinaryEquals": Operator(_plain(lambda a, b: a == b)),
    "IpAddress": Operator(_plain(_in_network), valid=_is_network),
    "NotIpAddress": Operator(_plain(_in_network), negated=True, valid=_is_network),
    "ArnEquals": Operator(_arn_match),
    "ArnLike": Operator(_arn_match),
    "ArnNotEquals": Operator(_arn_match, negated=True),
    "ArnNotLike": Operator(_arn_match, negated=True),
}
NULL = "Null"


@dataclass(frozen=True)
class Condition:
    """One (operator, key) pair of a Condition block and the policy's values for it."""

    operator: str  # the base operator's name (no set prefix, no IfExists)
    key: str  # lower-cased
    values: tuple[str, ...]
    set_operator: str = ""  # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool = False

    def holds(self, context: Context, variables: bool = False) -> bool:
        """Whether this condition holds for a request with this `context`."""
        present = context.get(self.key)
        if self.operator == NULL:
            missing = not present
            return any((wanted.lower() == "true") == missing for wanted in self.values)
        operator = OPERATORS[self.operator]
        if not present:
            if self.set_operator == "ForAnyValue":
                return False
            return self.if_exists or self.set_operator == "ForAllValues" or operator.negated
        scope = context if variables else None

        def one(value: str) -> bool:
            matched = any(operator.match(value, wanted, scope) for wanted in self.values)
            return matched != operator.negated

        if self.set_operator == "ForAllValues":
            return all(one(value) for value in present)
        if self.set_operator == "ForAnyValue" or not operator.negated:
            return any(one(value) for value in present)
        return all(one(value) for value in present)


def _invalid_type(name: str) -> errors.MalformedPolicy:
    return errors.MalformedPolicy(f"Invalid Condition type : {name}")


def _split_operator(name: str) -> tuple[str, str, bool]:
    """(set operator, base operator, IfExists) of an operator's name as written."""
    set_operator, _, base = name.rpartition(":")
    if set_operator and set_operator not in SET_OPERATORS:
        raise _invalid_type(name)
    if_exists = base.endswith(IF_EXISTS) and base != IF_EXISTS
    if if_exists:
        base = base[: -len(IF_EXISTS)]
    if base == NULL and not if_exists and not set_operator:
        return "", base, False
    if base not in OPERATORS:
        raise _invalid_type(name)
    return set_operator, base, if_exists


def _condition_values(raw: object) -> tuple[str, ...]:
    """A condition's values: one or a list of strings, numbers or booleans."""
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, int | float | str):
            values.append(str(item))
        else:
            raise errors.MalformedPolicy("Invalid Condition value")
    if not values:
        raise errors.MalformedPolicy("Invalid Condition value")
    return tuple(values)


def _check_key(key: str) -> None:
    lowered = key.lower()
    if lowered.startswith("aws:") and len(lowered) > 4:
        return
    if lowered in S3_KEYS or any(
        lowered.startswith(prefix) and len(lowered) > len(prefix) for prefix in S3_KEY_PREFIXES
    ):
        return
    raise errors.MalformedPolicy("Policy has an invalid condition key")


def parse_conditions(block: object) -> tuple[Condition, ...]:
    """The conditions of a statement's Condition block; MalformedPolicy if it is not one."""
    if not isinstance(block, dict):
        raise errors.MalformedPolicy("Invalid Condition block")
    conditions = []
    for name, keys in block.items():
        set_operator, base, if_exists = _split_operator(name)
        if not isinstance(keys, dict) or not keys:
            raise errors.MalformedPolicy(f"Invalid Condition block for {name}")
        for key, raw in keys.items():
            _check_key(key)
            values = _condition_values(raw)
            valid = _bool_value if base == NULL else OPERATORS[base].valid
            if valid is not None and not all(valid(value) for value in values):
                if base in ("IpAddress", "NotIpAddress"):
                    raise errors.MalformedPolicy("Invalid IP address in Conditions")
                raise errors.MalformedPolicy(f"Invalid Condition value for {name}: {key}")
            conditions.append(Condition(base, key.lower(), values, set_operator, if_exists))
    return tuple(conditions)
