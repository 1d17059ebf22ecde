"""Put/Get/DeleteBucketLifecycleConfiguration: the wire form of lifecycle rules.

What is accepted: up to 1000 rules, each with `ID` (made up when missing, as S3 does), `Status`,
either a legacy top-level `Prefix` or a `Filter` (empty, `Prefix`, `Tag`, `ObjectSizeGreaterThan`,
`ObjectSizeLessThan` or `And` of them), and the actions `Expiration` (`Days`, `Date` or
`ExpiredObjectDeleteMarker`), `AbortIncompleteMultipartUpload` (`DaysAfterInitiation`) and
`NoncurrentVersionExpiration`. `Transition` and `NoncurrentVersionTransition` are refused with
501 NotImplemented: there is one storage class, and storing a transition that never happens
would let a client believe its data moved. (`s3cmd expire` sends `Filter/Prefix` +
`Expiration`; the aws CLI sends whatever the user wrote.) Which actions the gateway carries
out, and when, is described in `s3compat/store/lifecycle.py`.

Shape errors (wrong or repeated elements, no rules, more than 1000) are MalformedXML; values
S3 refuses (days not positive, a date not at midnight UTC, duplicate IDs, a rule with no
action, AbortIncompleteMultipartUpload with a tag filter) are InvalidArgument.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from lxml import etree

from s3compat.api import errors
from s3compat.api.app import Handler
from s3compat.api.operations import Op
from s3compat.api.ops.documents import document_handlers
from s3compat.api.xml import Node, children, local, parse_xml, to_xml
from s3compat.store.buckets import BucketDocument
from s3compat.store.lifecycle_rules import (
    MAX_RULES,
    FilterForm,
    Rule,
    RuleFilter,
    rules_from_json,
    rules_to_json,
)

MAX_RULE_ID_CHARS = 255
_RULE_ELEMENTS = frozenset(
    {
        "ID",
        "Prefix",
        "Filter",
        "Status",
        "Expiration",
        "Transition",
        "NoncurrentVersionTransition",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
)
_UNSUPPORTED_ACTIONS = ("Transition", "NoncurrentVersionTransition")
_FILTER_FORMS: dict[str, FilterForm] = {
    "Prefix": "prefix",
    "Tag": "tag",
    "ObjectSizeGreaterThan": "greater",
    "ObjectSizeLessThan": "less",
    "And": "and",
}
_INTEGER = re.compile(r"^\s*-?[0-9]+\s*$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T|$)")


# --- parsing ------------------------------------------------------------------------------


def parse_lifecycle(body: bytes) -> list[Rule]:
    """A LifecycleConfiguration document as validated rules."""
    document = parse_xml(body)
    if local(document) != "LifecycleConfiguration":
        raise errors.MalformedXML()
    elements = children(document, "Rule")
    if not elements or len(elements) > MAX_RULES or len(elements) != _element_count(document):
        raise errors.MalformedXML()
    rules = [_parse_rule(element) for element in elements]
    ids = [rule.rule_id for rule in rules]
    if len(set(ids)) != len(ids):
        raise errors.InvalidArgument("Rule ID must be unique. Found same ID for more than one rule")
    return rules


def _element_count(element: etree._Element) -> int:
    return sum(1 for child in element if local(child))


def _single(element: etree._Element, name: str) -> etree._Element | None:
    """The only child called `name`, None if absent; MalformedXML if repeated."""
    found = children(element, name)
    if len(found) > 1:
        raise errors.MalformedXML()
    return found[0] if found else None


def _text(element: etree._Element, name: str) -> str | None:
    found = _single(element, name)
    return None if found is None else (found.text or "")


def _positive(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not _INTEGER.match(text):
        raise errors.MalformedXML()
    value = int(text)
    if value <= 0:
        raise errors.InvalidArgument(f"'{what}' must be a positive integer")
    return value


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    if not _INTEGER.match(text):
        raise errors.MalformedXML()
    value = int(text)
    if value < 0:
        raise errors.InvalidArgument("Object size filters must be non-negative integers")
    return value


def _parse_rule(element: etree._Element) -> Rule:
    names = [local(child) for child in element if local(child)]
    unknown = set(names) - _RULE_ELEMENTS
    if unknown:
        raise errors.MalformedXML()
    for action in _UNSUPPORTED_ACTIONS:
        for transition in children(element, action):
            _parse_date(_text(transition, "Date"))  # a malformed one is 400, as on S3
        if action in names:
            raise errors.Unimplemented(
                f"Lifecycle {action} actions are not implemented: there is one storage class."
            )
    rule_id = _text(element, "ID")
    if rule_id is None or not rule_id.strip():
        rule_id = secrets.token_urlsafe(36)
    if len(rule_id) > MAX_RULE_ID_CHARS:
        raise errors.InvalidArgument("ID length should not exceed allowed limit of 255")
    status = _text(element, "Status")
    if status not in ("Enabled", "Disabled"):
        raise errors.MalformedXML()
    rule_filter = _parse_filter(element)
    expiration = _single(element, "Expiration")
    days, date, marker = _parse_expiration(expiration) if expiration is not None else (None,) * 3
    abort = _single(element, "AbortIncompleteMultipartUpload")
    abort_days = None
    if abort is not None:
        abort_days = _positive(_text(abort, "DaysAfterInitiation"), "DaysAfterInitiation")
        if abort_days is None:
            raise errors.MalformedXML()
        if rule_filter.tags:
            raise errors.InvalidArgument(
                "AbortIncompleteMultipartUpload cannot be specified with Tags."
            )
    noncurrent = _single(element, "NoncurrentVersionExpiration")
    noncurrent_days = newer_versions = None
    if noncurrent is not None:
        noncurrent_days = _positive(_text(noncurrent, "NoncurrentDays"), "NoncurrentDays")
        newer_versions = _positive(
            _text(noncurrent, "NewerNoncurrentVersions"), "NewerNoncurrentVersions"
        )
        if noncurrent_days is None:
            raise errors.MalformedXML()
    if expiration is None and abort is None and noncurrent is None:
        raise errors.InvalidArgument("At least one action needs to be specified in a rule")
    return Rule(
        rule_id=rule_id,
        enabled=status == "Enabled",
        filter=rule_filter,
        expiration_days=days,
        expiration_date=date,
        expired_object_delete_marker=marker,
        noncurrent_days=noncurrent_days,
        newer_noncurrent_versions=newer_versions,
        abort_days=abort_days,
    )


def _parse_filter(rule: etree._Element) -> RuleFilter:
    legacy = _text(rule, "Prefix")
    element = _single(rule, "Filter")
    if (legacy is None) == (element is None):
        raise errors.MalformedXML()  # exactly one of Prefix and Filter
    if element is None:
        return RuleFilter(form="legacy", prefix=legacy or "")
    conditions = [child for child in element if local(child)]
    if not conditions:
        return RuleFilter(form="empty")
    if len(conditions) != 1 or local(conditions[0]) not in _FILTER_FORMS:
        raise errors.MalformedXML()
    condition = conditions[0]
    form = _FILTER_FORMS[local(condition)]
    if form == "and":
        known = {"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"}
        if any(local(child) not in known for child in condition if local(child)):
            raise errors.MalformedXML()
        parsed = _conditions(condition)
    else:
        parsed = _conditions(element)
    if (
        parsed.size_greater_than is not None
        and parsed.size_less_than is not None
        and parsed.size_greater_than >= parsed.size_less_than
    ):
        raise errors.InvalidArgument(
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan in the same filter"
        )
    return RuleFilter(
        form=form,
        prefix=parsed.prefix,
        tags=parsed.tags,
        size_greater_than=parsed.size_greater_than,
        size_less_than=parsed.size_less_than,
    )


def _conditions(element: etree._Element) -> RuleFilter:
    """The conditions written directly inside `element` (a Filter or an And)."""
    tags: list[tuple[str, str]] = []
    for tag in children(element, "Tag"):
        key, value = _text(tag, "Key"), _text(tag, "Value")
        if key is None or value is None:
            raise errors.MalformedXML()
        if any(key == existing for existing, _ in tags):
            raise errors.InvalidArgument("Duplicate Tag Keys are not allowed.")
        tags.append((key, value))
    return RuleFilter(
        prefix=_text(element, "Prefix") or "",
        tags=tuple(tags),
        size_greater_than=_size(_text(element, "ObjectSizeGreaterThan")),
        size_less_than=_size(_text(element, "ObjectSizeLessThan")),
    )


def _parse_expiration(
    element: etree._Element,
) -> tuple[int | None, datetime | None, bool | None]:
    days = _positive(_text(element, "Days"), "Days")
    date = _parse_date(_text(element, "Date"))
    marker_text = _text(element, "ExpiredObjectDeleteMarker")
    marker = None
    if marker_text is not None:
        if marker_text.strip() not in ("true", "false"):
            raise errors.MalformedXML()
        marker = marker_text.strip() == "true"
    if sum(value is not None for value in (days, date, marker)) != 1:
        raise errors.InvalidArgument(
            "Expiration takes exactly one of Days, Date and ExpiredObjectDeleteMarker"
        )
    return days, date, marker


def _parse_date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if not _ISO_DATE.match(text.strip()):  # fromisoformat would take 20220927 too
            raise ValueError(text)
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise errors.InvalidArgument("'Date' must be an ISO 8601 date") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        raise errors.InvalidArgument("'Date' must be at midnight GMT")
    return moment


# --- rendering ----------------------------------------------------------------------------


def lifecycle_xml(rules: list[Rule]) -> bytes:
    return to_xml("LifecycleConfiguration", [("Rule", _rule_xml(rule)) for rule in rules])


def _rule_xml(rule: Rule) -> list[tuple[str, Node]]:
    body: list[tuple[str, Node]] = [("ID", rule.rule_id)]
    if rule.filter.form == "legacy":
        body.append(("Prefix", rule.filter.prefix))
    else:
        body.append(("Filter", _filter_xml(rule.filter)))
    body.append(("Status", "Enabled" if rule.enabled else "Disabled"))
    if rule.expiration_days is not None:
        body.append(("Expiration", [("Days", rule.expiration_days)]))
    elif rule.expiration_date is not None:
        body.append(("Expiration", [("Date", rule.expiration_date)]))
    elif rule.expired_object_delete_marker is not None:
        body.append(
            ("Expiration", [("ExpiredObjectDeleteMarker", rule.expired_object_delete_marker)])
        )
    if rule.noncurrent_days is not None:
        body.append(
            (
                "NoncurrentVersionExpiration",
                [
                    ("NoncurrentDays", rule.noncurrent_days),
                    ("NewerNoncurrentVersions", rule.newer_noncurrent_versions),
                ],
            )
        )
    if rule.abort_days is not None:
        body.append(("AbortIncompleteMultipartUpload", [("DaysAfterInitiation", rule.abort_days)]))
    return body


def _filter_xml(rule_filter: RuleFilter) -> list[tuple[str, Node]]:
    conditions: list[tuple[str, Node]] = [
        ("Prefix", rule_filter.prefix or None),
        *[("Tag", [("Key", key), ("Value", value)]) for key, value in rule_filter.tags],
        ("ObjectSizeGreaterThan", rule_filter.size_greater_than),
        ("ObjectSizeLessThan", rule_filter.size_less_than),
    ]
    if rule_filter.form == "empty":
        return []
    if rule_filter.form == "and":
        return [("And", conditions)]
    if rule_filter.form == "prefix":
        return [("Prefix", rule_filter.prefix)]
    return conditions


# --- handlers -----------------------------------------------------------------------------


def _stored(body: bytes) -> str:
    return rules_to_json(parse_lifecycle(body))


def _rendered(stored: str) -> bytes:
    return lifecycle_xml(rules_from_json(stored))


HANDLERS: dict[Op, Handler] = document_handlers(
    BucketDocument.LIFECYCLE, _stored, _rendered, errors.NoSuchLifecycleConfiguration
)
