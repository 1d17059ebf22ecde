"""The dispatcher of authentication: which scheme a request uses, and its verification.

Authentication happens in two steps so that the caller can look the secret up in between:

    parsed = parse_auth(view)                 # which scheme, which access key; format errors
    secret = <caller looks up parsed.access_key; InvalidAccessKeyId if unknown>
    result = verify_auth(view, parsed, secret, now)   # signature, clock skew, expiry

Both raise only `S3Error` subclasses. Everything here is pure: no I/O, no clock (``now`` is
passed in).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from s3compat.api.auth import sigv2, sigv4
from s3compat.api.auth.model import ANONYMOUS, AuthResult, ParsedAuth, RequestView
from s3compat.api.errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
)

_SIGV4_QUERY_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_SIGV2_QUERY_MARKERS = ("AWSAccessKeyId", "Signature")


def parse_auth(req: RequestView) -> ParsedAuth:
    """Find out which scheme a request uses and parse its claims (no secret needed)."""
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
    if parsed.kind in ("sigv4-header", "sigv4-query"):
        return sigv4.verify(req, parsed, secret, now)
    if parsed.kind in ("sigv2-header", "sigv2-query"):
        return sigv2.verify(req, parsed, secret, now)
    return AuthResult(access_key=None, content_sha256=None, streaming=None)


def check_region(result: AuthResult, allowed: Collection[str], expected: str) -> None:
    """A SigV4 request signed for a region other than `allowed` is refused as S3 refuses it,
    naming the `expected` region (botocore re-signs for the region it is told and retries)."""
    if result.region is None or result.region in allowed:
        return
    if result.presigned:
        error: AuthorizationHeaderMalformed | AuthorizationQueryParametersError = (
            AuthorizationQueryParametersError(
                f"Error parsing the X-Amz-Credential parameter; the region '{result.region}' "
                f"is wrong; expecting '{expected}'",
                Region=expected,
            )
        )
    else:
        error = AuthorizationHeaderMalformed(
            f"The authorization header is malformed; the region '{result.region}' is wrong; "
            f"expecting '{expected}'",
            Region=expected,
        )
    error.headers["x-amz-bucket-region"] = expected
    raise error
