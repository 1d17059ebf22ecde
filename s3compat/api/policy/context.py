"""The condition context of a request: the values of the condition keys a policy may test.

Global keys (IAM's "AWS global condition context keys"): `aws:SourceIp` (the TCP peer; a
proxy's X-Forwarded-For is not believed), `aws:SecureTransport`, `aws:CurrentTime`,
`aws:EpochTime`, `aws:userid` (the access key, `anonymous` for an anonymous request),
`aws:username` (absent for anonymous), `aws:PrincipalType` (`Account` or `Anonymous`: every
user is its own account), `aws:PrincipalAccount` and `aws:PrincipalArn`
(`arn:aws:iam::<access key>:root`), `aws:Referer`, `aws:UserAgent`.

S3's keys, from the request's headers and query: `s3:prefix`, `s3:delimiter` and
`s3:max-keys` (ListBucket and ListBucketVersions only, when the request names them),
`s3:x-amz-acl`, `s3:x-amz-grant-*`, `s3:x-amz-copy-source` (`bucket/key`, decoded, without a
leading slash), `s3:x-amz-metadata-directive`, `s3:x-amz-storage-class`,
`s3:x-amz-server-side-encryption`, `s3:x-amz-content-sha256`, `s3:versionid`,
`s3:signatureversion` (`AWS` or `AWS4-HMAC-SHA256`) and `s3:authType` (`REST-HEADER` or
`REST-QUERY-STRING`), and `s3:ExistingObjectTag/<key>` (the tags of the object addressed,
when it exists; read only for buckets whose policy names the key). The object-lock keys are
not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")
LIST_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter", "max-keys": "s3:max-keys"}
HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-content-sha256",
)


@dataclass(frozen=True)
class RequestFacts:
    """What a policy may ask about a request, gathered without I/O."""

    principal: str | None
    principal_name: str | None
    source_ip: str | None
    secure: bool
    headers: Mapping[str, str]
    query: Mapping[str, str]
    now: datetime
    # The addressed object's tags (None: no object, or not read).
    object_tags: Mapping[str, str] | None = None


def _auth_keys(facts: RequestFacts) -> dict[str, tuple[str, ...]]:
    if facts.principal is None:
        return {}
    authorization = facts.headers.get("Authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256") or "X-Amz-Signature" in facts.query:
        version = "AWS4-HMAC-SHA256"
    else:
        version = "AWS"
    kind = "REST-HEADER" if authorization else "REST-QUERY-STRING"
    return {"s3:signatureversion": (version,), "s3:authtype": (kind,)}


def request_context(
    facts: RequestFacts, action: str, *, prefix: str | None = None
) -> dict[str, tuple[str, ...]]:
    """The condition keys (lower-cased) and their values for judging `action`; `prefix`
    stands for the listing a missing object's read is judged as (the key itself)."""
    context: dict[str, tuple[str, ...]] = {
        "aws:securetransport": ("true" if facts.secure else "false",),
        "aws:currenttime": (facts.now.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:epochtime": (str(int(facts.now.timestamp())),),
    }
    if facts.source_ip:
        context["aws:sourceip"] = (facts.source_ip,)
    if facts.principal is None:
        context["aws:userid"] = ("anonymous",)
        context["aws:principaltype"] = ("Anonymous",)
    else:
        context["aws:userid"] = (facts.principal,)
        context["aws:principaltype"] = ("Account",)
        context["aws:principalaccount"] = (facts.principal,)
        context["aws:principalarn"] = (f"arn:aws:iam::{facts.principal}:root",)
        if facts.principal_name is not None:
            context["aws:username"] = (facts.principal_name,)
    for header, key in (("Referer", "aws:referer"), ("User-Agent", "aws:useragent")):
        if header in facts.headers:
            context[key] = (facts.headers[header],)
    for header in HEADER_KEYS:
        if header in facts.headers:
            context[f"s3:{header}"] = (facts.headers[header].strip(),)
    copy_source = facts.headers.get("x-amz-copy-source")
    if copy_source is not None:
        path = copy_source.partition("?")[0]
        context["s3:x-amz-copy-source"] = (unquote(path).lstrip("/"),)
    if "versionId" in facts.query:
        context["s3:versionid"] = (facts.query["versionId"],)
    if action in LIST_ACTIONS:
        for parameter, key in LIST_KEYS.items():
            if parameter in facts.query:
                context[key] = (facts.query[parameter],)
        if prefix is not None:
            context["s3:prefix"] = (prefix,)
    for tag, value in (facts.object_tags or {}).items():
        context[f"s3:existingobjecttag/{tag.lower()}"] = (value,)
    context.update(_auth_keys(facts))
    return context
