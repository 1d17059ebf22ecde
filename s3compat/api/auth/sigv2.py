"""AWS Signature Version 2 for S3 (HMAC-SHA1): ``Authorization: AWS AKID:sig`` and presigned
query URLs (``AWSAccessKeyId``, ``Signature``, ``Expires``).

Some SDK configurations still produce SigV2 presigned URLs, and older tools (s3cmd with
``signature_v2``) sign headers with it, so we verify it; new code should prefer SigV4.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from s3compat.api.auth.model import AuthResult, ParsedAuth, RequestView
from s3compat.api.auth.sigv4 import (
    MAX_SKEW_SECONDS,
    check_signature,
    format_iso8601,
    parse_amz_date,
)
from s3compat.api.errors import (
    AccessDenied,
    ExpiredToken,
    InvalidArgument,
    RequestTimeTooSkewed,
)
from s3compat.api.xml import parse_http_date

# Query parameters that are part of the signed resource (the list botocore's HmacV1Auth signs,
# which is the S3 documentation's list plus later additions).
SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


def canonical_resource(req: RequestView) -> str:
    """``[/bucket]/path[?subresources]`` with the path as sent on the wire."""
    resource = req.raw_path or "/"
    if req.virtual_host_bucket:
        resource = "/" + req.virtual_host_bucket + resource
    # Sorted by name only; repeated names keep their wire order.
    subresources = sorted(
        ((name, value) for name, value in req.query if name in SIGNED_SUBRESOURCES),
        key=lambda pair: pair[0],
    )
    if subresources:
        resource += "?" + "&".join(
            f"{name}={value}" if value else name for name, value in subresources
        )
    return resource


def _amz_headers(req: RequestView, *, from_query: bool) -> dict[str, str]:
    collected: dict[str, list[str]] = {}
    for name in req.headers:
        lowered = name.lower()
        if lowered.startswith("x-amz-") and lowered not in collected:
            collected[lowered] = [value.strip() for value in req.header_values(lowered)]
    if from_query:
        # A presigned URL carries the x-amz-* headers it signed as query parameters.
        for name, value in req.query:
            lowered = name.lower()
            if lowered.startswith("x-amz-"):
                collected.setdefault(lowered, []).append(value.strip())
    return {name: ",".join(values) for name, values in collected.items()}


def _bucket_only(req: RequestView) -> bool:
    """A path-style request to a bucket itself: `/bucket` (with or without a query)."""
    path = req.raw_path
    return not req.virtual_host_bucket and path.count("/") == 1 and len(path) > 1


def string_to_sign(req: RequestView, *, presigned: bool, date_line: str) -> str:
    """The SigV2 string to sign; ``date_line`` is the Date value (or Expires, presigned)."""

    def standard(name: str) -> str:
        value = req.header(name)
        if value is None and presigned:
            value = req.query_value(name.lower())
        return (value or "").strip()

    amz = _amz_headers(req, from_query=presigned)
    lines = [req.method.upper(), standard("Content-MD5"), standard("Content-Type"), date_line]
    lines.extend(f"{name}:{amz[name]}" for name in sorted(amz))
    lines.append(canonical_resource(req))
    return "\n".join(lines)


def sign(secret: str, text: str) -> str:
    """Base64 HMAC-SHA1 of ``text`` under ``secret``."""
    # Header bytes that are not UTF-8 reach us surrogate-escaped: sign the bytes as sent.
    digest = hmac.new(
        secret.encode("utf-8"), text.encode("utf-8", "surrogateescape"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_header_auth(req: RequestView, authorization: str) -> ParsedAuth:
    """Parse ``Authorization: AWS AKID:signature``."""
    access_key, sep, signature = authorization[len("AWS ") :].strip().rpartition(":")
    if not sep or not access_key or not signature:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=authorization[:100],
        )
    amz_date = req.header("x-amz-date")
    date = req.header("Date")
    text = amz_date if amz_date is not None else date
    request_time = None
    if text is not None:
        request_time = parse_http_date(text) or parse_amz_date(text.strip())
    if request_time is None or text is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    return ParsedAuth(
        kind="sigv2-header",
        access_key=access_key,
        signature=signature,
        request_time=request_time,
        request_time_text=text,
    )


def parse_query_auth(req: RequestView) -> ParsedAuth:
    """Parse ``?AWSAccessKeyId=...&Signature=...&Expires=...``."""
    access_key = req.query_value("AWSAccessKeyId")
    signature = req.query_value("Signature")
    expires = req.query_value("Expires")
    if not access_key or not signature or expires is None:
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters"
        )
    if not re.fullmatch(r"\d{1,12}", expires):
        raise AccessDenied(f"Invalid date (should be seconds since epoch): {expires[:40]}")
    return ParsedAuth(
        kind="sigv2-query",
        access_key=access_key,
        signature=signature,
        request_time_text=expires,
        expires=int(expires),
    )


def verify(req: RequestView, parsed: ParsedAuth, secret: str, now: datetime) -> AuthResult:
    """Verify a SigV2 request parsed by `parse_header_auth` or `parse_query_auth`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if parsed.kind == "sigv2-query":
        assert parsed.expires is not None
        if now.timestamp() > parsed.expires:
            raise ExpiredToken(
                Expires=format_iso8601(datetime.fromtimestamp(parsed.expires, UTC)),
                ServerTime=format_iso8601(now),
            )
        # The Expires text exactly as sent takes the Date line's place.
        date_line = parsed.request_time_text
    else:
        assert parsed.request_time is not None
        if abs((now - parsed.request_time).total_seconds()) > MAX_SKEW_SECONDS:
            raise RequestTimeTooSkewed(
                RequestTime=parsed.request_time_text,
                ServerTime=format_iso8601(now),
                MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
            )
        # With x-amz-date present the Date line is empty (x-amz-date is signed as an amz header).
        date_line = "" if req.header("x-amz-date") is not None else (req.header("Date") or "")
        date_line = date_line.strip()
    to_sign = string_to_sign(req, presigned=parsed.kind == "sigv2-query", date_line=date_line)
    if _bucket_only(req) and not hmac.compare_digest(
        sign(secret, to_sign).encode(), parsed.signature.encode("utf-8", "replace")
    ):
        # botocore's SigV2 signer signs a path-style bucket request (CreateBucket,
        # PutBucketCors, ...) as "/bucket/" and sends "/bucket": both name the same resource.
        resource = canonical_resource(req)
        head, bucket = to_sign[: -len(resource)], req.raw_path
        to_sign = head + bucket + "/" + resource[len(bucket) :]
    to_sign_bytes = to_sign.encode("utf-8", "surrogateescape")
    check_signature(
        sign(secret, to_sign),
        parsed,
        to_sign,
        StringToSignBytes=" ".join(f"{byte:02x}" for byte in to_sign_bytes),
    )
    return AuthResult(access_key=parsed.access_key, content_sha256=None, streaming=None)
