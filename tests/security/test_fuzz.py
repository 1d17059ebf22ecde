"""Property fuzzing of everything that reads untrusted bytes before a handler runs: the SigV4 and
SigV2 parsers and verifiers, the aws-chunked decoder, Range parsing, the XML parser and the
router. The one property: they answer or raise an `S3Error`, never anything else.

`tests/unit/` already fuzzes raw garbage into the chunked decoder, arbitrary text into
`parse_range`, `resolve` and `parse_xml`; this file adds structured inputs that get past the
first checks (well-formed-looking auth headers and presigned queries, framed chunk streams,
mutated valid XML documents, range headers with huge and non-ASCII numbers).

Short profile by default; `S3COMPAT_FUZZ_LONG=1` runs ten times as many examples.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from s3compat.api.auth import sigv4
from s3compat.api.auth.chunked import AwsChunkedReader, chunk_string_to_sign
from s3compat.api.auth.model import RequestView, StreamingSigning
from s3compat.api.auth.request import parse_auth, verify_auth
from s3compat.api.errors import S3Error
from s3compat.api.ranges import parse_range
from s3compat.api.router import resolve, validate_bucket_name, validate_key
from s3compat.api.xml import parse_xml

LONG = os.environ.get("S3COMPAT_FUZZ_LONG") == "1"
EXAMPLES = 2000 if LONG else 200
F = TypeVar("F", bound=Callable[..., Any])


def fuzz(examples: int = EXAMPLES) -> Callable[[F], F]:
    """Hypothesis settings of this file's profile."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AMZ_DATE = NOW.strftime("%Y%m%dT%H%M%SZ")
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = sigv4.signing_key(SECRET, AMZ_DATE[:8], "us-east-1")
SCOPE = f"{AMZ_DATE[:8]}/us-east-1/s3/aws4_request"
SEED = "a" * 64
SIGNING = StreamingSigning(signing_key=KEY, amz_date=AMZ_DATE, scope=SCOPE, seed_signature=SEED)

# ---------------------------------------------------------------------------------------------
# Authentication

_text = st.text(max_size=40)
FULLWIDTH_DATE = "".join(chr(0xFF10 + int(digit)) for digit in AMZ_DATE[:8])
_credential = st.one_of(
    _text,
    st.builds(
        lambda key, date, region, service, term: f"{key}/{date}/{region}/{service}/{term}",
        st.sampled_from(["AKID", "", "A/B", "AKID\x00"]),
        st.sampled_from([AMZ_DATE[:8], "20261301", "2026010", "", "99999999", FULLWIDTH_DATE]),
        st.sampled_from(["us-east-1", "", "a/b"]),
        st.sampled_from(["s3", "ec2", ""]),
        st.sampled_from(["aws4_request", "aws4_request/", ""]),
    ),
)
_signed_headers = st.one_of(
    _text,
    st.lists(st.sampled_from(["host", "x-amz-date", "x-amz-content-sha256", "Host", " ", ""]),
             max_size=5).map(";".join),
)  # fmt: skip
_signature = st.one_of(_text, st.just("0" * 64), st.text("0123456789abcdef", min_size=64,
                                                          max_size=64))  # fmt: skip


