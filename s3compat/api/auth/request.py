"""What authentication needs to know about a request, what it concludes, and the dispatcher.

Authentication happens in two steps so that the caller can look the secret up in between:

    parsed = parse_auth(view)                 # which scheme, which access key; format errors
    secret = <caller looks up parsed.access_key; InvalidAccessKeyId if unknown>
    result = verify_auth(view, parsed, secret, now)   # signature, clock skew, expiry

Both raise only `S3Error` subclasses. Everything here is pure: no I/O, no clock (``now`` is
passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from s3compat.api.errors import InvalidArgument

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


ANONYMOUS = ParsedAuth(kind="anonymous", access_key=None)

_SIGV4_QUERY_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_SIGV2_QUERY_MARKERS = ("AWSAccessKeyId", "Signature")


def parse_auth(req: RequestView) -> ParsedAuth:
    """Find out which scheme a request uses and parse its claims (no secret needed)."""
    # Imported here: sigv4 and sigv2 import the types above from this module.
    from s3compat.api.auth import sigv2, sigv4

    authorization = req.header("Authorization")
    names = {name for name, _ in req.query}
    v4_query = any(marker in names for marker in _SIGV4_QUERY_MARKERS)
    v2_query = any(marker in names for marker in _SIGV2_QUERY_MARKERS)
    if (authorization is not None) + v4_query + v2_query > 1:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
            ArgumentValue=authorization or "",
        )
    if authorization is not None:
        if authorization.startswith(sigv4.ALGORITHM + " "):
            return sigv4.parse_header_auth(req, authorization)
        if authorization.startswith("AWS "):
            return sigv2.parse_header_auth(req, authorization)
        raise InvalidArgument(
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=authorization[:100],
        )
    if v4_query:
        return sigv4.parse_query_auth(req)
    if v2_query:
        return sigv2.parse_query_auth(req)
    return ANONYMOUS


def verify_auth(req: RequestView, parsed: ParsedAuth, secret: str, now: datetime) -> AuthResult:
    """Check a parsed request's signature, clock skew and expiry against ``secret``."""
    from s3compat.api.auth import sigv2, sigv4

    if parsed.kind in ("sigv4-header", "sigv4-query"):
        return sigv4.verify(req, parsed, secret, now)
    if parsed.kind in ("sigv2-header", "sigv2-query"):
        return sigv2.verify(req, parsed, secret, now)
    return AuthResult(access_key=None, content_sha256=None, streaming=None)
