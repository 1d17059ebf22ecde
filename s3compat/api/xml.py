"""The one XML module: a hardened parser for request bodies and small render helpers.

Parsing refuses DTDs, entity declarations and external references outright (S3 bodies never
need them) and caps the body size, so billion-laughs and XXE documents are plain
``MalformedXML``. Element names are compared without their namespace because clients send S3's
documents both with and without ``xmlns="http://s3.amazonaws.com/doc/2006-03-01/"``.
Rendering builds lxml trees, never strings, so every text is escaped.
"""

from __future__ import annotations

import email.utils
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from lxml import etree

from s3compat.api.errors import MalformedXML

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"

# The largest request documents are DeleteObjects (1000 keys of up to 1024 bytes, each byte
# possibly escaped as "&amp;" = 5 bytes, plus a VersionId) ≈ 6.3 MB in the worst case, and
# CompleteMultipartUpload (10,000 parts with an ETag and a checksum) ≈ 2 MB. 8 MiB holds both.
MAX_XML_BYTES = 8 * 1024 * 1024

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

Node = str | int | bool | datetime | None | Iterable[tuple[str, "Node"]]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _hardened_parser() -> etree.XMLParser:
    # huge_tree=False keeps libxml2's depth and text-size limits; the rest closes every door to
    # entities, DTDs and the network.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
    )


def parse_xml(body: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse a request body into its root element, or raise ``MalformedXML``.

    Oversized bodies are refused as MalformedXML too: S3's own code for this,
    ``MaxMessageLengthExceeded``, is not in ``api/errors.py``.
    """
    if not body.strip():
        raise MalformedXML()
    if len(body) > max_bytes:
        raise MalformedXML()
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        # Refused before libxml2 sees it; the docinfo check below covers other encodings.
        raise MalformedXML()
    try:
        root = etree.fromstring(body, _hardened_parser())
    except (etree.LxmlError, ValueError, LookupError) as exc:
        raise MalformedXML() from exc
    # lxml reports any DOCTYPE, with or without an internal subset, as an internal DTD.
    if root is None or root.getroottree().docinfo.internalDTD is not None:
        raise MalformedXML()
    return root


def local(element: etree._Element) -> str:
    """The element's tag without its namespace ("" for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return etree.QName(tag).localname


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """The direct children called ``name``, in any namespace, in document order."""
    return [child for child in element if local(child) == name]


def child_text(element: etree._Element, name: str, default: str | None = None) -> str | None:
    """The text of the first direct child called ``name`` ("" if empty), else ``default``."""
    for child in element:
        if local(child) == name:
            return child.text or ""
    return default


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as S3 writes times in XML: 2009-10-12T17:50:30.000Z."""
    return _as_utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def to_xml(
    root: str,
    children: Iterable[tuple[str, Node]],
    *,
    text: str | None = None,
    namespaced: bool = True,
) -> bytes:
    """Render an S3 response document: ``root`` in the S3 namespace holding ``children``.

    Each ``(name, node)`` pair is one element; repeat a name to repeat an element. A node is
    text, an int, a bool ("true"/"false"), a datetime (S3's timestamp form), ``None`` (the
    element is left out) or an iterable of further pairs (a nested element). ``text`` is the
    root's own text (GetBucketLocation answers with a bare LocationConstraint). A document S3
    sends without a namespace (POST Object's PostResponse) is ``namespaced=False``.
    """
    if namespaced:
        # lxml-stubs types nsmap keys as str, but None is how lxml spells the default namespace.
        nsmap = {None: S3_NS}
        element = etree.Element(f"{{{S3_NS}}}{root}", nsmap=nsmap)  # type: ignore[arg-type]
    else:
        element = etree.Element(root)
    element.text = text
    references = _References()
    _append_children(element, children, f"{{{S3_NS}}}" if namespaced else "", references)
    rendered = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    return XML_DECLARATION + references.restore(rendered)


class _References:
    """Characters XML 1.0 cannot carry as text (a key may hold U+0007), written as character
    references (`&#x7;`) the way S3 writes them. lxml refuses such text, so each is first put
    down as a mark made of a random token, then the marks become references."""

    def __init__(self) -> None:
        self.token: str | None = None

    def text(self, value: str) -> str:
        if _NOT_XML_CHAR.search(value) is None:
            return value
        if self.token is None:
            self.token = "ref" + secrets.token_hex(8)
        token = self.token
        return _NOT_XML_CHAR.sub(lambda found: f"{token}{ord(found.group()):x}.", value)

    def restore(self, rendered: bytes) -> bytes:
        if self.token is None:
            return rendered
        mark = re.compile(re.escape(self.token.encode()) + rb"([0-9a-f]+)\.")
        return mark.sub(rb"&#x\1;", rendered)


def _append_children(
    parent: etree._Element,
    pairs: Iterable[tuple[str, Node]],
    namespace: str,
    references: _References,
) -> None:
    for name, node in pairs:
        if node is None:
            continue
        child = etree.SubElement(parent, namespace + name)
        if isinstance(node, str):
            child.text = references.text(node)
        elif isinstance(node, bool):
            child.text = "true" if node else "false"
        elif isinstance(node, int):
            child.text = str(node)
        elif isinstance(node, datetime):
            child.text = format_timestamp(node)
        else:
            _append_children(child, node, namespace, references)


def error_xml(
    code: str, message: str, resource: str | None, request_id: str, fields: Mapping[str, str]
) -> bytes:
    """An S3 ``<Error>`` document (no namespace, as S3 sends it)."""
    element = etree.Element("Error")
    pairs: list[tuple[str, str | None]] = [("Code", code), ("Message", message)]
    pairs += list(fields.items())
    pairs += [("Resource", resource), ("RequestId", request_id)]
    for name, text in pairs:
        if text is not None:
            etree.SubElement(element, name).text = xml_safe(text)
    return XML_DECLARATION + etree.tostring(element, encoding="UTF-8", xml_declaration=False)


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry replaced by U+FFFD (an error document
    may quote a request's path or key, which can hold anything)."""
    if _NOT_XML_CHAR.search(text) is None:
        return text
    return _NOT_XML_CHAR.sub("\ufffd", text)


# Any character XML 1.0 cannot carry (the complement of its Char production): one C scan per
# text instead of a Python test per character (profiled: a sixth of a 1,000-key listing).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def format_http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate, locale-independent: "Wed, 12 Oct 2009 17:50:00 GMT"."""
    utc = _as_utc(moment)
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def parse_http_date(value: str) -> datetime | None:
    """Parse an HTTP date (IMF-fixdate, RFC 850 or asctime) into an aware UTC datetime.

    Returns None for anything unparseable: S3 ignores conditional headers it cannot read.
    """
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _as_utc(parsed)


def parse_timestamp(value: str) -> datetime | None:
    """An HTTP date or an ISO 8601 timestamp ("2015-01-01T00:00:00Z"), as an aware UTC
    datetime; None if it is neither."""
    parsed = parse_http_date(value)
    if parsed is not None:
        return parsed
    try:
        return _as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes in this code base are UTC by convention.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
