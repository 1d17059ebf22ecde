"""AWS Signature Version 4 for S3: canonicalisation and verification, header and presigned forms.

S3's flavour of SigV4 differs from the generic one in two ways that matter here: the path is not
normalised (no "." / ".." / "//" removal) and it is URI-encoded once, not twice. We rebuild the
canonical URI from the wire path by decoding each segment and re-encoding it AWS-style, so a key
with spaces, "+", "~", "%" or non-ASCII characters canonicalises the way the SDKs sign it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote_to_bytes

from s3compat.api.auth.model import (
    AuthResult,
    ParsedAuth,
    RequestView,
    StreamingSigning,
)
from s3compat.api.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    ExpiredToken,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
    Unimplemented,
)
from s3compat.api.xml import parse_http_date

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_ECDSA_MODES = (
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
)
_KNOWN_PAYLOAD_LITERALS = (
    UNSIGNED_PAYLOAD,
    STREAMING_PAYLOAD,
    STREAMING_PAYLOAD_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
)
SIGNED_STREAMING_MODES = (STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER)

MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_EXPIRES_SECONDS = 7 * 24 * 3600  # 604800

_AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
_HEX_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_QUERY_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_CREDENTIAL_FORMAT = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'


# ---------------------------------------------------------------------------------------------
# Pure canonicalisation


def uri_encode(value: str | bytes) -> str:
    """Percent-encode everything but ``A-Za-z0-9-._~`` (UTF-8), as SigV4 requires."""
    return quote(value, safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a wire path: each segment decoded once, then re-encoded AWS-style.

    Segments are split on literal "/" before decoding, so an encoded "%2F" stays inside its
    segment. Nothing is normalised: "//", "." and ".." are kept as S3 signs them.
    """
    if not raw_path:
        return "/"
    return "/".join(uri_encode(unquote_to_bytes(segment)) for segment in raw_path.split("/"))


# The one x-amz-* header a presigned request may carry without signing it.
PRESIGNED_UNSIGNED_OK = "x-amz-content-sha256"


