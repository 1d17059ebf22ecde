"""Range headers resolve as S3 resolves them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.api.errors import InvalidRange, S3Error
from s3compat.api.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=10-19", 100, (10, 20)),
        ("bytes=0-0", 1, (0, 1)),
        ("bytes=50-1000", 100, (50, 100)),  # last clamped to size - 1
        ("bytes=99-99", 100, (99, 100)),
        ("bytes=10-", 100, (10, 100)),
        ("bytes=0-", 100, (0, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-100", 100, (0, 100)),
        ("bytes=-1000", 100, (0, 100)),  # longer suffix than the object: all of it
        ("Bytes=1-2", 100, (1, 3)),  # the unit is case-insensitive
        (" bytes=1-2 ", 100, (1, 3)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=1-x",
        "bytes=+1-2",
        "bytes=1--2",
        "bytes=²-3",
        "bytes=10-5",  # last < first: invalid, so ignored
        "items=0-5",
        "0-5",
        "bytes=0-1,3-4",  # S3 does not serve multiple ranges: whole object, 200
        "bytes=0-1, 200-300",
    ],
)
def test_ignored_headers_mean_whole_object(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=500-", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-5", 0),
    ],
)
def test_unsatisfiable_ranges_are_416_with_content_range(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(header, size)
    assert caught.value.status == 416
    assert caught.value.headers["Content-Range"] == f"bytes */{size}"


@given(size=st.integers(0, 10_000), first=st.integers(0, 20_000), last=st.integers(0, 20_000))
def test_first_last_property(size: int, first: int, last: int) -> None:
    try:
        resolved = parse_range(f"bytes={first}-{last}", size)
    except InvalidRange:
        assert first >= size and last >= first
        return
    if last < first:
        assert resolved is None
        return
    assert resolved == (first, min(last + 1, size))
    assert 0 <= resolved[0] < resolved[1] <= size


@given(size=st.integers(0, 10_000), suffix=st.integers(0, 20_000))
def test_suffix_property(size: int, suffix: int) -> None:
    try:
        resolved = parse_range(f"bytes=-{suffix}", size)
    except InvalidRange:
        assert suffix == 0 or size == 0
        return
    assert resolved is not None
    start, end = resolved
    assert end == size and end - start == min(suffix, size) > 0


@given(header=st.text(max_size=30), size=st.integers(0, 1000))
def test_any_header_gives_a_range_inside_the_object_or_an_s3_error(header: str, size: int) -> None:
    try:
        resolved = parse_range(header, size)
    except S3Error:
        return
    if resolved is not None:
        assert 0 <= resolved[0] < resolved[1] <= size
