"""Object metadata on the wire: which request headers are stored, how they come back, and the
conditional-request rules of GET/HEAD."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from multidict import CIMultiDict

from s3compat.api import errors
from s3compat.api.xml import format_http_date, parse_http_date
from s3compat.records import ObjectRecord
from s3compat.store.conditions import Precondition, etag_in
from s3compat.store.sse import public_headers
from s3compat.store.versions import version_token

# Headers stored with an object and returned by GET/HEAD, lower-case.
STORED_HEADERS = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-amz-website-redirect-location",
)
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_USER_METADATA_BYTES = 2 * 1024
# GET's response-* query parameters and the header each overrides.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
MAX_TAGS = 10


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a PUT (or CreateMultipartUpload) that become object metadata."""
    stored: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = headers.get(name)
        if value is not None:
            stored[name] = value
    encoding = stored.get("content-encoding")
    if encoding is not None:
        # aws-chunked is the transfer framing of this request, not a coding of the content.
        codings = [c.strip() for c in encoding.split(",") if c.strip().lower() != "aws-chunked"]
        if codings:
            stored["content-encoding"] = ", ".join(codings)
        else:
            del stored["content-encoding"]
    stored.setdefault("content-type", DEFAULT_CONTENT_TYPE)
    user_bytes = 0
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            stored[lower] = value
            user_bytes += len(lower) - len("x-amz-meta-") + len(value.encode())
    if user_bytes > MAX_USER_METADATA_BYTES:
        raise errors.MetadataTooLarge(MaxSizeAllowed=str(MAX_USER_METADATA_BYTES))
    return stored


def parse_tagging_header(value: str | None) -> dict[str, str] | None:
    """The `x-amz-tagging` header (URL-query encoded) as a tag dict, ordered by key.

    S3 answers tags set by this header in no particular order (tags set by an XML TagSet in
    the order given); sorting them makes GetObjectTagging's answer predictable."""
    if value is None:
        return None
    pairs = parse_qsl(value, keep_blank_values=True)
    tags = dict(sorted(pairs))
    if len(tags) != len(pairs):
        raise errors.InvalidTag("Cannot provide multiple Tags with the same key")
    validate_tags(tags)
    return tags


def validate_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise errors.InvalidTag("Object tags cannot be greater than 10")
    for key, value in tags.items():
        if not key or len(key) > 128 or len(value) > 256:
            raise errors.InvalidTag("The TagKey or TagValue you have provided is invalid")


def response_headers(record: ObjectRecord, *, checksum_mode: bool = False) -> CIMultiDict[str]:
    """Headers describing an object on GET and HEAD (not the length or range)."""
    headers: CIMultiDict[str] = CIMultiDict()
    headers["ETag"] = record.etag
    headers["Last-Modified"] = format_http_date(datetime.fromtimestamp(record.last_modified, UTC))
    headers["Accept-Ranges"] = "bytes"
    for name, value in public_headers(record.headers).items():
        headers[name] = value
    if record.tags:
        headers["x-amz-tagging-count"] = str(len(record.tags))
    headers.update(version_header(record))
    if checksum_mode and record.checksum_algorithm and record.checksum_value:
        headers[f"x-amz-checksum-{record.checksum_algorithm.lower()}"] = record.checksum_value
        if record.checksum_type:
            headers["x-amz-checksum-type"] = record.checksum_type
    return headers


def version_header(record: ObjectRecord) -> dict[str, str]:
    """x-amz-version-id for a version that has an id of its own (none for the null version,
    as for every object of a bucket never versioned)."""
    return {} if record.null_version else {"x-amz-version-id": version_token(record)}


def apply_response_overrides(headers: CIMultiDict[str], query: Mapping[str, str]) -> None:
    for parameter, header in RESPONSE_OVERRIDES.items():
        if parameter in query:
            headers[header] = query[parameter]


def write_condition(headers: Mapping[str, str]) -> Precondition | None:
    """A write's If-Match / If-None-Match (PutObject, CompleteMultipartUpload): an ETag or `*`."""
    if_match = headers.get("If-Match")
    if_none_match = headers.get("If-None-Match")
    if if_match is None and if_none_match is None:
        return None
    return Precondition(if_match=if_match, if_none_match=if_none_match)


def check_conditions(headers: Mapping[str, str], record: ObjectRecord) -> None:
    """GET/HEAD preconditions, in S3's order: 412 PreconditionFailed or 304 NotModified."""
    last_modified = datetime.fromtimestamp(int(record.last_modified), UTC)
    if_match = headers.get("If-Match")
    if_none_match = headers.get("If-None-Match")
    if if_match is not None:
        if not etag_in(if_match, record.etag):
            raise errors.PreconditionFailed(Condition="If-Match")
    else:
        since = _date(headers.get("If-Unmodified-Since"))
        if since is not None and last_modified > since:
            raise errors.PreconditionFailed(Condition="If-Unmodified-Since")
    not_modified = errors.NotModified(
        {"ETag": record.etag, "Last-Modified": format_http_date(last_modified)}
    )
    if if_none_match is not None:
        if etag_in(if_none_match, record.etag):
            raise not_modified
    else:
        since = _date(headers.get("If-Modified-Since"))
        if since is not None and last_modified <= since:
            raise not_modified


def _date(value: str | None) -> datetime | None:
    return None if value is None else parse_http_date(value)
