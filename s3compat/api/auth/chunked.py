"""The ``aws-chunked`` body decoder (``Content-Encoding: aws-chunked``).

Wire format, one chunk after another, then trailers (only in the ``-TRAILER`` modes)::

    <hex size>[;chunk-signature=<64 hex>]\\r\\n <size bytes> \\r\\n
    ...
    0[;chunk-signature=<64 hex>]\\r\\n
    [<trailer name>:<value>\\r\\n ...]
    [x-amz-trailer-signature:<64 hex>\\r\\n]          (signed-trailer mode only)
    \\r\\n

Signed chunks chain: each chunk's signature is HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD",
date, scope, previous signature, sha256(""), sha256(chunk data)), starting from the seed
signature of the request; the trailer signature continues the chain from the final (empty)
chunk with "AWS4-HMAC-SHA256-TRAILER" and sha256 of the canonical trailers.

Error codes: S3 answers ``IncompleteBody`` both for truncated bodies and for malformed framing
(bad size line, missing CRLF, malformed chunk-signature extension), so we do the same; a
well-formed but wrong signature is ``SignatureDoesNotMatch``. Limits and semantic errors (a
chunk above ``max_chunk_bytes``, more bytes than ``x-amz-decoded-content-length``, a trailer
that was not announced in ``x-amz-trailer`` or an announced one that never came) are
``InvalidRequest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Literal, Protocol

from s3compat.api.auth.model import StreamingSigning
from s3compat.api.errors import IncompleteBody, InvalidRequest, S3Error, SignatureDoesNotMatch

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TRAILER_SIGNATURE = "x-amz-trailer-signature"

READ_BYTES = 64 * 1024
MAX_LINE_BYTES = 4096  # a chunk header or trailer line; real ones are < 200 bytes
MAX_TRAILERS = 32

_SIZE_RE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE_RE = re.compile(rb";chunk-signature=([0-9a-f]{64})")
_TRAILER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TRUNCATED = "The request body terminated unexpectedly"


class ByteSource(Protocol):
    """Anything with ``async read(n)`` returning up to n bytes, b"" at EOF."""

    async def read(self, n: int) -> bytes: ...


def chunk_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, chunk_sha256: str
) -> str:
    """The string to sign of one chunk (``chunk_sha256``: hex digest of its data)."""
    return "\n".join(
        (
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            previous_signature,
            EMPTY_SHA256,
            chunk_sha256,
        )
    )


def canonical_trailers(trailers: dict[str, str]) -> str:
    """``name:value\\n`` per trailer, sorted by (lower-case) name, as the SDKs sign them."""
    return "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))


def trailer_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, trailers: dict[str, str]
) -> str:
    """The string to sign of the trailer block."""
    digest = hashlib.sha256(canonical_trailers(trailers).encode("utf-8")).hexdigest()
    return "\n".join(("AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous_signature, digest))


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# Where the decoder is: header -> data -> data-end -> header ... -> trailers -> done.
_Phase = Literal["header", "data", "data-end", "trailers", "done"]


class AwsChunkedReader:
    """Decode an aws-chunked body incrementally, verifying signatures as chunks complete.

    Memory stays bounded by ``READ_BYTES`` plus one header line: chunk data is handed out as it
    arrives, before the chunk is complete. The chunk's signature covers the whole chunk, so the
    data of a chunk still in flight has not been verified yet when it is returned; that is safe
    because the gateway only commits an object after `read` returned b"" (every signature,
    length and trailer verified) and discards everything on any error before that.
    """

    def __init__(
        self,
        source: ByteSource,
        *,
        decoded_length: int | None,
        signing: StreamingSigning | None,
        trailer_names: Sequence[str] = (),
        max_chunk_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._source = source
        self._decoded_length = decoded_length
        self._signing = signing
        # Names as listed in x-amz-trailer; a raw comma-separated header value works too.
        self._announced = {
            name.strip().lower()
            for names in trailer_names
            for name in names.split(",")
            if name.strip()
        }
        # Signed payload + announced trailers = STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.
        self._signed_trailer = signing is not None and bool(self._announced)
        self._max_chunk_bytes = max_chunk_bytes
        self._buffer = bytearray()
        self._previous_signature = signing.seed_signature if signing else ""
        self._state: _Phase = "header"
        self._chunk_remaining = 0
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._decoded_bytes = 0
        self._error: S3Error | None = None
        self.trailers: dict[str, str] = {}

    @property
    def decoded_bytes(self) -> int:
        """How many payload bytes were decoded so far."""
        return self._decoded_bytes

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decoded bytes (-1: the next piece, never the whole body); b"" at the end."""
        if self._error is not None:
            raise self._error
        try:
            return await self._read(n)
        except S3Error as error:
            self._error = error
            raise

    async def _read(self, n: int) -> bytes:
        if n == 0:
            return b""
        while True:
            if self._state == "done":
                return b""
            if self._state == "header":
                await self._read_chunk_header()
            elif self._state == "data":
                return await self._read_data(n)
            elif self._state == "data-end":
                await self._expect_crlf()
                self._state = "header"
            else:  # trailers
                await self._read_trailers()
                await self._finish()

    # --- framing -------------------------------------------------------------------------------

    async def _fill(self, want: int) -> bool:
        """Read more from the source (at most ``want`` bytes); False at EOF."""
        data = await self._source.read(max(1, want))
        if not data:
            return False
        self._buffer += data
        return True

    async def _read_line(self) -> bytes:
        """The next CRLF-terminated line, without its CRLF."""
        searched = 0
        while True:
            end = self._buffer.find(b"\r\n", max(0, searched - 1), MAX_LINE_BYTES + 2)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            searched = len(self._buffer)
            if searched >= MAX_LINE_BYTES + 2:
                raise IncompleteBody(f"{_TRUNCATED}: aws-chunked line longer than {MAX_LINE_BYTES}")
            if not await self._fill(READ_BYTES):
                raise IncompleteBody(_TRUNCATED)

    async def _expect_crlf(self) -> None:
        while len(self._buffer) < 2:
            if not await self._fill(2 - len(self._buffer)):
                raise IncompleteBody(_TRUNCATED)
        if self._buffer[:2] != b"\r\n":
            raise IncompleteBody(f"{_TRUNCATED}: chunk data not followed by CRLF")
        del self._buffer[:2]

    async def _read_chunk_header(self) -> None:
        line = await self._read_line()
        size_text, sep, extension = line.partition(b";")
        if not _SIZE_RE.fullmatch(size_text):
            raise IncompleteBody(f"{_TRUNCATED}: invalid chunk size line")
        size = int(size_text, 16)
        if self._signing is not None:
            match = _SIGNATURE_RE.fullmatch(sep + extension)
            if match is None:
                raise IncompleteBody(f"{_TRUNCATED}: missing or malformed chunk-signature")
            self._chunk_signature = match.group(1).decode("ascii")
        elif sep:
            raise IncompleteBody(f"{_TRUNCATED}: unexpected chunk extension in unsigned payload")
        if size > self._max_chunk_bytes:
            raise InvalidRequest(
                f"aws-chunked chunk of {size} bytes exceeds the maximum of "
                f"{self._max_chunk_bytes} bytes"
            )
        if size == 0:
            self._verify_chunk(EMPTY_SHA256)
            self._state = "trailers"
            return
        if self._decoded_length is not None and self._decoded_bytes + size > self._decoded_length:
            raise _too_long(self._decoded_length)
        self._chunk_remaining = size
        self._chunk_hash = hashlib.sha256()
        self._state = "data"

    async def _read_data(self, n: int) -> bytes:
        if not self._buffer and not await self._fill(min(self._chunk_remaining, READ_BYTES)):
            raise IncompleteBody(_TRUNCATED)
        take = min(len(self._buffer), self._chunk_remaining)
        if n > 0:
            take = min(take, n)
        data = bytes(self._buffer[:take])
        del self._buffer[:take]
        self._chunk_remaining -= take
        self._decoded_bytes += take
        if self._signing is not None:
            self._chunk_hash.update(data)
        if self._chunk_remaining == 0:
            # Verified before the chunk's last piece is handed out.
            self._verify_chunk(self._chunk_hash.hexdigest())
            self._state = "data-end"
        return data

    async def _read_trailers(self) -> None:
        received: dict[str, str] = {}
        trailer_signature: str | None = None
        while True:
            line = await self._read_line()
            if not line:
                break
            if trailer_signature is not None:
                raise IncompleteBody(f"{_TRUNCATED}: trailer after x-amz-trailer-signature")
            if len(received) >= MAX_TRAILERS:
                raise InvalidRequest("Too many trailing headers")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise IncompleteBody(f"{_TRUNCATED}: trailer is not UTF-8") from None
            name, sep, value = text.partition(":")
            name = name.strip().lower()
            if not sep or not _TRAILER_NAME_RE.fullmatch(name):
                raise IncompleteBody(f"{_TRUNCATED}: malformed trailer line")
            value = value.strip()
            if name == TRAILER_SIGNATURE and self._signed_trailer:
                trailer_signature = value
                continue
            if name not in self._announced:
                raise InvalidRequest(
                    f"The trailing header {name} was not announced in x-amz-trailer"
                )
            if name in received:
                raise InvalidRequest(f"The trailing header {name} was sent twice")
            received[name] = value
        missing = sorted(self._announced - received.keys())
        if missing:
            raise InvalidRequest(
                f"The trailing header {', '.join(missing)} announced in x-amz-trailer was not sent"
            )
        if self._signed_trailer:
            if trailer_signature is None:
                raise IncompleteBody(f"{_TRUNCATED}: missing x-amz-trailer-signature")
            self._verify_trailers(received, trailer_signature)
        self.trailers = received

    async def _finish(self) -> None:
        if self._buffer or await self._fill(1):
            raise IncompleteBody(f"{_TRUNCATED}: data after the end of the aws-chunked body")
        if self._decoded_length is not None and self._decoded_bytes < self._decoded_length:
            raise IncompleteBody(
                f"You did not provide the number of bytes specified by the "
                f"x-amz-decoded-content-length HTTP header ({self._decoded_bytes} of "
                f"{self._decoded_length})"
            )
        self._state = "done"

    # --- signatures ----------------------------------------------------------------------------

    def _verify_chunk(self, chunk_sha256: str) -> None:
        signing = self._signing
        if signing is None:
            return
        to_sign = chunk_string_to_sign(
            signing.amz_date, signing.scope, self._previous_signature, chunk_sha256
        )
        expected = _hmac_hex(signing.signing_key, to_sign)
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(
                StringToSign=to_sign, SignatureProvided=self._chunk_signature
            )
        self._previous_signature = expected

    def _verify_trailers(self, trailers: dict[str, str], provided: str) -> None:
        signing = self._signing
        assert signing is not None
        to_sign = trailer_string_to_sign(
            signing.amz_date, signing.scope, self._previous_signature, trailers
        )
        expected = _hmac_hex(signing.signing_key, to_sign)
        if not hmac.compare_digest(expected.encode(), provided.encode("utf-8")):
            raise SignatureDoesNotMatch(StringToSign=to_sign, SignatureProvided=provided)


def _too_long(decoded_length: int) -> S3Error:
    return InvalidRequest(
        f"The aws-chunked body holds more than the {decoded_length} bytes declared in "
        "x-amz-decoded-content-length"
    )