@st.composite
def sigv4_authorization(draw: st.DrawFn) -> str:
    components = [
        f"Credential={draw(_credential)}",
        f"SignedHeaders={draw(_signed_headers)}",
        f"Signature={draw(_signature)}",
    ]
    extra = draw(st.lists(st.sampled_from([*components, "Foo=bar", "", "=", "Credential"]),
                          max_size=2))  # fmt: skip
    parts = draw(st.permutations(components + extra))
    separator = draw(st.sampled_from([",", ", ", " ,", ",,"]))
    algorithm = draw(st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256", "AWS4-ECDSA"]))
    return f"{algorithm} {separator.join(parts)}"


_sigv2_authorization = st.builds(
    lambda key, sig: f"AWS {key}:{sig}", _text, st.one_of(_text, st.just("AAAA"))
)
_date_values = st.one_of(
    _text,
    st.sampled_from([AMZ_DATE, "20260102T030405", "yesterday", "20261399T999999Z"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda moment: moment.strftime("%Y%m%dT%H%M%SZ")
    ),
)
_http_dates = st.one_of(_text, st.just("Fri, 02 Jan 2026 03:04:05 GMT"), st.just("Thu, 99 Foo"))
_sha256_values = st.one_of(
    _text,
    st.sampled_from([
        "UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        hashlib.sha256(b"").hexdigest(), hashlib.sha256(b"").hexdigest().upper(),
    ]),
)  # fmt: skip


@st.composite
def headers_strategy(draw: st.DrawFn) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    authorization = draw(st.one_of(st.none(), sigv4_authorization(), _sigv2_authorization, _text))
    if authorization is not None:
        headers.append(("Authorization", authorization))
    for name, values in (
        ("x-amz-date", _date_values),
        ("Date", _http_dates),
        ("x-amz-content-sha256", _sha256_values),
        ("x-amz-meta-a", _text),
        ("Content-MD5", _text),
    ):
        for _ in range(draw(st.integers(0, 2))):
            headers.append((name, draw(values)))
    return headers


_presign_params = st.dictionaries(
    st.sampled_from([
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
        "X-Amz-SignedHeaders", "X-Amz-Expires", "AWSAccessKeyId", "Signature", "Expires",
        "acl", "versionId",
    ]),
    st.one_of(_text, st.sampled_from(["AWS4-HMAC-SHA256", AMZ_DATE, "0", "604801", "-1",
                                      "99999999999999999999", "host", "\uff11\uff12"]),
              _credential),
    max_size=8,
)  # fmt: skip


def _view(
    method: str, path: str, query: list[tuple[str, str]], headers: CIMultiDict[str]
) -> RequestView:
    return RequestView(
        method=method, raw_path=path, query=query, headers=headers,
        host="127.0.0.1:9000",
    )  # fmt: skip


@fuzz()
@given(
    method=st.sampled_from(["GET", "PUT", "get", "PATCH", ""]),
    path=st.one_of(st.text(max_size=30), st.sampled_from(["/b/k", "/b/%", "/b/%zz", "/%FF"])),
    query=_presign_params.map(lambda params: list(params.items())),
    headers=headers_strategy(),
    skew=st.integers(min_value=-(10**6), max_value=10**6),
)
def test_auth_parse_and_verify_raise_only_s3_errors(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    skew: int,
) -> None:
    view = _view(method, path, query, CIMultiDict(headers))
    try:
        parsed = parse_auth(view)
        verify_auth(view, parsed, SECRET, NOW + timedelta(seconds=skew))
    except S3Error:
        return


@fuzz()
@given(
    path=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.hex("%"))),
    query=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=6),
    presigned=st.booleans(),
)
def test_canonicalisation_is_total(
    path: str, query: list[tuple[str, str]], presigned: bool
) -> None:
    """The canonical URI and query are pure functions defined on every input."""
    uri = sigv4.canonical_uri(path)
    assert uri.isascii()
    canonical = sigv4.canonical_query(query, presigned=presigned)
    assert canonical.isascii()
    assert canonical == sigv4.canonical_query(list(reversed(query)), presigned=presigned)


# ---------------------------------------------------------------------------------------------
# aws-chunked


class PieceSource:
    """Hands out a body in pieces of the given sizes (then the rest)."""

    def __init__(self, data: bytes, pieces: list[int]) -> None:
        self._data = data
        self._pieces = [piece for piece in pieces if piece > 0]

    async def read(self, n: int) -> bytes:
        size = min(n, self._pieces.pop(0)) if self._pieces else n
        piece, self._data = self._data[:size], self._data[size:]
        return piece


