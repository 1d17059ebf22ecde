"""The HTTP ``Range`` header of GetObject/HeadObject, with S3's semantics.

S3 serves a single byte range (RFC 7233 ``bytes=first-last``, ``bytes=first-`` and
``bytes=-suffix``). It is lenient: a header it cannot parse, a unit other than ``bytes`` or a
list of several ranges is ignored and the whole object is answered with 200. Only a well-formed
range that selects no byte of the object is an error: ``416 InvalidRange``.
"""

from __future__ import annotations

from s3compat.api.errors import InvalidRange, S3Error

RANGE_UNIT = "bytes"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Resolve a ``Range`` header against an object of ``size`` bytes.

    Returns ``(start, end_exclusive)``, or ``None`` for "answer the whole object with 200"
    (no header, or one S3 would ignore). Raises ``InvalidRange`` carrying a
    ``Content-Range: bytes */size`` header when the range is well-formed but unsatisfiable.
    """
    if header is None:
        return None
    spec = _single_range_spec(header)
    if spec is None:
        return None
    first_text, last_text = spec
    if not first_text:
        return _suffix_range(int(last_text), size)
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        # RFC 7233 §2.1: last < first makes the spec invalid, and an invalid header is ignored.
        return None
    if first >= size:
        raise _unsatisfiable(size)
    end = size if last is None else min(last + 1, size)
    return first, end


def _single_range_spec(header: str) -> tuple[str, str] | None:
    """Split ``bytes=first-last`` into its two digit strings, or None if S3 would ignore it."""
    unit, equals, ranges = header.strip().partition("=")
    if not equals or unit.strip().lower() != RANGE_UNIT:
        return None
    if "," in ranges:
        # S3 does not serve multipart/byteranges: it ignores the header and answers 200.
        return None
    first, dash, last = ranges.strip().partition("-")
    if not dash or not (first or last):
        return None
    if not all(_is_digits(part) for part in (first, last) if part):
        return None
    return first, last


def _suffix_range(suffix_length: int, size: int) -> tuple[int, int]:
    """The last ``suffix_length`` bytes; a suffix longer than the object is the whole object."""
    if suffix_length == 0 or size == 0:
        raise _unsatisfiable(size)
    return max(size - suffix_length, 0), size


def _is_digits(text: str) -> bool:
    # str.isdigit() alone accepts non-ASCII digits such as "²", which int() then rejects.
    return text.isascii() and text.isdigit()


def _unsatisfiable(size: int) -> S3Error:
    error = InvalidRange()
    error.headers["Content-Range"] = f"{RANGE_UNIT} */{size}"
    return error
