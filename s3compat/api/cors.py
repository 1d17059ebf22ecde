"""Bucket CORS rules, pure: the `CORSConfiguration` document in and out, its stored form, and
the matching S3 does for a preflight (OPTIONS) or a cross-origin request.

What is accepted (the S3 reference, checked against AWS's recorded answers): 1-100 `CORSRule`
elements, each with at least one `AllowedOrigin` and one `AllowedMethod` (GET, PUT, POST,
DELETE or HEAD, as spelt), any number of `AllowedHeader` and `ExposeHeader`, at most one `ID`
(up to 255 characters) and one `MaxAgeSeconds`. An origin or allowed header holds at most one
`*`, which stands for any run of characters (none included); allowed headers are compared
without regard to case. The whole document is at most 64 KB.

Matching, as S3 does it: the first rule wins whose origins match `Origin`, whose methods hold
the request's method (or `Access-Control-Request-Method` when the request carries one, preflight
or not), and whose allowed headers cover every name in `Access-Control-Request-Headers`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from s3compat.api import errors
from s3compat.api.xml import Node, local, parse_xml, to_xml

MAX_RULES = 100
MAX_CORS_BYTES = 64 * 1024
MAX_RULE_ID_CHARS = 255
ALLOWED_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
# What S3 sends on every answer a rule matched; the answer depends on these request headers.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

_LISTS = {
    "AllowedOrigin": "allowed_origins",
    "AllowedMethod": "allowed_methods",
    "AllowedHeader": "allowed_headers",
    "ExposeHeader": "expose_headers",
}
_SINGLES = ("ID", "MaxAgeSeconds")
_INTEGER = re.compile(r"^\s*[0-9]+\s*$")
_MAX_AGE_LIMIT = 2**31 - 1  # MaxAgeSeconds is an Integer in the service model
# An HTTP token (RFC 9110): what may stand in a header's name, and so in ExposeHeader.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule, its lists in document order."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    rule_id: str | None = None
    max_age_seconds: int | None = None


# --- the document -------------------------------------------------------------------------


def parse_cors(body: bytes) -> list[CorsRule]:
    """A CORSConfiguration document as rules: MalformedXML for a wrong shape (no rules, unknown
    or repeated elements, a rule without origin or method, a MaxAgeSeconds that is no
    non-negative integer), InvalidRequest for values S3 refuses."""
    document = parse_xml(body, max_bytes=MAX_CORS_BYTES)
    if local(document) != "CORSConfiguration":
        raise errors.MalformedXML()
    elements = [child for child in document if local(child)]
    if not elements or any(local(child) != "CORSRule" for child in elements):
        raise errors.MalformedXML()
    if len(elements) > MAX_RULES:
        raise errors.InvalidRequest(
            f"The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules."
        )
    return [_parse_rule(element) for element in elements]


def _parse_rule(element: etree._Element) -> CorsRule:
    lists: dict[str, list[str]] = {field: [] for field in _LISTS.values()}
    singles: dict[str, str] = {}
    for child in element:
        name = local(child)
        if not name:
            continue  # a comment or processing instruction
        if len(child) or (name not in _LISTS and name not in _SINGLES):
            raise errors.MalformedXML()
        text = child.text or ""
        if name in _SINGLES:
            if name in singles:
                raise errors.MalformedXML()
            singles[name] = text
        else:
            lists[_LISTS[name]].append(text)
    if not lists["allowed_origins"] or not lists["allowed_methods"]:
        raise errors.MalformedXML()
    for method in lists["allowed_methods"]:
        if method not in ALLOWED_METHODS:
            raise errors.InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for kind, field in (("AllowedOrigin", "allowed_origins"), ("AllowedHeader", "allowed_headers")):
        for value in lists[field]:
            if value.count("*") > 1:
                raise errors.InvalidRequest(
                    f'{kind} "{value}" can not have more than one wildcard.'
                )
    for header in lists["expose_headers"]:
        if "*" in header:
            raise errors.InvalidRequest(
                f'ExposeHeader "{header}" contains wildcard. We currently do not support '
                "wildcard for ExposeHeader."
            )
        if not _TOKEN.match(header):
            # It is sent back as a header value: nothing but a header name may stand there.
            raise errors.InvalidRequest(f'ExposeHeader "{header}" contains invalid character.')
    rule_id = singles.get("ID")
    if rule_id is not None and len(rule_id) > MAX_RULE_ID_CHARS:
        raise errors.InvalidArgument(
            f"ID length should not exceed allowed limit of {MAX_RULE_ID_CHARS}"
        )
    return CorsRule(
        allowed_origins=tuple(lists["allowed_origins"]),
        allowed_methods=tuple(lists["allowed_methods"]),
        allowed_headers=tuple(lists["allowed_headers"]),
        expose_headers=tuple(lists["expose_headers"]),
        rule_id=rule_id,
        max_age_seconds=_max_age(singles.get("MaxAgeSeconds")),
    )


def _max_age(text: str | None) -> int | None:
    if text is None:
        return None
    if not _INTEGER.match(text) or int(text) > _MAX_AGE_LIMIT:
        raise errors.MalformedXML()
    return int(text)


def cors_xml(rules: Sequence[CorsRule]) -> bytes:
    """The GetBucketCors answer: the rules as they were put."""
    return to_xml("CORSConfiguration", [("CORSRule", _rule_xml(rule)) for rule in rules])


def _rule_xml(rule: CorsRule) -> list[tuple[str, Node]]:
    body: list[tuple[str, Node]] = [("ID", rule.rule_id)]
    body += [("AllowedHeader", header) for header in rule.allowed_headers]
    body += [("AllowedMethod", method) for method in rule.allowed_methods]
    body += [("AllowedOrigin", origin) for origin in rule.allowed_origins]
    body += [("ExposeHeader", header) for header in rule.expose_headers]
    body.append(("MaxAgeSeconds", rule.max_age_seconds))
    return body


def rules_to_json(rules: Sequence[CorsRule]) -> str:
    """The catalog's text form of a CORS configuration."""
    return json.dumps({"rules": [_rule_to_dict(rule) for rule in rules]})