async def _drain(reader: AwsChunkedReader, read_size: int) -> bytes:
    out = b""
    for _ in range(10_000):  # bounded: a decoder that never ends fails the test
        piece = await reader.read(read_size)
        if not piece:
            return out
        out += piece
    raise AssertionError("the decoder did not finish")


def _signed_stream(chunks: list[bytes]) -> bytes:
    previous, out = SEED, b""
    for chunk in [*chunks, b""]:
        previous = sigv4.sign(
            KEY,
            chunk_string_to_sign(AMZ_DATE, SCOPE, previous, hashlib.sha256(chunk).hexdigest()),
        )
        out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n"
    return out


_frame = st.tuples(
    st.one_of(st.sampled_from(["0", "5", "ffffffffffffffff", "10000000000000000", "-1", " 5",
                               "5 ", "0x5", "\u0665", ""]),
              st.integers(0, 40).map(lambda n: f"{n:x}")),
    st.sampled_from(["", ";chunk-signature=" + "0" * 64, ";chunk-signature=", ";x=y", ";"]),
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\n", b"\r"]),
)  # fmt: skip


@fuzz()
@given(
    frames=st.lists(_frame, max_size=6),
    trailer_lines=st.lists(st.sampled_from([b"x-amz-checksum-crc32:AAAAAA==", b"bad line",
                                            b"x-amz-trailer-signature:" + b"0" * 64, b":",
                                            b"x-amz-checksum-crc32:", b"\xff:\xfe"]),
                           max_size=3),
    signed=st.booleans(),
    decoded_length=st.one_of(st.none(), st.integers(0, 200)),
    trailers=st.sampled_from([(), ("x-amz-checksum-crc32",), ("x-amz-checksum-crc32,x-a",)]),
    pieces=st.lists(st.integers(0, 30), max_size=10),
    read_size=st.sampled_from([-1, 1, 3, 1024]),
)  # fmt: skip
def test_chunked_framed_streams_raise_only_s3_errors(
    frames: list[tuple[str, str, bytes, bytes]],
    trailer_lines: list[bytes],
    signed: bool,
    decoded_length: int | None,
    trailers: tuple[str, ...],
    pieces: list[int],
    read_size: int,
) -> None:
    body = b"".join(
        f"{size}{extension}\r\n".encode() + data + end for size, extension, data, end in frames
    )
    body += b"".join(line + b"\r\n" for line in trailer_lines) + b"\r\n"
    reader = AwsChunkedReader(
        PieceSource(body, pieces),
        decoded_length=decoded_length,
        signing=SIGNING if signed else None,
        trailer_names=trailers,
        max_chunk_bytes=1000,
    )
    try:
        asyncio.run(_drain(reader, read_size))
    except S3Error:
        return


@fuzz()
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=4),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.binary(max_size=4)),
        min_size=1,
        max_size=3,
    ),
    pieces=st.lists(st.integers(0, 30), max_size=10),
)
def test_chunked_signed_stream_edits_never_change_the_payload(
    chunks: list[bytes], edits: list[tuple[int, int, bytes]], pieces: list[int]
) -> None:
    """Insertions, deletions and replacements anywhere in a signed stream: an S3Error, or (if
    the edit only touched framing the signature does not cover) the original payload."""
    body = _signed_stream(chunks)
    for position, delete, insert in edits:
        position %= len(body) + 1
        body = body[:position] + insert + body[position + delete :]
    payload = b"".join(chunks)
    reader = AwsChunkedReader(
        PieceSource(body, pieces), decoded_length=len(payload), signing=SIGNING
    )
    try:
        decoded = asyncio.run(_drain(reader, 7))
    except S3Error:
        return
    assert decoded == payload


# ---------------------------------------------------------------------------------------------
# Range, XML, router

_number = st.one_of(
    st.integers(0, 30).map(str),
    st.integers(0, 10**30).map(str),
    st.sampled_from(["", "\uff10", "²", "1_0", " 1", "+1", "-1", "1e3", "0x1", "\u0663"]),
)