def canonical_query(query: Sequence[tuple[str, str]], *, presigned: bool = False) -> str:
    """Encoded ``name=value`` pairs sorted by encoded name then value, joined with "&"."""
    pairs = sorted(
        (uri_encode(name), uri_encode(value))
        for name, value in query
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def _trim_all(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(req: RequestView, signed_headers: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header (values trimmed, repeats joined with ",")."""
    lines = []
    for name in signed_headers:
        values = [req.host] if name == "host" else req.header_values(name)
        lines.append(f"{name}:{','.join(_trim_all(value) for value in values)}\n")
    return "".join(lines)


def canonical_request(
    req: RequestView, signed_headers: Sequence[str], payload_hash: str, *, presigned: bool
) -> str:
    """The SigV4 canonical request of ``req``."""
    return "\n".join(
        (
            req.method.upper(),
            canonical_uri(req.raw_path),
            canonical_query(req.query, presigned=presigned),
            canonical_headers(req, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical_request_text: str) -> str:
    """The SigV4 string to sign for a canonical request."""
    # Header bytes that are not UTF-8 reach us surrogate-escaped: hash the bytes as sent.
    digest = hashlib.sha256(canonical_request_text.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The derived key: HMAC chain over date, region, service and "aws4_request"."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(key: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` under ``key``."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def format_iso8601(moment: datetime) -> str:
    """``2013-05-24T00:00:00Z``, as S3 shows times in error documents."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_amz_date(text: str) -> datetime | None:
    """Parse ``20130524T000000Z``; None if it is not exactly that form."""
    if not _AMZ_DATE_RE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Parsing (no secret needed)


def parse_credential(credential: str, error: type[S3Error]) -> tuple[str, str, str]:
    """Split ``AKID/date/region/service/aws4_request`` into (access key, scope date, region)."""
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not parts[0]:
        raise error(
            f"The credential is mal-formed; expecting {_CREDENTIAL_FORMAT}.",
        )
    access_key, date, region, service, terminator = parts
    if not re.fullmatch(r"\d{8}", date) or parse_amz_date(date + "T000000Z") is None:
        raise error(f'Invalid credential date "{date}". This date is not the same as X-Amz-Date.')
    if not region:
        raise error(f"The credential is mal-formed; expecting {_CREDENTIAL_FORMAT}.")
    if service != SERVICE:
        raise error(
            f'The credential is mal-formed; incorrect service "{service}". '
            f'This endpoint belongs to "{SERVICE}".'
        )
    if terminator != TERMINATOR:
        raise error(
            f'The credential is mal-formed; incorrect terminal "{terminator}". '
            f'This endpoint uses "{TERMINATOR}".'
        )
    return access_key, date, region


def _parse_signed_headers(text: str, error: type[S3Error]) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if not text or any(not name or name != name.lower().strip() for name in names):
        raise error(f"Invalid SignedHeaders list: {text!r}.")
    if "host" not in names:
        raise error("The host header must be signed (SignedHeaders must include host).")
    return names


def _check_content_sha256(value: str) -> str:
    """Validate an x-amz-content-sha256 value; hex digests are returned lower-cased."""
    if value in _KNOWN_PAYLOAD_LITERALS:
        return value
    if value in _ECDSA_MODES:
        raise Unimplemented(f"{value} (SigV4a) is not implemented.")
    if _HEX_SHA256_RE.fullmatch(value):
        return value.lower()
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value[:100],
    )


def _check_amz_headers_signed(
    req: RequestView, signed_headers: Sequence[str], exempt: Sequence[str] = ()
) -> None:
    """Refuse unsigned x-amz-* headers: a proxy, or the holder of a presigned URL, could
    otherwise add e.g. x-amz-copy-source or x-amz-acl to what the signer allowed."""
    signed = {*signed_headers, *exempt}
    unsigned = sorted(
        {
            name.lower()
            for name in req.headers
            if name.lower().startswith("x-amz-") and name.lower() not in signed
        }
    )
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def parse_header_auth(req: RequestView, authorization: str) -> ParsedAuth:
    """Parse ``Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..``."""
    components: dict[str, str] = {}
    for component in authorization[len(ALGORITHM) + 1 :].split(","):
        name, sep, value = component.strip().partition("=")
        if not sep or name in components:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; the authorization component "
                f'"{component.strip()[:100]}" is malformed.'
            )
        components[name] = value
    missing = [key for key in ("Credential", "SignedHeaders", "Signature") if key not in components]
    if missing or len(components) != 3:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; it must contain exactly Credential, "
            "SignedHeaders and Signature."
        )
    access_key, scope_date, region = parse_credential(
        components["Credential"], AuthorizationHeaderMalformed
    )
    signed_headers = _parse_signed_headers(
        components["SignedHeaders"], AuthorizationHeaderMalformed
    )
    if not components["Signature"]:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; empty Signature."
        )

    amz_date_header = req.header("x-amz-date")
    date_header = req.header("Date")
    if amz_date_header is not None:
        request_time, time_text = parse_amz_date(amz_date_header.strip()), amz_date_header
    elif date_header is not None:
        request_time, time_text = parse_http_date(date_header), date_header
    else:
        request_time, time_text = None, ""
    if request_time is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    amz_date = request_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if amz_date[:8] != scope_date:
        raise AuthorizationHeaderMalformed(
            f'The authorization header is malformed; Invalid credential date "{scope_date}". '
            "This date is not the same as X-Amz-Date."
        )

    content_sha256 = req.header("x-amz-content-sha256")
    if content_sha256 is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    content_sha256 = _check_content_sha256(content_sha256.strip())
    _check_amz_headers_signed(req, signed_headers)
    return ParsedAuth(
        kind="sigv4-header",
        access_key=access_key,
        signature=components["Signature"],
        amz_date=amz_date,
        scope=f"{scope_date}/{region}/{SERVICE}/{TERMINATOR}",
        signed_headers=signed_headers,
        request_time=request_time,
        request_time_text=time_text,
        content_sha256=content_sha256,
    )


