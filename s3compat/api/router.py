"""Which S3 operation a request names: a pure function over (method, path, query, host, headers).

Routing is data. ``ROUTES`` maps (HTTP method, target, subresource) to an ordered list of
candidate operations; the first candidate whose extra condition holds wins. Operation names are
exactly those of the S3 service model (botocore ``s3/2006-03-01``), so the gateway looks handlers
up by them and decides which ones it implements.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote, unquote_to_bytes

from s3compat.api.errors import (
    InvalidArgument,
    InvalidBucketName,
    KeyTooLongError,
    MethodNotAllowed,
)
from s3compat.api.operations import Op

DEFAULT_DOMAIN = "localhost"
MAX_KEY_BYTES = 1024
MIN_BUCKET_NAME_CHARS = 3
MAX_BUCKET_NAME_CHARS = 63
COPY_SOURCE_HEADER = "x-amz-copy-source"

_BUCKET_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
# Reserved by S3 for its own names (access point aliases, Multi-Region Access Points, ...).
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class Route:
    """The resolved request: the S3 operation and the bucket and key it addresses."""

    operation: Op
    bucket: str | None
    key: str | None


class Target(Enum):
    """What the path addresses."""

    SERVICE = "service"
    BUCKET = "bucket"
    OBJECT = "object"


@dataclass(frozen=True)
class Candidate:
    """One operation a (method, target, subresource) can mean, and when it applies.

    ``query`` is a query parameter that must be present (with ``query_value`` if given);
    ``header`` a request header that must be present.
    """

    operation: Op
    query: str | None = None
    query_value: str | None = None
    header: str | None = None


def _only(operation: Op) -> tuple[Candidate, ...]:
    return (Candidate(operation),)


_B, _O = Target.BUCKET, Target.OBJECT
RouteKey = tuple[str, Target, str | None]  # (method, target, subresource)


def _configurations(subresource: str, noun: str) -> dict[RouteKey, tuple[Candidate, ...]]:
    """A bucket's ?analytics/?inventory/... configurations, each named by ``id``: GET reads one
    (with ``id``) or lists them, PUT writes one, DELETE deletes one."""
    return {
        ("GET", _B, subresource): (
            Candidate(Op(f"GetBucket{noun}Configuration"), query="id"),
            Candidate(Op(f"ListBucket{noun}Configurations")),
        ),
        ("PUT", _B, subresource): _only(Op(f"PutBucket{noun}Configuration")),
        ("DELETE", _B, subresource): _only(Op(f"DeleteBucket{noun}Configuration")),
    }


# (method, target, subresource) -> candidates, first match wins. Subresource None means "no
# subresource in the query". Where the service model has a legacy and a current operation on the
# same wire request (GetBucketLifecycle / GetBucketLifecycleConfiguration), the current one is
# listed. The order of subresources here is also their precedence when a query holds several.
ROUTES: dict[RouteKey, tuple[Candidate, ...]] = {
    ("GET", Target.SERVICE, None): _only(Op.ListBuckets),
    # Object subresources.
    ("GET", _O, "acl"): _only(Op.GetObjectAcl),
    ("PUT", _O, "acl"): _only(Op.PutObjectAcl),
    ("GET", _O, "tagging"): _only(Op.GetObjectTagging),
    ("PUT", _O, "tagging"): _only(Op.PutObjectTagging),
    ("DELETE", _O, "tagging"): _only(Op.DeleteObjectTagging),
    ("GET", _O, "attributes"): _only(Op.GetObjectAttributes),
    ("GET", _O, "legal-hold"): _only(Op.GetObjectLegalHold),
    ("PUT", _O, "legal-hold"): _only(Op.PutObjectLegalHold),
    ("GET", _O, "retention"): _only(Op.GetObjectRetention),
    ("PUT", _O, "retention"): _only(Op.PutObjectRetention),
    ("GET", _O, "torrent"): _only(Op.GetObjectTorrent),
    ("POST", _O, "restore"): _only(Op.RestoreObject),
    ("POST", _O, "select"): _only(Op.SelectObjectContent),
    ("PUT", _O, "renameObject"): _only(Op.RenameObject),
    ("PUT", _O, "encryption"): _only(Op.UpdateObjectEncryption),
    ("POST", _O, "uploads"): _only(Op.CreateMultipartUpload),
    ("PUT", _O, "uploadId"): (
        Candidate(Op.UploadPartCopy, header=COPY_SOURCE_HEADER),
        Candidate(Op.UploadPart),
    ),
    ("POST", _O, "uploadId"): _only(Op.CompleteMultipartUpload),
    ("DELETE", _O, "uploadId"): _only(Op.AbortMultipartUpload),
    ("GET", _O, "uploadId"): _only(Op.ListParts),
    # Plain object requests.
    ("GET", _O, None): _only(Op.GetObject),
    ("HEAD", _O, None): _only(Op.HeadObject),
    ("PUT", _O, None): (
        Candidate(Op.CopyObject, header=COPY_SOURCE_HEADER),
        Candidate(Op.PutObject),
    ),
    ("DELETE", _O, None): _only(Op.DeleteObject),
    ("OPTIONS", _O, None): _only(Op.OptionsObject),  # CORS preflight; not in the service model
    # Bucket subresources.
    ("GET", _B, "acl"): _only(Op.GetBucketAcl),
    ("PUT", _B, "acl"): _only(Op.PutBucketAcl),
    ("GET", _B, "tagging"): _only(Op.GetBucketTagging),
    ("PUT", _B, "tagging"): _only(Op.PutBucketTagging),
    ("DELETE", _B, "tagging"): _only(Op.DeleteBucketTagging),
    ("POST", _B, "delete"): _only(Op.DeleteObjects),
    ("GET", _B, "location"): _only(Op.GetBucketLocation),
    ("GET", _B, "versioning"): _only(Op.GetBucketVersioning),
    ("PUT", _B, "versioning"): _only(Op.PutBucketVersioning),
    ("GET", _B, "versions"): _only(Op.ListObjectVersions),
    ("GET", _B, "uploads"): _only(Op.ListMultipartUploads),
    ("GET", _B, "lifecycle"): _only(Op.GetBucketLifecycleConfiguration),
    ("PUT", _B, "lifecycle"): _only(Op.PutBucketLifecycleConfiguration),
    ("DELETE", _B, "lifecycle"): _only(Op.DeleteBucketLifecycle),
    ("GET", _B, "policy"): _only(Op.GetBucketPolicy),
    ("PUT", _B, "policy"): _only(Op.PutBucketPolicy),
    ("DELETE", _B, "policy"): _only(Op.DeleteBucketPolicy),
    ("GET", _B, "policyStatus"): _only(Op.GetBucketPolicyStatus),
    ("GET", _B, "cors"): _only(Op.GetBucketCors),
    ("PUT", _B, "cors"): _only(Op.PutBucketCors),
    ("DELETE", _B, "cors"): _only(Op.DeleteBucketCors),
    ("GET", _B, "website"): _only(Op.GetBucketWebsite),
    ("PUT", _B, "website"): _only(Op.PutBucketWebsite),
    ("DELETE", _B, "website"): _only(Op.DeleteBucketWebsite),
    ("GET", _B, "encryption"): _only(Op.GetBucketEncryption),
    ("PUT", _B, "encryption"): _only(Op.PutBucketEncryption),
    ("DELETE", _B, "encryption"): _only(Op.DeleteBucketEncryption),
    ("GET", _B, "object-lock"): _only(Op.GetObjectLockConfiguration),
    ("PUT", _B, "object-lock"): _only(Op.PutObjectLockConfiguration),
    ("GET", _B, "replication"): _only(Op.GetBucketReplication),
    ("PUT", _B, "replication"): _only(Op.PutBucketReplication),
    ("DELETE", _B, "replication"): _only(Op.DeleteBucketReplication),
    ("GET", _B, "logging"): _only(Op.GetBucketLogging),
    ("PUT", _B, "logging"): _only(Op.PutBucketLogging),
    ("GET", _B, "notification"): _only(Op.GetBucketNotificationConfiguration),
    ("PUT", _B, "notification"): _only(Op.PutBucketNotificationConfiguration),
    ("GET", _B, "requestPayment"): _only(Op.GetBucketRequestPayment),
    ("PUT", _B, "requestPayment"): _only(Op.PutBucketRequestPayment),
    ("GET", _B, "accelerate"): _only(Op.GetBucketAccelerateConfiguration),
    ("PUT", _B, "accelerate"): _only(Op.PutBucketAccelerateConfiguration),
    ("GET", _B, "ownershipControls"): _only(Op.GetBucketOwnershipControls),
    ("PUT", _B, "ownershipControls"): _only(Op.PutBucketOwnershipControls),
    ("DELETE", _B, "ownershipControls"): _only(Op.DeleteBucketOwnershipControls),
    ("GET", _B, "publicAccessBlock"): _only(Op.GetPublicAccessBlock),
    ("PUT", _B, "publicAccessBlock"): _only(Op.PutPublicAccessBlock),
    ("DELETE", _B, "publicAccessBlock"): _only(Op.DeletePublicAccessBlock),
    **_configurations("analytics", "Analytics"),
    **_configurations("metrics", "Metrics"),
    **_configurations("inventory", "Inventory"),
    **_configurations("intelligent-tiering", "IntelligentTiering"),
    ("GET", _B, "metadataTable"): _only(Op.GetBucketMetadataTableConfiguration),
    ("POST", _B, "metadataTable"): _only(Op.CreateBucketMetadataTableConfiguration),
    ("DELETE", _B, "metadataTable"): _only(Op.DeleteBucketMetadataTableConfiguration),
    ("GET", _B, "session"): _only(Op.CreateSession),
    # Plain bucket requests.
    ("GET", _B, None): (
        Candidate(Op.ListObjectsV2, query="list-type", query_value="2"),
        Candidate(Op.ListObjects),
    ),
    ("HEAD", _B, None): _only(Op.HeadBucket),
    ("PUT", _B, None): _only(Op.CreateBucket),
    ("DELETE", _B, None): _only(Op.DeleteBucket),
    # Browser-form upload (the reference's "POST Object"); not in the service model.
    ("POST", _B, None): _only(Op.PostObject),
    ("OPTIONS", _B, None): _only(Op.OptionsObject),
}


def _subresources_of(target: Target) -> tuple[str, ...]:
    return tuple(dict.fromkeys(sub for (_, of, sub) in ROUTES if of is target and sub is not None))


# Per target, the query parameters that select a subresource, in precedence order. Any other
# parameter (prefix, versionId, partNumber, x-id, X-Amz-Signature, a subresource of another
# target, an unknown name) is an argument for the handler, not part of the route: S3 ignores
# query parameters it does not know.
SUBRESOURCES: dict[Target, tuple[str, ...]] = {
    target: _subresources_of(target) for target in Target
}


def resolve(
    method: str,
    path: str,
    query: Mapping[str, str],
    host: str,
    domain: str = DEFAULT_DOMAIN,
    headers: Mapping[str, str] | None = None,
) -> Route:
    """Name the S3 operation of a request, and the bucket and key it addresses.

    ``path`` is percent-decoded; ``query`` maps decoded names to values (``""`` for flags such as
    ``?acl``). Raises ``MethodNotAllowed`` when the method has no meaning on the resource.
    """
    bucket, key = split_bucket_and_key(path, host, domain)
    target = Target.SERVICE if bucket is None else Target.OBJECT if key else Target.BUCKET
    subresource = next((name for name in SUBRESOURCES[target] if name in query), None)
    candidates = ROUTES.get((method.upper(), target, subresource))
    if candidates is None:
        raise MethodNotAllowed()
    for candidate in candidates:
        if _applies(candidate, query, headers or {}):
            return Route(candidate.operation, bucket, key)
    raise MethodNotAllowed()  # unreachable while every list ends with an unconditional entry


def _applies(candidate: Candidate, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    if candidate.query is not None:
        value = query.get(candidate.query)
        if value is None or (candidate.query_value is not None and value != candidate.query_value):
            return False
    return candidate.header is None or _has_header(headers, candidate.header)


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    # aiohttp's headers are case-insensitive already; a plain dict in a test may not be.
    return name in headers or any(header.lower() == name for header in headers)


def split_bucket_and_key(
    path: str, host: str, domain: str = DEFAULT_DOMAIN
) -> tuple[str | None, str | None]:
    """Split a request into (bucket, key), virtual-hosted style if the Host names a bucket.

    The key is everything after the first ``/`` that follows the bucket, byte for byte: keys
    are data, so ``//``, ``../`` and trailing slashes are kept. An empty key is None.
    """
    path = path.removeprefix("/")
    host_bucket = bucket_from_host(host, domain)
    if host_bucket is not None:
        return host_bucket, path or None
    bucket, _, key = path.partition("/")
    if bucket:
        return bucket, key or None
    if key:
        # "//key": an object in a bucket with an empty name.
        raise InvalidBucketName(BucketName="")
    return None, None


def bucket_from_host(host: str, domain: str = DEFAULT_DOMAIN) -> str | None:
    """The bucket of a virtual-hosted-style Host (``bucket.domain[:port]``), else None."""
    hostname = _strip_port(host.strip()).lower().rstrip(".")
    suffix = "." + domain.lower().strip(".")
    if not hostname.endswith(suffix) or _is_ip_address(hostname):
        return None
    bucket = hostname[: -len(suffix)]
    return bucket or None


def _strip_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal, "[::1]:9000"
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def _is_ip_address(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return False
    return True


def validate_bucket_name(name: str) -> None:
    """Enforce S3's general-purpose bucket naming rules; raise ``InvalidBucketName``."""
    if not _is_valid_bucket_name(name):
        raise InvalidBucketName(BucketName=name)