def rules_from_json(text: str) -> list[CorsRule]:
    return [_rule_from_dict(item) for item in json.loads(text)["rules"]]


def _rule_to_dict(rule: CorsRule) -> dict[str, Any]:
    return {
        "id": rule.rule_id,
        "origins": list(rule.allowed_origins),
        "methods": list(rule.allowed_methods),
        "headers": list(rule.allowed_headers),
        "expose": list(rule.expose_headers),
        "max_age": rule.max_age_seconds,
    }


def _rule_from_dict(item: dict[str, Any]) -> CorsRule:
    return CorsRule(
        allowed_origins=tuple(item["origins"]),
        allowed_methods=tuple(item["methods"]),
        allowed_headers=tuple(item["headers"]),
        expose_headers=tuple(item["expose"]),
        rule_id=item["id"],
        max_age_seconds=item["max_age"],
    )


# --- matching -----------------------------------------------------------------------------


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether `value` is `pattern` with its one `*` (if any) replaced by any run of
    characters, the empty run included."""
    head, star, tail = pattern.partition("*")
    if not star:
        return value == pattern
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def requested_headers(value: str | None) -> list[str]:
    """The header names of an `Access-Control-Request-Headers` value, lower-cased."""
    if value is None:
        return []
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def match_rule(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str]
) -> CorsRule | None:
    """The first rule that allows `origin` to use `method` sending `headers` (lower-cased
    names), or None. Only ASCII origins and names can match: they are answered in headers."""
    if not origin.isascii() or not all(name.isascii() for name in headers):
        return None
    for rule in rules:
        if method not in rule.allowed_methods:
            continue
        if not any(wildcard_match(allowed, origin) for allowed in rule.allowed_origins):
            continue
        allowed_headers = [allowed.lower() for allowed in rule.allowed_headers]
        if all(
            any(wildcard_match(allowed, name) for allowed in allowed_headers) for name in headers
        ):
            return rule
    return None


def response_headers(rule: CorsRule, origin: str, headers: Sequence[str]) -> dict[str, str]:
    """The Access-Control-* headers S3 answers for a matched rule (preflight or not): the
    origin echoed (`*` for a rule that allows any origin, and then without credentials), the
    rule's methods, the requested headers, the exposed headers and the max age."""
    wildcard = "*" in rule.allowed_origins
    answer = {"Access-Control-Allow-Origin": "*" if wildcard else origin}
    if not wildcard:
        answer["Access-Control-Allow-Credentials"] = "true"
    answer["Access-Control-Allow-Methods"] = ", ".join(rule.allowed_methods)
    if headers:
        answer["Access-Control-Allow-Headers"] = ", ".join(headers)
    if rule.expose_headers:
        answer["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        answer["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    answer["Vary"] = VARY
    return answer
