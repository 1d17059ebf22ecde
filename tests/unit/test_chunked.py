"""The aws-chunked decoder: the AWS streaming example, trailers, malformed bodies, fuzzing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import zlib
from collections.abc import Sequence
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3compat.api.auth import sigv4
from s3compat.api.auth.chunked import AwsChunkedReader, chunk_string_to_sign
from s3compat.api.auth.model import StreamingSigning
from s3compat.api.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
EMPTY = hashlib.sha256(b"").hexdigest()
KEY = sigv4.signing_key(SECRET, "20130524", "us-east-1")
SIGNING = StreamingSigning(signing_key=KEY, amz_date=AMZ_DATE, scope=SCOPE, seed_signature=SEED)


class SplitSource:
    """A byte source that never returns more than the next piece (fuzzes read boundaries)."""

    def __init__(self, data: bytes, cuts: Sequence[int] = ()) -> None:
        self._data = data
        self._pos = 0
        self._cuts = sorted({cut for cut in cuts if 0 < cut < len(data)})
        self.reads = 0

    @property
    def consumed(self) -> int:
        return self._pos

    async def read(self, n: int) -> bytes:
        self.reads += 1
        end = min(len(self._data), self._pos + n)
        for cut in self._cuts:
            if self._pos < cut < end:
                end = cut
                break
        piece = self._data[self._pos : end]
        self._pos = end
        return piece


async def decode(reader: AwsChunkedReader, n: int = -1) -> bytes:
    out = bytearray()
    while piece := await reader.read(n):
        assert n < 0 or len(piece) <= n
        out += piece
    assert await reader.read() == b""  # stays at the end
    return bytes(out)


def reader(
    body: bytes,
    *,
    cuts: Sequence[int] = (),
    signing: StreamingSigning | None = SIGNING,
    decoded_length: int | None = None,
    trailers: Sequence[str] = (),
    max_chunk_bytes: int = 16 * 1024 * 1024,
) -> AwsChunkedReader:
    return AwsChunkedReader(
        SplitSource(body, cuts),
        decoded_length=decoded_length,
        signing=signing,
        trailer_names=trailers,
        max_chunk_bytes=max_chunk_bytes,
    )


async def expect(code: str, rdr: AwsChunkedReader) -> S3Error:
    with pytest.raises(S3Error) as caught:
        await decode(rdr)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


# --- independent signing helpers (what a client does) -----------------------------------------


def chunk_signature(previous: str, data: bytes) -> str:
    text = "\n".join(
        (
            "AWS4-HMAC-SHA256-PAYLOAD",
            AMZ_DATE,
            SCOPE,
            previous,
            EMPTY,
            hashlib.sha256(data).hexdigest(),
        )
    )
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def signed_body(chunks: Sequence[bytes], trailers: dict[str, str] | None = None) -> bytes:
    out = bytearray()
    previous = SEED
    for data in [*chunks, b""]:
        previous = chunk_signature(previous, data)
        out += b"%x;chunk-signature=%s\r\n" % (len(data), previous.encode())
        if data:
            out += data + b"\r\n"
    if trailers is None:
        return bytes(out + b"\r\n")
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()))
    text = "\n".join(
        (
            "AWS4-HMAC-SHA256-TRAILER",
            AMZ_DATE,
            SCOPE,
            previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    trailer_signature = hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()
    for name, value in trailers.items():
        out += f"{name}:{value}\r\n".encode()
    out += f"x-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    return bytes(out)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def unsigned_body(chunks: Sequence[bytes], trailer: str | None = "x-amz-checksum-crc32") -> bytes:
    out = bytearray()
    for data in chunks:
        out += b"%x\r\n%s\r\n" % (len(data), data)
    out += b"0\r\n"
    if trailer:
        out += f"{trailer}:{crc32_b64(b''.join(chunks))}\r\n".encode()
    return bytes(out + b"\r\n")


DOC_BODY = signed_body([b"a" * 65536, b"a" * 1024])


# ---------------------------------------------------------------------------------------------
# "Signature Calculation for Streaming Uploads", the S3 documentation's example


def test_doc_example_signatures() -> None:
    assert chunk_string_to_sign(
        AMZ_DATE, SCOPE, SEED, hashlib.sha256(b"a" * 65536).hexdigest()
    ) == (
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        f"{SEED}\n{EMPTY}\n"
        "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a"
    )
    header_lines = [line for line in DOC_BODY.split(b"\r\n") if b"chunk-signature" in line]
    assert header_lines == [
        b"10000;chunk-signature=" + DOC_SIGNATURES[0].encode(),
        b"400;chunk-signature=" + DOC_SIGNATURES[1].encode(),
        b"0;chunk-signature=" + DOC_SIGNATURES[2].encode(),
    ]
    assert len(DOC_BODY) == 66824  # the example's Content-Length


async def test_doc_example_decodes() -> None:
    rdr = reader(DOC_BODY, decoded_length=66560)
    assert await decode(rdr) == b"a" * 66560
    assert rdr.trailers == {}
    assert rdr.decoded_bytes == 66560


@pytest.mark.parametrize("n", [1, 7, 1000, 65536, -1])
async def test_doc_example_small_source_reads_and_small_client_reads(n: int) -> None:
    cuts = [*range(0, len(DOC_BODY), 997), 85, 86, 87, 88, 89, 90]
    assert await decode(reader(DOC_BODY, cuts=cuts, decoded_length=66560), n) == b"a" * 66560


@pytest.mark.parametrize("index", [0, 1, 2])
async def test_doc_example_each_signature_checked(index: int) -> None:
    wrong = DOC_BODY.replace(DOC_SIGNATURES[index].encode(), b"f" * 64)
    error = await expect("SignatureDoesNotMatch", reader(wrong))
    assert error.fields["SignatureProvided"] == "f" * 64
    assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256-PAYLOAD\n")


async def test_tampered_data_and_wrong_seed() -> None:
    tampered = bytearray(DOC_BODY)
    tampered[66000] = ord("b")  # inside the 1024-byte chunk
    await expect("SignatureDoesNotMatch", reader(bytes(tampered)))
    other_seed = StreamingSigning(KEY, AMZ_DATE, SCOPE, "0" * 64)
    await expect("SignatureDoesNotMatch", reader(DOC_BODY, signing=other_seed))


async def test_reordered_chunks_rejected() -> None:
    body = signed_body([b"x" * 10, b"y" * 10])
    first, second, final = body.split(b"\r\n")[0:2], body.split(b"\r\n")[2:4], body[-90:]
    swapped = b"\r\n".join([*second, *first]) + b"\r\n" + final
    await expect("SignatureDoesNotMatch", reader(swapped))


async def test_data_is_streamed_before_the_chunk_is_complete() -> None:
    size = 1024 * 1024
    body = signed_body([b"z" * size])
    source = SplitSource(body, cuts=range(0, len(body), 4096))
    rdr = AwsChunkedReader(source, decoded_length=size, signing=SIGNING)
    first = await rdr.read()
    assert first and len(first) <= 64 * 1024
    assert source.consumed < size // 2  # handed out long before the chunk (and signature) ended
    rest = await decode(rdr)
    assert first + rest == b"z" * size


# ---------------------------------------------------------------------------------------------
# Trailers


async def test_unsigned_trailer_hand_built() -> None:
    body = (
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:"
        + crc32_b64(b"hello world").encode()
        + b"\r\n\r\n"
    )
    assert body == unsigned_body([b"hello", b" world"])
    rdr = reader(body, signing=None, decoded_length=11, trailers=["x-amz-checksum-crc32"])
    assert await decode(rdr) == b"hello world"
    assert rdr.trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


async def test_boto3_https_put_body_decodes() -> None:
    """The body botocore really sends over https: STREAMING-UNSIGNED-PAYLOAD-TRAILER."""
    client = boto3.client(
        "s3",
        endpoint_url="https://127.0.0.1:9000",
        aws_access_key_id="AK",
        aws_secret_access_key="SK",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    seen: list[Any] = []

    class Captured(Exception):
        pass

    def stop(request: Any, **_: Any) -> None:
        seen.append(request)
        raise Captured

    client.meta.events.register("before-send.s3.*", stop)
    payload = bytes(range(256)) * 5000
    with pytest.raises(Captured):
        client.put_object(Bucket="b", Key="k", Body=payload)
    prepared = seen[0]

    def header(name: str) -> str:
        value = prepared.headers[name]
        return value.decode() if isinstance(value, bytes) else str(value)

    assert header("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    body = prepared.body.read()
    trailer_name = header("x-amz-trailer")
    rdr = reader(
        body,
        cuts=range(0, len(body), 3001),
        signing=None,
        decoded_length=int(header("x-amz-decoded-content-length")),
        trailers=[trailer_name],
    )
    assert await decode(rdr) == payload
    assert rdr.trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


async def test_signed_trailer() -> None:
    body = signed_body([b"q" * 9000, b"r" * 10], {"x-amz-checksum-crc32c": "sOO8/Q=="})
    rdr = reader(body, decoded_length=9010, trailers=["x-amz-checksum-crc32c"])
    assert await decode(rdr) == b"q" * 9000 + b"r" * 10
    assert rdr.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    wrong_value = body.replace(b"sOO8/Q==", b"AAAAAA==")
    await expect("SignatureDoesNotMatch", reader(wrong_value, trailers=["x-amz-checksum-crc32c"]))
    no_signature = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    await expect("IncompleteBody", reader(no_signature, trailers=["x-amz-checksum-crc32c"]))


async def test_trailer_rules() -> None:
    body = unsigned_body([b"abc"])
    await expect("InvalidRequest", reader(body, signing=None))  # not announced
    await expect("InvalidRequest", reader(body, signing=None, trailers=["x-amz-checksum-sha256"]))
    missing = unsigned_body([b"abc"], trailer=None)
    await expect("InvalidRequest", reader(missing, signing=None, trailers=["x-amz-checksum-crc32"]))
    twice = body[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    await expect("InvalidRequest", reader(twice, signing=None, trailers=["x-amz-checksum-crc32"]))
    both = body[:-2] + b"x-amz-checksum-sha256:x\r\n\r\n"
    rdr = reader(both, signing=None, trailers=["x-amz-checksum-crc32, x-amz-checksum-sha256"])
    await decode(rdr)
    assert set(rdr.trailers) == {"x-amz-checksum-crc32", "x-amz-checksum-sha256"}
    garbage = body.replace(b"x-amz-checksum-crc32:", b"x-amz-checksum-crc32 ")
    await expect("IncompleteBody", reader(garbage, signing=None, trailers=["x-amz-checksum-crc32"]))


# ---------------------------------------------------------------------------------------------
# Malformed bodies

GOOD_UNSIGNED = b"3\r\nabc\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "IncompleteBody"),  # bad hex
        (b"-3\r\nabc\r\n0\r\n\r\n", "IncompleteBody"),
        (b" 3\r\nabc\r\n0\r\n\r\n", "IncompleteBody"),
        (b"\r\nabc\r\n0\r\n\r\n", "IncompleteBody"),  # empty size
        (b"3\nabc\r\n0\r\n\r\n", "IncompleteBody"),  # bare LF
        (b"3\r\nabcX\r\n0\r\n\r\n", "IncompleteBody"),  # data longer than its size
        (b"3\r\nab", "IncompleteBody"),  # truncated data
        (b"3\r\nabc\r\n0\r\n", "IncompleteBody"),  # no final CRLF
        (b"3;ext=1\r\nabc\r\n0\r\n\r\n", "IncompleteBody"),  # extension in unsigned mode
        (b"3\r\nabc\r\n0\r\n\r\nmore", "IncompleteBody"),  # data after the end
        (b"3\r\nabc\r\n0\r\n\r\n\r\n", "IncompleteBody"),
        (b"1" * 5000 + b"\r\n", "IncompleteBody"),  # endless size line
        (b"11111111111111111\r\n", "IncompleteBody"),  # 17 hex digits
        (b"", "IncompleteBody"),
    ],
)
async def test_malformed_unsigned(body: bytes, code: str) -> None:
    await expect(code, reader(body, signing=None))


async def test_every_truncation_is_incomplete_body() -> None:
    for body, signing in ((GOOD_UNSIGNED, None), (signed_body([b"abc", b"de"]), SIGNING)):
        for cut in range(len(body)):
            await expect("IncompleteBody", reader(body[:cut], signing=signing))


async def test_signed_extension_rules() -> None:
    body = signed_body([b"abc"])
    for broken in (
        body.replace(b";chunk-signature=", b";chunk-signatur="),
        body.replace(b";chunk-signature=", b";chunk-signature=x", 1),
        body.replace(b"3;chunk", b"3", 1).replace(b"-signature=", b"", 1),
        body.replace(b"3;", b"3;;", 1),
        body.replace(b";chunk-signature=", b"; chunk-signature=", 1),
    ):
        await expect("IncompleteBody", reader(broken))
    upper = body.replace(body[19:83], body[19:83].upper(), 1)
    await expect("IncompleteBody", reader(upper))
    await expect("IncompleteBody", reader(GOOD_UNSIGNED))  # signed mode needs signatures


async def test_lengths_and_limits() -> None:
    await expect("IncompleteBody", reader(GOOD_UNSIGNED, signing=None, decoded_length=4))
    await expect("InvalidRequest", reader(GOOD_UNSIGNED, signing=None, decoded_length=2))
    await expect("InvalidRequest", reader(GOOD_UNSIGNED, signing=None, max_chunk_bytes=2))
    assert await decode(reader(GOOD_UNSIGNED, signing=None, decoded_length=3)) == b"abc"
    huge = b"ffffffffffffffff\r\n"
    await expect("InvalidRequest", reader(huge, signing=None))


async def test_errors_are_sticky_and_zero_reads() -> None:
    rdr = reader(b"zz\r\n", signing=None)
    assert await rdr.read(0) == b""
    with pytest.raises(S3Error):
        await rdr.read()
    with pytest.raises(S3Error):
        await rdr.read()


# ---------------------------------------------------------------------------------------------
# Fuzz


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
    n=st.sampled_from([-1, 1, 3, 64, 1000]),
    signed=st.booleans(),
)
def test_fuzz_any_split_decodes_the_same(
    chunks: list[bytes], cuts: list[int], n: int, signed: bool
) -> None:
    payload = b"".join(chunks)
    if signed:
        body = signed_body(chunks, {"x-amz-checksum-crc32": crc32_b64(payload)})
        signing: StreamingSigning | None = SIGNING
    else:
        body = unsigned_body(chunks)
        signing = None
    rdr = reader(
        body,
        cuts=cuts,
        signing=signing,
        decoded_length=len(payload),
        trailers=["x-amz-checksum-crc32"],
    )
    assert run(decode(rdr, n)) == payload
    assert rdr.trailers == {"x-amz-checksum-crc32": crc32_b64(payload)}


FRAGMENTS = [
    b"\r\n",
    b"\r",
    b"\n",
    b"0",
    b"3",
    b"ff",
    b";",
    b";chunk-signature=",
    b"a" * 64,
    b"abc",
    b"x-amz-checksum-crc32:",
    b"x-amz-trailer-signature:",
    b":",
    b"\x00\xff",
]


@settings(max_examples=400, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.lists(st.sampled_from(FRAGMENTS), max_size=20).map(b"".join),
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
    signed=st.booleans(),
    decoded_length=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    trailers=st.sampled_from([(), ("x-amz-checksum-crc32",)]),
)
def test_fuzz_garbage_raises_only_s3_errors(
    body: bytes,
    cuts: list[int],
    signed: bool,
    decoded_length: int | None,
    trailers: tuple[str, ...],
) -> None:
    rdr = reader(
        body,
        cuts=cuts,
        signing=SIGNING if signed else None,
        decoded_length=decoded_length,
        trailers=trailers,
        max_chunk_bytes=1000,
    )
    try:
        run(decode(rdr, 7))
    except S3Error:
        pass


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=10_000),
    replacement=st.binary(max_size=3),
    signed=st.booleans(),
)
def test_fuzz_mutated_valid_bodies(position: int, replacement: bytes, signed: bool) -> None:
    chunks = [b"hello", b"world!"]
    if signed:
        body = signed_body(chunks, {"x-amz-checksum-crc32": crc32_b64(b"helloworld!")})
    else:
        body = unsigned_body(chunks)
    position %= len(body)
    mutated = body[:position] + replacement + body[position + 1 :]
    rdr = reader(
        mutated,
        signing=SIGNING if signed else None,
        decoded_length=11,
        trailers=["x-amz-checksum-crc32"],
    )
    try:
        result = run(decode(rdr))
    except S3Error:
        return
    # Accepted mutations cannot change the payload when it is signed.
    if signed:
        assert result == b"helloworld!"
