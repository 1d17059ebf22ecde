"""The XML module refuses hostile documents and renders S3's documents faithfully."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from s3compat.api.errors import MalformedXML, S3Error
from s3compat.api.xml import (
    MAX_XML_BYTES,
    S3_NS,
    child_text,
    children,
    error_xml,
    format_http_date,
    local,
    parse_http_date,
    parse_xml,
    to_xml,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Delete><Object><Key>&lol4;</Key></Object></Delete>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Delete [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Delete SYSTEM "http://127.0.0.1:1/evil.dtd">
<Delete><Object><Key>k</Key></Object></Delete>"""

PARAMETER_ENTITY = b"""<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]><d/>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        EXTERNAL_DTD,
        PARAMETER_ENTITY,
        b"<!DOCTYPE d><d/>",
        # The same attacks in UTF-16 slip past a byte scan and must be caught after parsing.
        BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"),
        EXTERNAL_ENTITY.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"),
    ],
)
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_xml(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"not xml",
        b"<Delete>",
        b"<Delete><Object></Delete>",
        b"<a></b>",
        b"<a>&undefined;</a>",
        b"<a/><b/>",
        b"\xff\xfe\x00garbage",
        b'<?xml version="1.0" encoding="nonsense"?><a/>',
        b"<a>" * 300 + b"</a>" * 300,  # deeper than libxml2's limit without huge_tree
    ],
)
def test_not_well_formed_is_malformed_xml(body: bytes) -> None:
    with pytest.raises(MalformedXML) as caught:
        parse_xml(body)
    assert caught.value.status == 400


def test_size_limit() -> None:
    body = b"<a>" + b"x" * 100 + b"</a>"
    assert local(parse_xml(body, max_bytes=len(body))) == "a"
    with pytest.raises(MalformedXML):
        parse_xml(body, max_bytes=len(body) - 1)


def test_largest_delete_objects_fits() -> None:
    # 1000 keys of 1024 bytes that all need escaping, each with a version id.
    key = "&" * 1024
    objects = [("Object", [("Key", key), ("VersionId", "v" * 64)]) for _ in range(1000)]
    body = to_xml("Delete", [("Quiet", True), *objects])
    assert len(body) <= MAX_XML_BYTES
    root = parse_xml(body)
    assert [child_text(obj, "Key") for obj in children(root, "Object")] == [key] * 1000


def test_elements_are_found_with_or_without_namespace() -> None:
    for xmlns in ("", f' xmlns="{S3_NS}"', ' xmlns="urn:other"'):
        root = parse_xml(
            f"<Delete{xmlns}><Quiet>true</Quiet><Object><Key>a</Key></Object>"
            f"<!-- c --><Object><Key/></Object></Delete>".encode()
        )
        assert local(root) == "Delete"
        assert child_text(root, "Quiet") == "true"
        assert [child_text(obj, "Key") for obj in children(root, "Object")] == ["a", ""]
        assert child_text(root, "Missing", "default") == "default"
        assert child_text(root, "Missing") is None


def test_to_xml_renders_nested_repeated_and_typed_children() -> None:
    created = datetime(2009, 10, 12, 17, 50, 30, 123456, tzinfo=UTC)
    body = to_xml(
        "ListAllMyBucketsResult",
        [
            ("Owner", [("ID", "owner-id"), ("DisplayName", None)]),
            (
                "Buckets",
                [
                    ("Bucket", [("Name", "a"), ("CreationDate", created)]),
                    ("Bucket", [("Name", "b"), ("CreationDate", datetime(2020, 1, 2))]),
                ],
            ),
            ("IsTruncated", False),
            ("Versioned", True),
            ("MaxKeys", 1000),
            ("Skipped", None),
        ],
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert body.endswith(
        b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Owner><ID>owner-id</ID></Owner><Buckets>"
        b"<Bucket><Name>a</Name><CreationDate>2009-10-12T17:50:30.123Z</CreationDate></Bucket>"
        b"<Bucket><Name>b</Name><CreationDate>2020-01-02T00:00:00.000Z</CreationDate></Bucket>"
        b"</Buckets><IsTruncated>false</IsTruncated><Versioned>true</Versioned>"
        b"<MaxKeys>1000</MaxKeys></ListAllMyBucketsResult>"
    )


def test_to_xml_converts_times_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    body = to_xml("R", [("T", datetime(2009, 10, 12, 19, 50, 30, tzinfo=plus_two))])
    assert b"<T>2009-10-12T17:50:30.000Z</T>" in body


def test_to_xml_escapes_text() -> None:
    key = "<Key>&amp; \"quoted\" 'single' ünïcødé 日本 😀"
    body = to_xml("R", [("Key", key)])
    assert b"&lt;Key&gt;&amp;amp;" in body
    assert child_text(parse_xml(body), "Key") == key


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=50))
def test_to_xml_round_trips_text(text: str) -> None:
    text = text.replace("\ufffe", "").replace("\uffff", "")
    assert child_text(parse_xml(to_xml("R", [("V", text)])), "V") == text


def test_error_xml_shape() -> None:
    body = error_xml(
        "NoSuchKey", "The specified key does not exist.", "/b/k<", "REQ1", {"Key": "k<"}
    )
    root = etree.fromstring(body)
    assert root.tag == "Error"  # no namespace, as S3 sends it
    assert [(el.tag, el.text) for el in root] == [
        ("Code", "NoSuchKey"),
        ("Message", "The specified key does not exist."),
        ("Key", "k<"),
        ("Resource", "/b/k<"),
        ("RequestId", "REQ1"),
    ]
    assert b"<Resource>" not in error_xml("InternalError", "m", None, "R", {})


def test_http_dates() -> None:
    moment = datetime(2009, 10, 12, 17, 50, tzinfo=UTC)
    assert format_http_date(moment) == "Mon, 12 Oct 2009 17:50:00 GMT"
    assert format_http_date(datetime(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT"
    for text in (
        "Mon, 12 Oct 2009 17:50:00 GMT",
        "Monday, 12-Oct-09 17:50:00 GMT",
        "Mon Oct 12 17:50:00 2009",
    ):
        assert parse_http_date(text) == moment
    for garbage in ("", "yesterday", "Mon, 32 Oct 2009 17:50:00 GMT", "12345"):
        assert parse_http_date(garbage) is None


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))
def test_http_date_round_trip(moment: datetime) -> None:
    whole_seconds = moment.replace(microsecond=0, tzinfo=UTC)
    assert parse_http_date(format_http_date(whole_seconds)) == whole_seconds


@given(st.binary(max_size=200) | st.text(max_size=100).map(lambda t: f"<a>{t}</a>".encode()))
def test_parse_xml_raises_only_s3_errors(body: bytes) -> None:
    try:
        parse_xml(body)
    except S3Error:
        pass
