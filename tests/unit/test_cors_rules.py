"""CORS rules, pure: parsing and validating the CORSConfiguration document, the stored form,
which rule a request matches (origin and header wildcards, methods, the first rule winning) and
the headers a matched rule answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.api import errors
from s3compat.api.cors import (
    MAX_RULES,
    CorsRule,
    cors_xml,
    match_rule,
    parse_cors,
    requested_headers,
    response_headers,
    rules_from_json,
    rules_to_json,
    wildcard_match,
)


def config(*rules: str) -> bytes:
    return (
        '<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + "".join(f"<CORSRule>{rule}</CORSRule>" for rule in rules)
        + "</CORSConfiguration>"
    ).encode()


SIMPLE = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"


# --- parsing --------------------------------------------------------------------------------


def test_every_element_is_read_in_document_order() -> None:
    (rule,) = parse_cors(
        config(
            "<ID>web</ID><AllowedOrigin>https://a.example</AllowedOrigin>"
            "<AllowedOrigin>https://*.b.example</AllowedOrigin>"
            "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
            "<AllowedHeader>x-AMZ-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>"
            "<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader>"
            "<MaxAgeSeconds>3000</MaxAgeSeconds>"
        )
    )
    assert rule == CorsRule(
        allowed_origins=("https://a.example", "https://*.b.example"),
        allowed_methods=("PUT", "GET"),
        allowed_headers=("x-AMZ-*", "Content-Type"),
        expose_headers=("ETag", "x-amz-request-id"),
        rule_id="web",
        max_age_seconds=3000,
    )


def test_a_document_without_namespace_and_an_empty_origin_are_accepted() -> None:
    body = b"<CORSConfiguration><CORSRule><AllowedOrigin></AllowedOrigin>"
    body += b"<AllowedMethod>HEAD</AllowedMethod></CORSRule></CORSConfiguration>"
    assert parse_cors(body) == [CorsRule(allowed_origins=("",), allowed_methods=("HEAD",))]


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<CORSConfiguration/>",
        b"<CORSConfiguration></CORSConfiguration>",
        b"<Other>" + config(SIMPLE)[len(b"<CORSConfiguration>") :],
        config(SIMPLE).replace(b"</CORSConfiguration>", b"<Extra/></CORSConfiguration>"),
        config("<AllowedMethod>GET</AllowedMethod>"),
        config("<AllowedOrigin>*</AllowedOrigin>"),
        config(SIMPLE + "<Unknown>x</Unknown>"),
        config(SIMPLE + "<ID>a</ID><ID>b</ID>"),
        config(SIMPLE + "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds>"),
        config(SIMPLE + "<MaxAgeSeconds>soon</MaxAgeSeconds>"),
        config(SIMPLE + "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
        config(SIMPLE + "<MaxAgeSeconds>2147483648</MaxAgeSeconds>"),
        config("<AllowedOrigin><b>x</b></AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
        config(SIMPLE + "<AllowedHeader>" + "x" * 70_000 + "</AllowedHeader>"),
    ],
)
def test_wrong_shapes_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        parse_cors(body)


def test_an_unsupported_method_is_named() -> None:
    body = config("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>MYMETHOD</AllowedMethod>")
    with pytest.raises(errors.InvalidRequest) as caught:
        parse_cors(body)
    assert caught.value.message == (
        "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD"
    )


@pytest.mark.parametrize("method", ["get", "OPTIONS", "PATCH", ""])
def test_only_the_five_methods_as_spelt(method: str) -> None:
    body = config(f"<AllowedOrigin>*</AllowedOrigin><AllowedMethod>{method}</AllowedMethod>")
    with pytest.raises(errors.InvalidRequest):
        parse_cors(body)


def test_the_rule_limit() -> None:
    assert len(parse_cors(config(*[SIMPLE] * MAX_RULES))) == MAX_RULES
    with pytest.raises(errors.InvalidRequest) as caught:
        parse_cors(config(*[SIMPLE] * (MAX_RULES + 1)))
    assert "100 rules" in caught.value.message


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ("<AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>", "more"),
        (SIMPLE + "<AllowedHeader>x-*-*</AllowedHeader>", "more than one wildcard"),
        (SIMPLE + "<ExposeHeader>*</ExposeHeader>", "contains wildcard"),
        (SIMPLE + "<ExposeHeader>a b</ExposeHeader>", "invalid character"),
        (SIMPLE + "<ExposeHeader>a&#13;&#10;Set-Cookie: x</ExposeHeader>", "invalid character"),
    ],
)
def test_values_s3_refuses_are_invalid_requests(rule: str, error: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        parse_cors(config(rule))
    assert error in caught.value.message


def test_an_id_longer_than_255_characters() -> None:
    assert parse_cors(config(SIMPLE + "<ID>" + "i" * 255 + "</ID>"))[0].rule_id == "i" * 255
    with pytest.raises(errors.InvalidArgument):
        parse_cors(config(SIMPLE + "<ID>" + "i" * 256 + "</ID>"))


def test_rendering_and_storing_give_back_what_was_put() -> None:
    rules = parse_cors(
        config(
            "<ID>a&amp;b</ID><AllowedOrigin>https://x</AllowedOrigin>"
            "<AllowedMethod>DELETE</AllowedMethod><AllowedHeader>*</AllowedHeader>"
            "<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>0</MaxAgeSeconds>",
            SIMPLE,
        )
    )
    assert rules_from_json(rules_to_json(rules)) == rules
    assert parse_cors(cors_xml(rules)) == rules
    assert b"<ID>a&amp;b</ID>" in cors_xml(rules)


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "", True),
        ("*", "anything", True),
        ("*suffix", "foo.suffix", True),
        ("*suffix", "foo.suffix.get", False),
        ("start*end", "start_end", True),
        ("start*end", "startend", True),
        ("start*end", "0start12end", False),
        ("start*end", "startend-", False),
        ("aa*aa", "aaa", False),
        ("prefix*", "prefix", True),
        ("prefix*", "bla.prefix", False),
        ("http://*.origin.com", "http://test.origin.com/", False),
        ("http://*.origin.com", "http://test.origin.com", True),
        ("exact", "exact", True),
        ("exact", "Exact", False),
    ],
)
def test_one_wildcard(pattern: str, value: str, expected: bool) -> None:
    assert wildcard_match(pattern, value) is expected


@given(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8))
def test_a_wildcard_stands_for_any_run(head: str, middle: str, tail: str) -> None:
    head, middle, tail = (part.replace("*", "") for part in (head, middle, tail))
    assert wildcard_match(f"{head}*{tail}", head + middle + tail)


RULES = parse_cors(
    config(
        "<ID>put</ID><AllowedOrigin>https://app.example</AllowedOrigin>"
        "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>"
        "<AllowedHeader>Content-*</AllowedHeader><AllowedHeader>X-AMZ-DATE</AllowedHeader>",
        "<ID>read</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
        "<AllowedMethod>HEAD</AllowedMethod><ExposeHeader>ETag</ExposeHeader>"
        "<MaxAgeSeconds>600</MaxAgeSeconds>",
        "<ID>also-get</ID><AllowedOrigin>https://app.example</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader>",
    )
)


def matched(origin: str, method: str, headers: str | None = None) -> str | None:
    rule = match_rule(RULES, origin, method, requested_headers(headers))
    return None if rule is None else rule.rule_id


def test_origin_method_and_headers_pick_a_rule() -> None:
    assert matched("https://app.example", "PUT") == "put"
    assert matched("https://app.example", "PUT", "content-type, x-amz-date") == "put"
    assert matched("https://app.example", "PUT", "Content-MD5,X-Amz-Date") == "put"
    assert matched("https://app.example", "PUT", "x-amz-acl") is None
    assert matched("https://other.example", "PUT") is None
    assert matched("https://app.example", "DELETE") is None
    assert matched("https://anyone", "HEAD") == "read"
    assert matched("https://anyone", "OPTIONS") is None


def test_the_first_matching_rule_wins() -> None:
    # Both "read" and "also-get" allow this GET; "read" comes first.
    assert matched("https://app.example", "GET") == "read"
    # "read" allows no requested header; "also-get" allows every one.
    assert matched("https://app.example", "GET", "x-amz-request-payer") == "also-get"
    assert matched("https://anyone", "GET", "x-amz-request-payer") is None


def test_non_ascii_origins_and_headers_never_match() -> None:
    assert matched("https://café.example", "GET") is None
    assert matched("https://app.example", "GET", "x-café") is None


def test_requested_headers_are_split_trimmed_and_lower_cased() -> None:
    assert requested_headers(None) == []
    assert requested_headers("") == []
    assert requested_headers(" X-Amz-Date , ,content-TYPE") == ["x-amz-date", "content-type"]


def test_headers_of_a_rule_for_one_origin() -> None:
    rule = RULES[0]
    assert response_headers(rule, "https://app.example", ["x-amz-date"]) == {
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "PUT, POST",
        "Access-Control-Allow-Headers": "x-amz-date",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }


def test_headers_of_a_rule_for_any_origin() -> None:
    assert response_headers(RULES[1], "https://anyone", []) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
