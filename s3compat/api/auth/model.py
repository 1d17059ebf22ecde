"""The types authentication passes between its steps: the request as signatures see it, what
it claims before the secret is known (`ParsedAuth`), and what verification concludes.

Their own module so that the schemes (`sigv2`, `sigv4`, `chunked`) and the dispatcher in
`request.py` all import them without importing each other in a circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

AuthKind = Literal["anonymous", "sigv4-header", "sigv4-query", "sigv2-header", "sigv2-query"]


@dataclass(frozen=True)
class RequestView:
    """The parts of an HTTP request that signatures cover, as the gateway received them."""

    method: str
    # The path exactly as on the wire (still percent-encoded), without the query.
    raw_path: str
    # Percent-decoded (name, value) pairs in wire order; a flag like "?acl" is ("acl", "").
    query: Sequence[tuple[str, str]]
    # Case-insensitive (aiohttp CIMultiDictProxy / CIMultiDict); repeated headers via getall.
    headers: Mapping[str, str]
    # The Host header value.
    host: str
    # SigV2 only: the bucket the router took from Host for a virtual-hosted-style request
    # (None for path style). SigV2 signs "/bucket/key" even when the bucket is in the Host.
    virtual_host_bucket: str | None = None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in wire order."""
        getall = getattr(self.headers, "getall", None)
        if getall is not None:
            values: list[str] = list(getall(name, []))
            return values
        lowered = name.lower()
        return [value for key, value in self.headers.items() if key.lower() == lowered]

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (case-sensitive), or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class ParsedAuth:
    """What a request claims about its authentication, before the secret is known."""

    kind: AuthKind
    access_key: str | None
    signature: str = ""
    # SigV4: the request timestamp in ISO 8601 basic form ("20130524T000000Z") as signed.
    amz_date: str = ""
    # SigV4: "20130524/us-east-1/s3/aws4_request".
    scope: str = ""
    # SigV4: the SignedHeaders list, lower-case, in the order the client gave it.
    signed_headers: tuple[str, ...] = ()
    # The request time (SigV4 both forms; SigV2 header form), timezone-aware UTC.
    request_time: datetime | None = None
    # The date header value as the client sent it, for RequestTimeTooSkewed's RequestTime.
    request_time_text: str = ""
    # sigv4-query: X-Amz-Expires in seconds. sigv2-query: Expires in epoch seconds.
    expires: int | None = None
    # sigv4-header: the x-amz-content-sha256 value (lower-cased if it is a hex digest).
    content_sha256: str | None = None

    @property
    def region(self) -> str:
        """The region of a SigV4 credential scope ("" for other kinds)."""
        parts = self.scope.split("/")
        return parts[1] if len(parts) == 4 else ""


@dataclass(frozen=True)
class StreamingSigning:
    """What the aws-chunked decoder needs to verify chunk and trailer signatures."""

    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str


@dataclass(frozen=True)
class AuthResult:
    """The outcome of a successful verification."""

    access_key: str | None  # None for anonymous
    # The x-amz-content-sha256 value: a hex digest, "UNSIGNED-PAYLOAD" or "STREAMING-...";
    # None for SigV2 and anonymous requests.
    content_sha256: str | None
    # Set for STREAMING-AWS4-HMAC-SHA256-PAYLOAD and STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.
    streaming: StreamingSigning | None
    # SigV4: the region the request was signed for, and whether it was a presigned URL.
    region: str | None = None
    presigned: bool = False


ANONYMOUS = ParsedAuth(kind="anonymous", access_key=None)
