"""Presigned S3 URLs the console hands to the browser: downloads, single PUTs and the steps
of a multipart upload. The browser then talks S3 to this same gateway, so every byte goes
through the S3 handlers, their streaming write path and their access rules, signed as the
logged-in user (the server signs with the user's secret; the browser never sees it).

Pure: the SigV4 query signature of `api/auth/sigv4.py`'s canonical forms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from s3compat.api.auth.sigv4 import (
    ALGORITHM,
    SERVICE,
    TERMINATOR,
    UNSIGNED_PAYLOAD,
    canonical_query,
    canonical_uri,
    sign,
    signing_key,
    string_to_sign,
)

# Links live this long: enough for a slow multipart upload part or a download to start.
PRESIGNED_SECONDS = 15 * 60


def object_path(bucket: str, key: str) -> str:
    """The wire path of an object, every byte of the key but "/" percent-encoded."""
    return f"/{bucket}/{quote(key, safe='/')}"


def presign(
    method: str,
    path: str,
    query: dict[str, str],
    *,
    host: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime | None = None,
    expires_seconds: int = PRESIGNED_SECONDS,
) -> str:
    """A path and query string that authorise `method` on `path` at `host` until expiry."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    params = {
        **query,
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires_seconds),
        "X-Amz-SignedHeaders": "host",
    }
    query_text = canonical_query(list(params.items()))
    canonical = "\n".join(
        (method, canonical_uri(path), query_text, f"host:{host}\n", "host", UNSIGNED_PAYLOAD)
    )
    key = signing_key(secret_key, amz_date[:8], region)
    signature = sign(key, string_to_sign(amz_date, scope, canonical))
    return f"{path}?{query_text}&X-Amz-Signature={signature}"