def _is_valid_bucket_name(name: str) -> bool:
    # Every dot-separated label starts and ends with a letter or digit (".." is an empty
    # label; "a-.b" and "a.-b" put a hyphen at a label's edge), so that the name is a valid
    # host name for virtual-hosted-style requests. This is S3's older DNS-compliance rule,
    # stricter than its current one (which accepts "a-.b"), and the one ceph s3-tests checks.
    return (
        MIN_BUCKET_NAME_CHARS <= len(name) <= MAX_BUCKET_NAME_CHARS
        and set(name) <= _BUCKET_NAME_CHARS
        and name[0].isalnum()
        and name[-1].isalnum()
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not _looks_like_ipv4(name)
        and not name.startswith(_RESERVED_BUCKET_PREFIXES)
        and not name.endswith(_RESERVED_BUCKET_SUFFIXES)
    )


def _looks_like_ipv4(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 4 and all(part.isdigit() for part in parts)


def validate_key(key: str) -> None:
    """Refuse keys S3 cannot store: empty, over 1024 UTF-8 bytes, or not UTF-8 at all.

    Control characters are stored, as S3 stores them (XML answers carry them as character
    references, and `encoding-type=url` as %XX); NUL is refused, since the PostgreSQL catalog
    cannot hold it, and so is a lone surrogate, which no UTF-8 request can spell.
    """
    if not key:
        raise InvalidArgument("Object key must not be empty")
    if "\x00" in key or any(0xD800 <= ord(char) <= 0xDFFF for char in key):
        raise InvalidArgument("Object key contains characters that cannot be stored")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(len(key.encode("utf-8"))), MaxSizeAllowed=str(MAX_KEY_BYTES))


def split_raw_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode a query string into (name, value) pairs in wire order; '+' stays '+'."""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name, errors="strict"), unquote(value, errors="strict")))
    return pairs


def decode_path(raw_path: str) -> str:
    """Percent-decode the wire path as UTF-8 (invalid UTF-8 is a client error)."""
    try:
        return unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidArgument("The path is not valid UTF-8") from error