@fuzz()
@given(
    unit=st.sampled_from(["bytes", "Bytes", " bytes ", "items", ""]),
    specs=st.lists(st.tuples(_number, st.sampled_from(["-", "--", "", " - "]), _number),
                   min_size=1, max_size=3),
    size=st.integers(0, 100),
)  # fmt: skip
def test_range_structured_headers(unit: str, specs: list[tuple[str, str, str]], size: int) -> None:
    header = f"{unit}=" + ",".join(f"{first}{dash}{last}" for first, dash, last in specs)
    try:
        resolved = parse_range(header, size)
    except S3Error as error:
        assert error.code == "InvalidRange"
        assert error.headers["Content-Range"] == f"bytes */{size}"
        return
    if resolved is not None:
        start, end = resolved
        assert 0 <= start < end <= size


_DOCUMENTS = [
    b'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/'
    b'2006-03-01/"><Object><Key>a&amp;b</Key></Object><Quiet>true</Quiet></Delete>',
    b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part>'
    b"</CompleteMultipartUpload>",
    b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
]
_INSERTS = [
    b'<!DOCTYPE a [<!ENTITY x "y">]>', b"&x;", b'<!ENTITY % p SYSTEM "file:///etc/passwd">',
    b"<![CDATA[", b"]]>", b"<?pi?>", b"<!--", b"-->", b"\x00", b"\xff\xfe", b"&#0;", b"&#x1F;",
    b"&#xD800;", b"<a:b xmlns:a='x'>", b"</", b"\xef\xbb\xbf", b"<?xml version='1.0'?>",
    b'encoding="UTF-16"', b'<!DOCTYPE a SYSTEM "http://127.0.0.1:1/">',
]  # fmt: skip


@fuzz()
@given(
    document=st.sampled_from(_DOCUMENTS),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 4),
                  st.one_of(st.sampled_from(_INSERTS), st.binary(max_size=3))),
        min_size=1, max_size=4,
    ),
    encoding=st.sampled_from([None, "utf-16", "utf-32", "latin-1"]),
)  # fmt: skip
def test_xml_mutated_documents(
    document: bytes, edits: list[tuple[int, int, bytes]], encoding: str | None
) -> None:
    for position, delete, insert in edits:
        position %= len(document) + 1
        document = document[:position] + insert + document[position + delete :]
    if encoding is not None:
        document = document.decode("utf-8", "replace").encode(encoding, "replace")
    try:
        root = parse_xml(document)
    except S3Error as error:
        assert error.code == "MalformedXML"
        return
    # Whatever parsed carries no DTD, so no entity was ever declared or expanded.
    assert root.getroottree().docinfo.internalDTD is None
    for element in root.iter():
        assert "passwd" not in (element.text or "")


@fuzz()
@given(
    method=st.one_of(st.text(max_size=8), st.sampled_from(["GET", "PUT", "MKCOL", "PROPFIND"])),
    path=st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from(["", ".", "..", "b", "%2F", "\x00", "é", "bucket"]),
                 max_size=6).map("/".join),
    ),
    query=st.dictionaries(st.text(max_size=12), st.text(max_size=6), max_size=5),
    host=st.one_of(st.text(max_size=30),
                   st.sampled_from(["..localhost", ".localhost", "a.b.localhost:1", "[::1",
                                    "LOCALHOST.", "b.localhost:abc", "127.0.0.1.localhost"])),
    domain=st.sampled_from(["localhost", "", ".", "s3.example.com"]),
)  # fmt: skip
def test_router_and_validators(
    method: str, path: str, query: dict[str, str], host: str, domain: str
) -> None:
    try:
        route = resolve(method, path, query, host, domain, {"x-amz-copy-source": "/a/b"})
    except S3Error as error:
        assert error.status in (400, 405), error.code
        return
    for check, value in ((validate_bucket_name, route.bucket), (validate_key, route.key)):
        if value is None:
            continue
        try:
            check(value)
        except S3Error as error:
            assert error.status == 400