def parse_query_auth(req: RequestView) -> ParsedAuth:
    """Parse a presigned URL's ``X-Amz-*`` query parameters."""
    params = {name: req.query_value(name) for name in _QUERY_PARAMS}
    algorithm = params["X-Amz-Algorithm"]
    if algorithm is not None and algorithm != ALGORITHM:
        raise AuthorizationQueryParametersError(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    found = {name: value for name, value in params.items() if value is not None}
    if len(found) != len(_QUERY_PARAMS):
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    access_key, scope_date, region = parse_credential(
        found["X-Amz-Credential"], AuthorizationQueryParametersError
    )
    request_time = parse_amz_date(found["X-Amz-Date"])
    if request_time is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    if found["X-Amz-Date"][:8] != scope_date:
        raise AuthorizationQueryParametersError(
            f'Invalid credential date "{scope_date}". This date is not the same as X-Amz-Date.'
        )
    expires_text = found["X-Amz-Expires"]
    if not re.fullmatch(r"-?\d{1,12}", expires_text):
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires < 0:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES_SECONDS:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    signed_headers = _parse_signed_headers(
        found["X-Amz-SignedHeaders"], AuthorizationQueryParametersError
    )
    if not found["X-Amz-Signature"]:
        raise AuthorizationQueryParametersError("X-Amz-Signature must not be empty")
    header_sha256 = req.header("x-amz-content-sha256")
    content_sha256 = (
        UNSIGNED_PAYLOAD if header_sha256 is None else _check_content_sha256(header_sha256.strip())
    )
    # As AWS: x-amz-content-sha256 may come unsigned (it is the payload hash of the canonical
    # request: a value the signer did not use fails the signature); no other x-amz-* header.
    _check_amz_headers_signed(req, signed_headers, exempt=(PRESIGNED_UNSIGNED_OK,))
    return ParsedAuth(
        kind="sigv4-query",
        access_key=access_key,
        signature=found["X-Amz-Signature"],
        amz_date=found["X-Amz-Date"],
        scope=f"{scope_date}/{region}/{SERVICE}/{TERMINATOR}",
        signed_headers=signed_headers,
        request_time=request_time,
        request_time_text=found["X-Amz-Date"],
        expires=expires,
        content_sha256=content_sha256,
    )


# ---------------------------------------------------------------------------------------------
# Verification


def _check_time(parsed: ParsedAuth, now: datetime) -> None:
    assert parsed.request_time is not None  # set by both parsers
    now = _aware(now)
    if parsed.kind == "sigv4-header":
        if abs((now - parsed.request_time).total_seconds()) > MAX_SKEW_SECONDS:
            raise RequestTimeTooSkewed(
                RequestTime=parsed.request_time_text,
                ServerTime=format_iso8601(now),
                MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
            )
        return
    assert parsed.expires is not None
    if (parsed.request_time - now).total_seconds() > MAX_SKEW_SECONDS:
        raise AccessDenied("Request is not yet valid")
    expiry = parsed.request_time + timedelta(seconds=parsed.expires)
    # X-Amz-Expires=0 passes S3's check ("must be non-negative"): the URL expired when it was
    # signed.
    if now > expiry or parsed.expires == 0:
        raise ExpiredToken(
            **{
                "X-Amz-Expires": str(parsed.expires),
                "Expires": format_iso8601(expiry),
                "ServerTime": format_iso8601(now),
            }
        )


def check_signature(expected: str, parsed: ParsedAuth, to_sign: str, **details: str) -> None:
    """SignatureDoesNotMatch, with what S3 tells the client to debug it, unless the request's
    signature is `expected` (compared in constant time)."""
    if not hmac.compare_digest(expected.encode(), parsed.signature.encode("utf-8", "replace")):
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=parsed.access_key or "",
            StringToSign=to_sign,
            SignatureProvided=parsed.signature,
            **details,
        )


def verify(req: RequestView, parsed: ParsedAuth, secret: str, now: datetime) -> AuthResult:
    """Verify a SigV4 request parsed by `parse_header_auth` or `parse_query_auth`."""
    _check_time(parsed, now)
    assert parsed.content_sha256 is not None
    presigned = parsed.kind == "sigv4-query"
    # The header value exactly as sent (header auth requires it); a presigned URL signs
    # UNSIGNED-PAYLOAD unless the client also sent the header.
    payload_hash = (req.header("x-amz-content-sha256") or UNSIGNED_PAYLOAD).strip()
    canonical = canonical_request(req, parsed.signed_headers, payload_hash, presigned=presigned)
    to_sign = string_to_sign(parsed.amz_date, parsed.scope, canonical)
    scope_date, region = parsed.scope.split("/")[:2]
    key = signing_key(secret, scope_date, region)
    expected = sign(key, to_sign)
    check_signature(expected, parsed, to_sign, CanonicalRequest=canonical)
    streaming = None
    if parsed.content_sha256 in SIGNED_STREAMING_MODES:
        streaming = StreamingSigning(
            signing_key=key,
            amz_date=parsed.amz_date,
            scope=parsed.scope,
            seed_signature=expected,
        )
    return AuthResult(
        access_key=parsed.access_key,
        content_sha256=parsed.content_sha256,
        streaming=streaming,
        region=region,
        presigned=presigned,
    )
