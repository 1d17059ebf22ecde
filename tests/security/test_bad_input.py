"""A corpus of bad requests, each sent raw over a socket, each with the exact S3 answer expected.

Every case asserts: the status (never 5xx), and for an error answer with a body the S3 error
document (``Code``, ``Message``, ``RequestId``). After the corpus, a sentinel object stored
before it still reads back byte-exact.

Expected codes come from the S3 API reference's error code list
(https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). Where the reference does
not pin one request to one code, the case accepts the short list of codes S3 is documented (or
known from peers' compatibility suites) to answer, and a comment says so.
"""

from __future__ import annotations

import base64
import email.header
import hashlib
import os
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPResponse, RemoteDisconnected
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from xml.etree import ElementTree

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from support.clients import REGION, empty_and_delete_bucket, unique_bucket_name
from support.signing import FixedTimeSigV2, FixedTimeSigV4, sign

from s3compat.api.auth import sigv4
from s3compat.api.auth.chunked import chunk_string_to_sign, trailer_string_to_sign

Cluster = Any  # Cluster; the integration module is loaded at run time
Headers = list[tuple[str, str]]
SOCKET_TIMEOUT_SECONDS = 30.0
SENTINEL_BYTES = os.urandom(4096)
OBJECT_BYTES = b"0123456789"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


@dataclass
class Ctx:
    """What the cases address: a bucket with a sentinel, a 10-byte object and an upload."""

    cluster: Cluster
    s3: BaseClient
    bucket: str
    upload_id: str
    etag: str

    def fill(self, text: str) -> str:
        return (
            text.replace("{b}", self.bucket)
            .replace("{u}", self.upload_id)
            .replace("{nb}", f"sec-new-{uuid.uuid4().hex[:16]}")
            .replace("{etag}", self.etag)
        )


@dataclass
class Signed:
    """A request after signing: what an aws-chunked body builder needs."""

    headers: dict[str, str]
    secret_key: str

    @property
    def seed(self) -> str:
        return self.headers["Authorization"].rpartition("Signature=")[2]

    @property
    def amz_date(self) -> str:
        return self.headers["X-Amz-Date"]

    @property
    def scope(self) -> str:
        return f"{self.amz_date[:8]}/{REGION}/s3/aws4_request"

    @property
    def key(self) -> bytes:
        return sigv4.signing_key(self.secret_key, self.amz_date[:8], REGION)


Expect = tuple[int, str | None]


@dataclass
class Case:
    """One raw request and the answers S3 may give it (usually exactly one)."""

    id: str
    method: str
    target: str | Callable[[Ctx], str]
    expect: Sequence[Expect]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Callable[[Signed], bytes] = b""
    # "sigv4", "sigv2", None (anonymous), or a signer factory taking the credentials.
    signer: str | Callable[[Credentials], Any] | None = "sigv4"
    # Applied to the signed header list (duplicate, drop or rewrite signature parts).
    mutate: Callable[[Headers], Headers] | None = None
    # None: Content-Length = len(body) unless the method sends no body; "omit": none at all.
    content_length: int | str | None = None
    # Close our sending side after the request (a body shorter than Content-Length). The
    # server then cannot always answer (the connection is gone): `absent_key` must not exist.
    half_close: bool = False
    absent_key: str | None = None
    # The whole request as bytes (framing errors); "{host}" is replaced.
    raw: bytes | None = None
    # Framing errors answered by the HTTP layer before S3 sees the request: status only.
    http_level: bool = False
    check: Callable[[Ctx, HTTPResponse, bytes], None] | None = None
    xfail: str | None = None


# ---------------------------------------------------------------------------------------------
# Sending


def _host(cluster: Cluster) -> str:
    host, port = cluster.host_port
    return f"{host}:{port}"


def _md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def build_request(case: Case, ctx: Ctx) -> tuple[bytes, str]:
    """The request bytes and the method (for reading the answer)."""
    cluster = ctx.cluster
    if case.raw is not None:
        return ctx.fill(case.raw.decode("latin-1")).replace("{host}", _host(cluster)).encode(
            "latin-1"
        ), case.method
    target = case.target(ctx) if callable(case.target) else ctx.fill(case.target)
    headers = {name: ctx.fill(value) for name, value in case.headers.items()}
    static_body = case.body if isinstance(case.body, bytes) else b""
    if case.signer is None:
        signed = dict(headers)
    elif callable(case.signer):
        credentials = Credentials(cluster.access_key, cluster.secret_key)
        signer = case.signer(credentials)
        signed = sign(cluster, case.method, target, headers, static_body, signer)
    else:
        signed = sign(cluster, case.method, target, headers, static_body, case.signer)
    if isinstance(case.body, bytes):
        # A form's fields may name the cluster's access key.
        body = case.body.replace(b"{ak}", cluster.access_key.encode())
    else:
        body = case.body(Signed(signed, cluster.secret_key))
    pairs: Headers = [(name, value) for name, value in signed.items()]
    if case.mutate is not None:
        pairs = case.mutate(pairs)
    names = {name.lower() for name, _ in pairs}
    if "host" not in names:
        pairs.insert(0, ("Host", _host(cluster)))
    if case.content_length != "omit" and "content-length" not in names:
        if case.content_length is not None:
            pairs.append(("Content-Length", str(case.content_length)))
        elif body or case.method in ("PUT", "POST"):
            pairs.append(("Content-Length", str(len(body))))
    head = f"{case.method} {target} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in pairs)
    head += "Connection: close\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + body, case.method


def send_raw(
    cluster: Cluster, data: bytes, method: str, half_close: bool = False
) -> tuple[HTTPResponse, bytes]:
    """Send bytes, read one HTTP answer."""
    host, port = cluster.host_port
    with socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer (and close) before reading everything we send
        answer = HTTPResponse(sock, method=method)
        answer.begin()
        return answer, answer.read()


# ---------------------------------------------------------------------------------------------
# Case builders


def xml_cases() -> list[Case]:
    """Malformed and hostile XML bodies for every operation that reads a document."""
    operations: list[tuple[str, str, str, str, str]] = [
        # (name, method, target, well-formed root with the wrong name, code for bad documents)
        ("delete-objects", "POST", "/{b}?delete", "<Foo/>", "MalformedXML"),
        ("complete", "POST", "/{b}/mp?uploadId={u}", "<Foo/>", "MalformedXML"),
        ("create-bucket", "PUT", "/{nb}", "<Foo/>", "MalformedXML"),
        ("lifecycle", "PUT", "/{b}?lifecycle", "<Foo/>", "MalformedXML"),
        ("tagging", "PUT", "/{b}/obj?tagging", "<Foo/>", "MalformedXML"),
        ("cors", "PUT", "/{b}?cors", "<Foo/>", "MalformedXML"),
        # PutBucketAcl: S3's code for an ACL document that is not well-formed or not valid
        # is MalformedACLError (400), listed in the error code table.
        ("bucket-acl", "PUT", "/{b}?acl", "<Foo/>", "MalformedACLError"),
    ]
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'.encode()
            for n in range(1, 10)
        )
        + b"]><Delete><Object><Key>&lol9;</Key></Object></Delete>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<Delete><Object><Key>&xxe;</Key></Object></Delete>"
    )
    parameter = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd">%p;]>'
        b"<Delete/>"
    )
    doctype_only = b'<?xml version="1.0"?><!DOCTYPE Delete SYSTEM "http://127.0.0.1:1/d.dtd"><a/>'
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    truncated = b'<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>a</Key></Obj'
    not_utf8 = b'<?xml version="1.0" encoding="UTF-8"?><Tagging><TagSet><Tag><Key>\xff\xfe</Key>'
    not_utf8 += b"<Value>v</Value></Tag></TagSet></Tagging>"
    big = b"<Delete>" + b"<Object><Key>" + b"k" * (10 * 1024 * 1024) + b"</Key></Object></Delete>"
    variants: list[tuple[str, bytes | None, tuple[str, ...] | None]] = [
        ("entity-bomb", bomb, None),
        ("external-entity", external, None),
        ("parameter-entity", parameter, None),
        ("external-dtd", doctype_only, None),
        ("utf16-entity", utf16.encode("utf-16"), None),
        ("wrong-root", None, None),
        ("truncated", truncated, None),
        ("not-utf8", not_utf8, None),
        # 10 MB: S3 answers MaxMessageLengthExceeded ("Your request was too big") for request
        # documents over its limit; some operations answer MalformedXML or EntityTooLarge.
        ("10mb", big, ("MaxMessageLengthExceeded", "MalformedXML", "EntityTooLarge")),
    ]
    cases = []
    for name, method, target, wrong_root, code in operations:
        for variant, body, codes in variants:
            document = wrong_root.encode() if body is None else body
            headers = {"Content-Type": "application/xml", "Content-MD5": _md5_b64(document)}
            expect = [(400, c) for c in (codes or (code,))]
            cases.append(Case(f"xml-{name}-{variant}", method, target, expect, headers, document))
    return cases


def _replace_auth_part(
    part: str, new: str | None, *, duplicate: bool = False
) -> Callable[[Headers], Headers]:
    """Rewrite one component of the SigV4 Authorization header (None drops it)."""

    def mutate(pairs: Headers) -> Headers:
        out = []
        for name, value in pairs:
            if name.lower() == "authorization":
                algorithm, _, rest = value.partition(" ")
                parts = [p.strip() for p in rest.split(",")]
                kept = []
                for component in parts:
                    if component.startswith(part + "="):
                        if duplicate:
                            kept += [component, component]
                        elif new is not None:
                            kept.append(f"{part}={new}")
                    else:
                        kept.append(component)
                value = f"{algorithm} {', '.join(kept)}"
            out.append((name, value))
        return out

    return mutate


def _rewrite_header(
    header: str, transform: Callable[[str], str | None]
) -> Callable[[Headers], Headers]:
    def mutate(pairs: Headers) -> Headers:
        out = []
        for name, value in pairs:
            if name.lower() == header.lower():
                new = transform(value)
                if new is None:
                    continue
                value = new
            out.append((name, value))
        return out

    return mutate


def _add_header(header: str, value: str) -> Callable[[Headers], Headers]:
    return lambda pairs: [*pairs, (header, value)]


def _credential(transform: Callable[[list[str]], list[str]]) -> Callable[[Headers], Headers]:
    def rewrite(value: str) -> str:
        head, _, rest = value.partition("Credential=")
        credential, _, tail = rest.partition(",")
        return f"{head}Credential={'/'.join(transform(credential.split('/')))},{tail}"

    return _rewrite_header("Authorization", rewrite)


def _flip_last_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _at(delta: timedelta) -> Callable[[Credentials], Any]:
    return lambda credentials: FixedTimeSigV4(credentials, datetime.now(UTC) + delta)


def _at_v2(delta: timedelta) -> Callable[[Credentials], Any]:
    return lambda credentials: FixedTimeSigV2(credentials, datetime.now(UTC) + delta)


def auth_cases() -> list[Case]:
    get = "/{b}/sentinel"
    malformed = [(400, "AuthorizationHeaderMalformed")]
    cases = [
        Case("auth-anonymous", "GET", get, [(403, "AccessDenied")], signer=None),
        Case("auth-anonymous-list", "GET", "/{b}", [(403, "AccessDenied")], signer=None),
        Case(
            "auth-anonymous-put",
            "PUT",
            "/{b}/anon",
            [(403, "AccessDenied")],
            body=b"x",
            signer=None,
        ),
        Case(
            "auth-no-credential",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("Credential", None),
        ),
        Case(
            "auth-no-signedheaders",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("SignedHeaders", None),
        ),
        Case(
            "auth-no-signature", "GET", get, malformed, mutate=_replace_auth_part("Signature", None)
        ),
        Case(
            "auth-empty-signature",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("Signature", ""),
        ),
        Case(
            "auth-dup-credential",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("Credential", None, duplicate=True),
        ),
        Case(
            "auth-dup-signedheaders",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("SignedHeaders", None, duplicate=True),
        ),
        Case(
            "auth-dup-signature",
            "GET",
            get,
            malformed,
            mutate=_replace_auth_part("Signature", None, duplicate=True),
        ),
        Case(
            "auth-extra-component",
            "GET",
            get,
            malformed,
            mutate=_rewrite_header("Authorization", lambda v: v + ", Foo=bar"),
        ),
        # An unknown algorithm: S3 answers 400 InvalidArgument "Unsupported Authorization Type".
        Case(
            "auth-algorithm-sha512",
            "GET",
            get,
            [(400, "InvalidArgument")],
            mutate=_rewrite_header(
                "Authorization", lambda v: v.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")
            ),
        ),
        Case(
            "auth-algorithm-bearer",
            "GET",
            get,
            [(400, "InvalidArgument")],
            mutate=_rewrite_header("Authorization", lambda v: "Bearer abc"),
        ),
        Case(
            "auth-wrong-signature",
            "GET",
            get,
            [(403, "SignatureDoesNotMatch")],
            mutate=_rewrite_header("Authorization", _flip_last_hex),
        ),
        Case(
            "auth-short-signature",
            "GET",
            get,
            [(403, "SignatureDoesNotMatch")],
            mutate=_replace_auth_part("Signature", "abcd"),
        ),
        Case(
            "auth-non-hex-signature",
            "GET",
            get,
            [(403, "SignatureDoesNotMatch")],
            mutate=_replace_auth_part("Signature", "z" * 64),
        ),
        Case(
            "auth-unknown-access-key",
            "GET",
            get,
            [(403, "InvalidAccessKeyId")],
            mutate=_credential(lambda p: ["AKIDUNKNOWN0000000000", *p[1:]]),
        ),
        Case(
            "auth-credential-service-ec2",
            "GET",
            get,
            malformed,
            mutate=_credential(lambda p: [*p[:3], "ec2", p[4]]),
        ),
        Case(
            "auth-credential-terminator",
            "GET",
            get,
            malformed,
            mutate=_credential(lambda p: [*p[:4], "aws5_request"]),
        ),
        Case("auth-credential-short", "GET", get, malformed, mutate=_credential(lambda p: p[:3])),
        Case(
            "auth-credential-date-mismatch",
            "GET",
            get,
            malformed,
            mutate=_credential(lambda p: [p[0], "20000101", *p[2:]]),
        ),
        Case(
            "auth-credential-date-garbage",
            "GET",
            get,
            malformed,
            mutate=_credential(lambda p: [p[0], "2000XX01", *p[2:]]),
        ),
        # SignedHeaders without "host": S3 refuses the header as malformed or fails the
        # signature (the reference requires host to be signed).
        Case(
            "auth-signedheaders-no-host",
            "GET",
            get,
            [(400, "AuthorizationHeaderMalformed"), (403, "SignatureDoesNotMatch")],
            mutate=_replace_auth_part("SignedHeaders", "x-amz-content-sha256;x-amz-date"),
        ),
        Case(
            "auth-signedheaders-uppercase",
            "GET",
            get,
            [(400, "AuthorizationHeaderMalformed"), (403, "SignatureDoesNotMatch")],
            mutate=_replace_auth_part("SignedHeaders", "Host;x-amz-content-sha256;x-amz-date"),
        ),
        # An x-amz-* header that is not signed: 403 AccessDenied "There were headers present
        # in the request which were not signed".
        Case(
            "auth-unsigned-amz-header",
            "GET",
            get,
            [(403, "AccessDenied")],
            mutate=_add_header("x-amz-meta-sneaky", "1"),
        ),
        Case(
            "auth-date-garbage",
            "GET",
            get,
            [(403, "AccessDenied")],
            mutate=_rewrite_header("X-Amz-Date", lambda v: "yesterday"),
        ),
        Case(
            "auth-date-missing",
            "GET",
            get,
            [(403, "AccessDenied")],
            mutate=_rewrite_header("X-Amz-Date", lambda v: None),
        ),
        Case(
            "auth-date-bad-month",
            "GET",
            get,
            [(403, "AccessDenied")],
            mutate=_rewrite_header("X-Amz-Date", lambda v: v[:4] + "13" + v[6:]),
        ),
        Case(
            "auth-skew-past",
            "GET",
            get,
            [(403, "RequestTimeTooSkewed")],
            signer=_at(timedelta(minutes=-20)),
        ),
        Case(
            "auth-skew-future",
            "GET",
            get,
            [(403, "RequestTimeTooSkewed")],
            signer=_at(timedelta(minutes=20)),
        ),
        Case(
            "auth-skew-years",
            "GET",
            get,
            [(403, "RequestTimeTooSkewed")],
            signer=_at(timedelta(days=-3650)),
        ),
        Case(
            "auth-v2-skew",
            "GET",
            get,
            [(403, "RequestTimeTooSkewed")],
            signer=_at_v2(timedelta(minutes=-20)),
        ),
        Case(
            "auth-v2-wrong-signature",
            "GET",
            get,
            [(403, "SignatureDoesNotMatch")],
            signer="sigv2",
            mutate=_rewrite_header("Authorization", lambda v: v[:-4] + "AAA="),
        ),
        Case(
            "auth-v2-unknown-key",
            "GET",
            get,
            [(403, "InvalidAccessKeyId")],
            signer="sigv2",
            mutate=_rewrite_header(
                "Authorization", lambda v: "AWS NOSUCHKEY:" + v.partition(":")[2]
            ),
        ),
        # Missing x-amz-content-sha256 on a SigV4 header request: 400 InvalidRequest "Missing
        # required header for this request: x-amz-content-sha256".
        Case(
            "auth-no-content-sha256",
            "GET",
            get,
            [(400, "InvalidRequest")],
            mutate=_rewrite_header("X-Amz-Content-SHA256", lambda v: None),
        ),
        Case(
            "auth-content-sha256-garbage",
            "PUT",
            "/{b}/garbage-sha",
            [(400, "InvalidArgument")],
            headers={"X-Amz-Content-SHA256": "not-a-hash"},
            body=b"data",
        ),
        Case(
            "auth-content-sha256-mismatch",
            "PUT",
            "/{b}/mismatch-sha",
            [(400, "XAmzContentSHA256Mismatch")],
            headers={"X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()},
            body=b"data",
        ),
        Case(
            "auth-header-and-query",
            "GET",
            "/{b}/sentinel?X-Amz-Signature=abc",
            [(400, "InvalidArgument")],
        ),
    ]
    return cases


class FixedTimeQueryAuth(S3SigV4QueryAuth):
    """A presigned SigV4 URL as botocore makes it, at a chosen time."""

    def __init__(self, credentials: Credentials, at: datetime, expires: int) -> None:
        super().__init__(credentials, "s3", REGION, expires=expires)
        self.at = at

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self.at.strftime("%Y%m%dT%H%M%SZ")
        super()._modify_request_before_signing(request)


def presign(
    ctx: Ctx, method: str, target: str, expires: int = 300, at: datetime | None = None
) -> str:
    """A presigned target (path and query) for `method target`."""
    cluster = ctx.cluster
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    request = AWSRequest(method=method, url=cluster.endpoint + ctx.fill(target))
    FixedTimeQueryAuth(credentials, at or datetime.now(UTC), expires).add_auth(request)
    parts = urlsplit(request.url)
    return f"{parts.path}?{parts.query}"


def _with_query(target: str, change: Callable[[dict[str, str]], None]) -> str:
    path, _, query = target.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    change(params)
    return f"{path}?{urlencode(params, quote_via=quote, safe='')}"


def _presigned(
    change: Callable[[dict[str, str]], None], method: str = "GET", **kwargs: Any
) -> Callable[[Ctx], str]:
    return lambda ctx: _with_query(presign(ctx, method, "/{b}/sentinel", **kwargs), change)


def _set(name: str, value: str) -> Callable[[dict[str, str]], None]:
    return lambda params: params.__setitem__(name, value)


def _drop(name: str) -> Callable[[dict[str, str]], None]:
    return lambda params: params.pop(name, None)


def presigned_cases() -> list[Case]:
    query_error = [(400, "AuthorizationQueryParametersError")]
    mismatch = [(403, "SignatureDoesNotMatch")]
    nothing: Callable[[dict[str, str]], None] = lambda params: None  # noqa: E731
    past = datetime.now(UTC) - timedelta(hours=2)
    return [
        Case("presigned-valid", "GET", _presigned(nothing), [(200, None)], signer=None),
        Case(
            "presigned-changed-key",
            "GET",
            lambda ctx: presign(ctx, "GET", "/{b}/sentinel").replace("/sentinel?", "/obj?"),
            mismatch,
            signer=None,
        ),
        Case("presigned-changed-method", "DELETE", _presigned(nothing), mismatch, signer=None),
        Case(
            "presigned-put-with-get-url",
            "PUT",
            _presigned(nothing),
            mismatch,
            body=b"x",
            signer=None,
        ),
        Case(
            "presigned-changed-expiry",
            "GET",
            _presigned(_set("X-Amz-Expires", "3600")),
            mismatch,
            signer=None,
        ),
        Case(
            "presigned-changed-signature",
            "GET",
            _presigned(
                lambda p: p.__setitem__("X-Amz-Signature", _flip_last_hex(p["X-Amz-Signature"]))
            ),
            mismatch,
            signer=None,
        ),
        Case(
            "presigned-changed-credential-key",
            "GET",
            _presigned(
                lambda p: p.__setitem__(
                    "X-Amz-Credential",
                    "AKIDUNKNOWN0000000000/" + p["X-Amz-Credential"].split("/", 1)[1],
                )
            ),
            [(403, "InvalidAccessKeyId")],
            signer=None,
        ),
        Case(
            "presigned-added-param",
            "GET",
            _presigned(_set("response-content-type", "x/y")),
            mismatch,
            signer=None,
        ),
        # Expired: S3 answers 403 AccessDenied "Request has expired".
        Case(
            "presigned-expired",
            "GET",
            _presigned(nothing, expires=60, at=past),
            [(403, "AccessDenied")],
            signer=None,
        ),
        # X-Amz-Expires 0: no URL is valid for 0 s; S3 refuses the parameter (400) or treats the
        # URL as already expired (403 AccessDenied "Request has expired").
        Case(
            "presigned-expires-0",
            "GET",
            _presigned(_set("X-Amz-Expires", "0")),
            [*query_error, (403, "AccessDenied")],
            signer=None,
        ),
        # Over a week: 400 AuthorizationQueryParametersError "X-Amz-Expires must be less than
        # a week (in seconds) that is 604800".
        Case(
            "presigned-expires-604801",
            "GET",
            _presigned(_set("X-Amz-Expires", "604801")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-expires-negative",
            "GET",
            _presigned(_set("X-Amz-Expires", "-5")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-expires-abc",
            "GET",
            _presigned(_set("X-Amz-Expires", "abc")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-no-signature",
            "GET",
            _presigned(_drop("X-Amz-Signature")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-no-credential",
            "GET",
            _presigned(_drop("X-Amz-Credential")),
            query_error,
            signer=None,
        ),
        Case("presigned-no-date", "GET", _presigned(_drop("X-Amz-Date")), query_error, signer=None),
        Case(
            "presigned-bad-algorithm",
            "GET",
            _presigned(_set("X-Amz-Algorithm", "AWS4-HMAC-SHA1")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-bad-date",
            "GET",
            _presigned(_set("X-Amz-Date", "2020-01-01")),
            query_error,
            signer=None,
        ),
        Case(
            "presigned-bad-credential",
            "GET",
            _presigned(_set("X-Amz-Credential", "nope")),
            query_error,
            signer=None,
        ),
    ]


# --- bodies ----------------------------------------------------------------------------------


def chunked_body(
    signed: Signed,
    chunks: Sequence[bytes],
    *,
    final: bool = True,
    corrupt_signature: int | None = None,
    size_text: Callable[[int], str] = lambda n: f"{n:x}",
    data_terminator: bytes = b"\r\n",
) -> bytes:
    """A signed aws-chunked body chained from the request's seed signature."""
    previous = signed.seed
    out = b""
    for index, chunk in enumerate([*chunks, b""] if final else list(chunks)):
        to_sign = chunk_string_to_sign(
            signed.amz_date, signed.scope, previous, hashlib.sha256(chunk).hexdigest()
        )
        signature = sigv4.sign(signed.key, to_sign)
        previous = signature
        if index == corrupt_signature:
            signature = _flip_last_hex(signature)
        out += f"{size_text(len(chunk))};chunk-signature={signature}\r\n".encode()
        out += chunk + (data_terminator if chunk else b"\r\n")
    return out


def signed_trailer_body(signed: Signed, data: bytes, trailers: dict[str, str]) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunks, final chunk, trailers, signature."""
    body = chunked_body(signed, [data], final=False)
    previous = signed.seed
    for chunk in (data, b""):
        previous = sigv4.sign(
            signed.key,
            chunk_string_to_sign(
                signed.amz_date, signed.scope, previous, hashlib.sha256(chunk).hexdigest()
            ),
        )
    body += f"0;chunk-signature={previous}\r\n".encode()
    for name, value in trailers.items():
        body += f"{name}:{value}\r\n".encode()
    trailer_signature = sigv4.sign(
        signed.key, trailer_string_to_sign(signed.amz_date, signed.scope, previous, trailers)
    )
    return body + f"x-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _streaming_headers(decoded: int, mode: str = STREAMING, **extra: str) -> dict[str, str]:
    return {
        "X-Amz-Content-SHA256": mode,
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(decoded),
        **extra,
    }


def _stored_as(key: str, data: bytes) -> Callable[[Ctx, HTTPResponse, bytes], None]:
    def check(ctx: Ctx, answer: HTTPResponse, body: bytes) -> None:
        stored = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"].read()
        assert stored == data

    return check


def body_cases() -> list[Case]:
    data = b"hello, aws-chunked world"
    half = data[:10], data[10:]
    incomplete = [(400, "IncompleteBody")]
    trailer = {"x-amz-checksum-crc32": _crc32_b64(data)}
    good_md5 = _md5_b64(b"body")
    framing_400 = [(400, None)]
    return [
        Case(
            "chunked-valid",
            "PUT",
            "/{b}/chunked-ok",
            [(200, None)],
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half),
            check=_stored_as("chunked-ok", data),
        ),
        Case(
            "chunked-signed-trailer-valid",
            "PUT",
            "/{b}/chunked-trailer-ok",
            [(200, None)],
            _streaming_headers(
                len(data), STREAMING_TRAILER, **{"X-Amz-Trailer": "x-amz-checksum-crc32"}
            ),
            lambda s: signed_trailer_body(s, data, trailer),
            check=_stored_as("chunked-trailer-ok", data),
        ),
        # S3 answers IncompleteBody for framing it cannot parse (see api/auth/chunked.py).
        Case(
            "chunked-bad-hex-size",
            "PUT",
            "/{b}/chunked-bad",
            incomplete,
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, size_text=lambda n: "zz" if n else "0"),
        ),
        Case(
            "chunked-size-too-big-hex",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "IncompleteBody"), (400, "InvalidRequest")],
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, size_text=lambda n: "ffffffffffffffffff"),
        ),
        Case(
            "chunked-missing-crlf",
            "PUT",
            "/{b}/chunked-bad",
            incomplete,
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, data_terminator=b""),
        ),
        Case(
            "chunked-bad-chunk-signature",
            "PUT",
            "/{b}/chunked-bad",
            [(403, "SignatureDoesNotMatch")],
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, corrupt_signature=1),
        ),
        Case(
            "chunked-bad-final-signature",
            "PUT",
            "/{b}/chunked-bad",
            [(403, "SignatureDoesNotMatch")],
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, corrupt_signature=2),
        ),
        Case(
            "chunked-missing-final-chunk",
            "PUT",
            "/{b}/chunked-bad",
            incomplete,
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half, final=False),
        ),
        Case(
            "chunked-decoded-length-short",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "IncompleteBody"), (400, "InvalidRequest")],
            _streaming_headers(len(data) - 5),
            lambda s: chunked_body(s, half),
        ),
        Case(
            "chunked-decoded-length-long",
            "PUT",
            "/{b}/chunked-bad",
            incomplete,
            _streaming_headers(len(data) + 5),
            lambda s: chunked_body(s, half),
        ),
        Case(
            "chunked-decoded-length-missing",
            "PUT",
            "/{b}/chunked-bad",
            [(411, "MissingContentLength")],
            {"X-Amz-Content-SHA256": STREAMING, "Content-Encoding": "aws-chunked"},
            lambda s: chunked_body(s, half),
        ),
        Case(
            "chunked-unsigned-trailer-not-announced",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "InvalidRequest"), (400, "MalformedTrailerError")],
            _streaming_headers(len(data), UNSIGNED_TRAILER),
            f"{len(data):x}\r\n".encode()
            + data
            + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{trailer['x-amz-checksum-crc32']}\r\n\r\n".encode(),
        ),
        Case(
            "chunked-unsigned-trailer-wrong-checksum",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "BadDigest")],
            _streaming_headers(
                len(data), UNSIGNED_TRAILER, **{"X-Amz-Trailer": "x-amz-checksum-crc32"}
            ),
            f"{len(data):x}\r\n".encode()
            + data
            + b"\r\n0\r\n"
            + f"x-amz-checksum-crc32:{_crc32_b64(b'other')}\r\n\r\n".encode(),
        ),
        Case(
            "chunked-unsigned-trailer-missing",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "InvalidRequest"), (400, "IncompleteBody")],
            _streaming_headers(
                len(data), UNSIGNED_TRAILER, **{"X-Amz-Trailer": "x-amz-checksum-crc32"}
            ),
            f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n",
        ),
        Case(
            "chunked-signed-trailer-wrong-checksum",
            "PUT",
            "/{b}/chunked-bad",
            [(400, "BadDigest")],
            _streaming_headers(
                len(data), STREAMING_TRAILER, **{"X-Amz-Trailer": "x-amz-checksum-crc32"}
            ),
            lambda s: signed_trailer_body(s, data, {"x-amz-checksum-crc32": _crc32_b64(b"x")}),
        ),
        Case(
            "chunked-truncated-half-close",
            "PUT",
            "/{b}/chunked-truncated",
            incomplete,
            _streaming_headers(len(data)),
            lambda s: chunked_body(s, half)[:40],
            content_length=200,
            half_close=True,
            absent_key="chunked-truncated",
        ),
        # Plain bodies against Content-Length.
        Case(
            "body-truncated",
            "PUT",
            "/{b}/short-body",
            incomplete,
            body=b"x" * 50,
            content_length=100,
            half_close=True,
            absent_key="short-body",
        ),
        Case(
            "body-overlong",
            "PUT",
            "/{b}/long-body",
            [(200, None)],
            body=b"y" * 10,
            mutate=lambda pairs: [*pairs, ("Content-Length", "10")],
            check=_stored_as("long-body", b"y" * 10),
        ),
        # HTTP/1.1 chunked without a length: spooled until its size is known, then stored.
        Case(
            "body-chunked-te-without-content-length",
            "PUT",
            "/{b}/te-body",
            [(200, None)],
            {"X-Amz-Content-SHA256": hashlib.sha256(b"hello").hexdigest()},
            body=b"5\r\nhello\r\n0\r\n\r\n",
            mutate=lambda pairs: [*pairs, ("Transfer-Encoding", "chunked")],
            content_length="omit",
            check=_stored_as("te-body", b"hello"),
        ),
        Case(
            "body-chunked-te-bad-chunk-size",
            "PUT",
            "/{b}/te-bad-size",
            [(400, None)],
            body=b"zz\r\nhello\r\n0\r\n\r\n",
            mutate=lambda pairs: [*pairs, ("Transfer-Encoding", "chunked")],
            content_length="omit",
            http_level=True,
            absent_key="te-bad-size",
        ),
        Case(
            "body-chunked-te-cut-short",
            "PUT",
            "/{b}/te-short",
            [(400, "IncompleteBody")],
            body=b"a\r\nhello",
            mutate=lambda pairs: [*pairs, ("Transfer-Encoding", "chunked")],
            content_length="omit",
            half_close=True,
            absent_key="te-short",
        ),
        Case(
            "body-missing-content-length",
            "PUT",
            "/{b}/no-length",
            [(411, "MissingContentLength")],
            content_length="omit",
        ),
        # Malformed HTTP framing is refused by the HTTP layer (S3's front end answers a bare
        # 400 Bad Request for these, too): only the status is checked.
        Case(
            "http-content-length-abc",
            "PUT",
            "",
            framing_400,
            http_level=True,
            raw=b"PUT /{b}/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\n\r\nxyz",
        ),
        Case(
            "http-content-length-negative",
            "PUT",
            "",
            framing_400,
            http_level=True,
            raw=b"PUT /{b}/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: -3\r\n\r\nxyz",
        ),
        Case(
            "http-cl-and-te",
            "PUT",
            "",
            framing_400,
            http_level=True,
            raw=b"PUT /{b}/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
        ),
        Case(
            "http-bad-chunk-size",
            "PUT",
            "",
            framing_400,
            http_level=True,
            raw=b"PUT /{b}/x HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nxyz\r\n0\r\n\r\n",
        ),
        Case(
            "http-garbage-request-line",
            "GET",
            "",
            framing_400,
            http_level=True,
            raw=b"\x00\x01\x02 / HTTP/1.1\r\nHost: {host}\r\n\r\n",
        ),
        # An HTTP/0.9-style request line: refused, or read as an anonymous request.
        Case(
            "http-no-version",
            "GET",
            "",
            [*framing_400, (403, None)],
            http_level=True,
            raw=b"GET /{b}/sentinel\r\nHost: {host}\r\n\r\n",
        ),
        # Digests.
        Case(
            "md5-wrong",
            "PUT",
            "/{b}/md5",
            [(400, "BadDigest")],
            {"Content-MD5": good_md5},
            b"not the body",
        ),
        Case(
            "md5-not-base64",
            "PUT",
            "/{b}/md5",
            [(400, "InvalidDigest")],
            {"Content-MD5": "!!!notbase64!!!"},
            b"body",
        ),
        Case(
            "md5-wrong-length",
            "PUT",
            "/{b}/md5",
            [(400, "InvalidDigest")],
            {"Content-MD5": base64.b64encode(b"12345678").decode()},
            b"body",
        ),
        Case(
            "md5-empty", "PUT", "/{b}/md5", [(400, "InvalidDigest")], {"Content-MD5": ""}, b"body"
        ),
        Case(
            "checksum-crc32-wrong",
            "PUT",
            "/{b}/ck",
            [(400, "BadDigest")],
            {"x-amz-checksum-crc32": _crc32_b64(b"other")},
            b"body",
        ),
        Case(
            "checksum-sha256-wrong",
            "PUT",
            "/{b}/ck",
            [(400, "BadDigest")],
            {"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"x").digest()).decode()},
            b"body",
        ),
        # "Value for x-amz-checksum-crc32 header is invalid." is InvalidRequest (400).
        Case(
            "checksum-crc32-malformed",
            "PUT",
            "/{b}/ck",
            [(400, "InvalidRequest")],
            {"x-amz-checksum-crc32": "!!!"},
            b"body",
        ),
        Case(
            "checksum-crc32-wrong-length",
            "PUT",
            "/{b}/ck",
            [(400, "InvalidRequest")],
            {"x-amz-checksum-crc32": base64.b64encode(b"123456").decode()},
            b"body",
        ),
        Case(
            "checksum-two-at-once",
            "PUT",
            "/{b}/ck",
            [(400, "InvalidRequest")],
            {
                "x-amz-checksum-crc32": _crc32_b64(b"body"),
                "x-amz-checksum-sha1": base64.b64encode(hashlib.sha1(b"body").digest()).decode(),
            },
            b"body",
        ),
        Case(
            "checksum-algorithm-unknown",
            "PUT",
            "/{b}/ck",
            [(400, "InvalidRequest")],
            {"x-amz-sdk-checksum-algorithm": "MD4"},
            b"body",
        ),
        Case(
            "checksum-ok-control",
            "PUT",
            "/{b}/ck-ok",
            [(200, None)],
            {"x-amz-checksum-crc32": _crc32_b64(b"body"), "Content-MD5": _md5_b64(b"body")},
            b"body",
            check=_stored_as("ck-ok", b"body"),
        ),
    ]


def name_cases() -> list[Case]:
    bad_names = [
        "ab", "a" * 64, "UPPERCASE", "under_score", "-leading", "trailing-", "a..b",
        "192.168.1.1", "xn--punycode", "name-s3alias", "has%20space", "b%C3%BCcket",
        "ends.with.dot.", "sthree-bucket", "name--ol-s3",
    ]  # fmt: skip
    cases = [
        Case(f"bucket-name-{index:02d}", "PUT", f"/{name}", [(400, "InvalidBucketName")])
        for index, name in enumerate(bad_names)
    ]
    cases += [
        # Keys are data: "../" is stored as it is (see test_access.py for the file system side).
        Case(
            "key-dotdot",
            "PUT",
            "/{b}/../../etc/passwd-x",
            [(200, None)],
            body=b"dots",
            check=_stored_as("../../etc/passwd-x", b"dots"),
        ),
        Case(
            "key-encoded-dotdot",
            "PUT",
            "/{b}/..%2F..%2Fx",
            [(200, None)],
            body=b"enc",
            check=_stored_as("../../x", b"enc"),
        ),
        # NUL and other C0 controls cannot be carried by XML 1.0, so such a key could never be
        # listed; the gateway refuses them with 400 InvalidArgument (router.validate_key, its
        # documented choice). S3 itself stores C0 characters (the reference only warns about
        # XML), so its answers (200 / 404 NoSuchKey) are accepted too. Never a 500.
        Case(
            "key-nul-put", "PUT", "/{b}/a%00b", [(400, "InvalidArgument"), (200, None)], body=b"x"
        ),
        Case("key-nul-get", "GET", "/{b}/a%00b", [(400, "InvalidArgument"), (404, "NoSuchKey")]),
        Case("prefix-nul", "GET", "/{b}?prefix=a%00b", [(400, "InvalidArgument")]),
        Case("upload-id-nul", "GET", "/{b}/k?uploadId=%00", [(400, "InvalidArgument")]),
        Case(
            "key-control-01",
            "PUT",
            "/{b}/a%01b",
            [(400, "InvalidArgument"), (200, None)],
            body=b"x",
        ),
        Case("key-control-1f", "GET", "/{b}/a%1Fb", [(400, "InvalidArgument"), (404, "NoSuchKey")]),
        Case("key-control-head", "HEAD", "/{b}/a%07b", [(400, None), (404, None)]),
        Case("key-invalid-utf8", "PUT", "/{b}/a%FFb", [(400, "InvalidArgument")], body=b"x"),
        Case("key-invalid-utf8-get", "GET", "/{b}/%C3%28", [(400, "InvalidArgument")]),
        Case("key-1025-bytes", "PUT", "/{b}/" + "k" * 1025, [(400, "KeyTooLongError")], body=b"x"),
        Case(
            "key-1025-bytes-multibyte",
            "PUT",
            "/{b}/" + "%C3%A9" * 512 + "k",
            [(400, "KeyTooLongError")],
            body=b"x",
        ),
        Case("key-1024-bytes-ok", "PUT", "/{b}/" + "k" * 1024, [(200, None)], body=b"x"),
        # "PUT /bucket/" is CreateBucket on an existing bucket of ours: us-east-1 answers 200,
        # other regions 409 BucketAlreadyOwnedByYou.
        Case("key-empty-put", "PUT", "/{b}/", [(200, None), (409, "BucketAlreadyOwnedByYou")]),
        Case("key-missing-get", "GET", "/{b}/no-such-key", [(404, "NoSuchKey")]),
        Case("key-missing-head", "HEAD", "/{b}/no-such-key", [(404, None)]),
        Case("bucket-missing-get", "GET", "/sec-no-such-bucket-x/k", [(404, "NoSuchBucket")]),
    ]
    return cases


def _whole_object(ctx: Ctx, answer: HTTPResponse, body: bytes) -> None:
    assert body == OBJECT_BYTES
    assert answer.getheader("Content-Range") is None


def _content_range_star(ctx: Ctx, answer: HTTPResponse, body: bytes) -> None:
    assert answer.getheader("Content-Range") == f"bytes */{len(OBJECT_BYTES)}"


def range_cases() -> list[Case]:
    # S3 ignores a Range header it cannot parse (and multiple ranges) and answers the whole
    # object with 200; a well-formed range selecting no byte is 416 InvalidRange with
    # "Content-Range: bytes */<size>".
    ignored = ["bytes=5-2", "bytes=x-y", "items=0-1", "bytes=0-1,3-4", "bytes=", "bytes=--1",
               "bytes=1-2-3", "bytes= 1 - 2x"]  # fmt: skip
    cases = [
        Case(
            f"range-ignored-{index}",
            "GET",
            "/{b}/obj",
            [(200, None)],
            {"Range": header},
            check=_whole_object,
        )
        for index, header in enumerate(ignored)
    ]
    unsatisfiable = ["bytes=50-60", "bytes=10-", "bytes=10-20", "bytes=-0"]
    cases += [
        Case(
            f"range-416-{index}",
            "GET",
            "/{b}/obj",
            [(416, "InvalidRange")],
            {"Range": header},
            check=_content_range_star,
        )
        for index, header in enumerate(unsatisfiable)
    ]
    cases.append(
        Case(
            "range-head-416",
            "HEAD",
            "/{b}/obj",
            [(416, None)],
            {"Range": "bytes=50-60"},
            check=_content_range_star,
        )
    )
    return cases


def multipart_cases() -> list[Case]:
    invalid_part = [(400, "InvalidArgument")]
    cases = []
    for value in ("0", "10001", "-1", "abc", "1.5", ""):
        cases.append(
            Case(
                f"upload-part-number-{value or 'empty'}",
                "PUT",
                f"/{{b}}/mp?partNumber={value}&uploadId={{u}}",
                invalid_part,
                body=b"part",
            )
        )
        cases.append(
            Case(
                f"get-part-number-{value or 'empty'}",
                "GET",
                f"/{{b}}/obj?partNumber={value}",
                invalid_part,
            )
        )
    cases.append(
        Case("get-part-number-2-of-1", "GET", "/{b}/obj?partNumber=2", [(416, "InvalidPartNumber")])
    )
    no_upload = [(404, "NoSuchUpload")]
    complete = (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                b"<ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part>"
                b"</CompleteMultipartUpload>")  # fmt: skip
    cases += [
        Case(
            "unknown-upload-part",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId=nosuchupload",
            no_upload,
            body=b"part",
        ),
        Case(
            "unknown-upload-part-copy",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId=nosuchupload",
            no_upload,
            {"x-amz-copy-source": "/{b}/obj"},
        ),
        Case(
            "unknown-upload-complete",
            "POST",
            "/{b}/mp?uploadId=nosuchupload",
            no_upload,
            {"Content-Type": "application/xml"},
            complete,
        ),
        Case("unknown-upload-abort", "DELETE", "/{b}/mp?uploadId=nosuchupload", no_upload),
        Case("unknown-upload-list-parts", "GET", "/{b}/mp?uploadId=nosuchupload", no_upload),
        Case(
            "upload-other-key",
            "PUT",
            "/{b}/other-key?partNumber=1&uploadId={u}",
            no_upload,
            body=b"part",
        ),
        Case(
            "complete-unknown-part",
            "POST",
            "/{b}/mp?uploadId={u}",
            [(400, "InvalidPart")],
            {"Content-Type": "application/xml"},
            complete,
        ),
        Case(
            "complete-no-parts",
            "POST",
            "/{b}/mp?uploadId={u}",
            [(400, "MalformedXML")],
            {"Content-Type": "application/xml"},
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        ),
        Case(
            "complete-part-order",
            "POST",
            "/{b}/mp?uploadId={u}",
            [(400, "InvalidPartOrder"), (400, "InvalidPart")],
            {"Content-Type": "application/xml"},
            b"<CompleteMultipartUpload>"
            b'<Part><PartNumber>2</PartNumber><ETag>"a"</ETag></Part>'
            b'<Part><PartNumber>1</PartNumber><ETag>"b"</ETag></Part>'
            b"</CompleteMultipartUpload>",
        ),
        Case(
            "list-parts-max-parts-abc",
            "GET",
            "/{b}/mp?uploadId={u}&max-parts=abc",
            [(400, "InvalidArgument")],
        ),
    ]
    return cases


def _many_headers(count: int, prefix: str, size: int) -> dict[str, str]:
    return {f"{prefix}{index}": "v" * size for index in range(count)}


def header_cases() -> list[Case]:
    return [
        # S3 limits the request header section to 8 KB: 400 RequestHeaderSectionTooLarge
        # ("Your request header section exceeds the maximum allowed size.").
        Case(
            "header-20kb-value",
            "GET",
            "/{b}/sentinel",
            [(400, "RequestHeaderSectionTooLarge")],
            {"X-Big": "v" * 20_000},
        ),
        Case(
            "header-20kb-unsigned",
            "GET",
            "/{b}/sentinel",
            [(400, "RequestHeaderSectionTooLarge")],
            signer=None,
            mutate=lambda pairs: [*pairs, ("X-Big", "v" * 20_000)],
        ),
        # Past the gateway's 256 header fields: refused by the HTTP parser, still as S3 XML.
        Case(
            "header-300-small",
            "GET",
            "/{b}/sentinel",
            [(400, "RequestHeaderSectionTooLarge")],
            _many_headers(300, "x-pad-", 4),
        ),
        Case(
            "header-200-small",
            "GET",
            "/{b}/sentinel",
            [(200, None)],
            _many_headers(200, "x-pad-", 4),
        ),
        # User metadata is limited to 2 KB: 400 MetadataTooLarge.
        Case(
            "header-200-meta",
            "PUT",
            "/{b}/meta",
            [(400, "MetadataTooLarge")],
            _many_headers(200, "x-amz-meta-k", 20),
            b"x",
        ),
        Case(
            "header-meta-3kb",
            "PUT",
            "/{b}/meta",
            [(400, "MetadataTooLarge")],
            {"x-amz-meta-big": "m" * 3000},
            b"x",
        ),
        # Header bytes that are not UTF-8 (http.client sends str headers as Latin-1), signed as
        # sent: read as Latin-1 and stored (was a 500).
        Case(
            "header-meta-latin-1-signed",
            "PUT",
            "/{b}/latin",
            [(200, None)],
            LATIN_1_HEADERS,
            b"x",
            signer=lambda credentials: RawBytesSigV4(credentials, "s3", REGION),
            # botocore hands such values back as email Header objects: put the text back.
            mutate=lambda pairs: [(n, LATIN_1_HEADERS.get(n.lower(), v)) for n, v in pairs],
            check=_metadata_word("latin", "café"),
        ),
    ]


# b"caf\xe9" as aiohttp hands it on (surrogate-escaped), and as build_request sends it.
LATIN_1_HEADERS = {"x-amz-meta-word": "caf\udce9", "x-amz-tagging": "k=caf\udce9"}


class RawBytesSigV4(S3SigV4Auth):
    """SigV4 over the header bytes as sent, surrogate-escaped ones included (botocore itself
    can only sign UTF-8 text)."""

    def _header_value(self, value: Any) -> str:
        if isinstance(value, email.header.Header):
            value = "".join(text for text, _ in value._chunks)  # type: ignore[attr-defined]
        return str(super()._header_value(value))

    def string_to_sign(self, request: AWSRequest, canonical_request: str) -> str:
        digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape"))
        return "\n".join(
            [
                "AWS4-HMAC-SHA256",
                request.context["timestamp"],
                self.credential_scope(request),
                digest.hexdigest(),
            ]
        )


def _metadata_word(key: str, text: str) -> Callable[[Ctx, HTTPResponse, bytes], None]:
    def check(ctx: Ctx, answer: HTTPResponse, body: bytes) -> None:
        head = ctx.s3.head_object(Bucket=ctx.bucket, Key=key)
        # Answered as UTF-8 bytes, which http.client reads as Latin-1.
        assert head["Metadata"]["word"].encode("latin-1") == text.encode()
        tags = ctx.s3.get_object_tagging(Bucket=ctx.bucket, Key=key)["TagSet"]
        assert tags == [{"Key": "k", "Value": text}]

    return check


def listing_cases() -> list[Case]:
    bad = [(400, "InvalidArgument")]
    return [
        Case("max-keys-negative", "GET", "/{b}?max-keys=-1", bad),
        Case("max-keys-abc", "GET", "/{b}?max-keys=abc", bad),
        Case("max-keys-huge", "GET", "/{b}?max-keys=99999999999999999999999", bad),
        Case("max-keys-v2-negative", "GET", "/{b}?list-type=2&max-keys=-1", bad),
        Case("max-uploads-abc", "GET", "/{b}?uploads&max-uploads=abc", bad),
        # "The continuation token provided is incorrect": 400 InvalidArgument.
        Case(
            "continuation-token-garbage", "GET", "/{b}?list-type=2&continuation-token=%25%25", bad
        ),
        Case("encoding-type-bogus", "GET", "/{b}?encoding-type=base64", bad),
        Case("list-missing-bucket", "GET", "/sec-no-such-bucket-y", [(404, "NoSuchBucket")]),
    ]


def method_cases() -> list[Case]:
    not_allowed = [(405, "MethodNotAllowed")]
    not_implemented = [(501, "NotImplemented")]
    return [
        Case("method-patch-object", "PATCH", "/{b}/obj", not_allowed),
        Case("method-patch-bucket", "PATCH", "/{b}", not_allowed),
        Case("method-trace", "TRACE", "/{b}/obj", not_allowed),
        Case("method-post-object-plain", "POST", "/{b}/obj", not_allowed, body=b"x"),
        Case("method-delete-service", "DELETE", "/", not_allowed),
        # S3 ignores query parameters it does not know.
        Case(
            "subresource-unknown", "GET", "/{b}/obj?frobnicate", [(200, None)], check=_whole_object
        ),
        Case("subresource-policy", "PUT", "/{b}?policy", [(400, "MalformedPolicy")], body=b"{}"),
        Case(
            "subresource-restore",
            "POST",
            "/{b}/obj?restore",
            not_implemented,
            body=b"<RestoreRequest/>",
        ),
        Case(
            "subresource-select",
            "POST",
            "/{b}/obj?select&select-type=2",
            not_implemented,
            body=b"<SelectObjectContentRequest/>",
        ),
        Case("conditional-304", "GET", "/{b}/obj", [(304, None)], {"If-None-Match": "{etag}"}),
        Case(
            "conditional-412",
            "GET",
            "/{b}/obj",
            [(412, "PreconditionFailed")],
            {"If-Match": '"00000000000000000000000000000000"'},
        ),
    ]


def copy_cases() -> list[Case]:
    return [
        Case(
            "copy-source-no-key",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "{b}"},
        ),
        Case(
            "copy-source-empty",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": ""},
        ),
        Case(
            "copy-source-slash",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/"},
        ),
        Case(
            "copy-source-missing-key",
            "PUT",
            "/{b}/copy",
            [(404, "NoSuchKey")],
            {"x-amz-copy-source": "/{b}/no-such-key"},
        ),
        Case(
            "copy-source-missing-bucket",
            "PUT",
            "/{b}/copy",
            [(404, "NoSuchBucket")],
            {"x-amz-copy-source": "/sec-no-such-bucket-z/k"},
        ),
        Case(
            "copy-source-bad-escape",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/{b}/%FF%FE"},
        ),
        Case(
            "copy-source-nul",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/{b}/a%00b"},
        ),
        # Copying an object onto itself without changing anything: 400 InvalidRequest.
        Case(
            "copy-onto-itself",
            "PUT",
            "/{b}/obj",
            [(400, "InvalidRequest")],
            {"x-amz-copy-source": "/{b}/obj"},
        ),
        Case(
            "copy-bad-directive",
            "PUT",
            "/{b}/copy",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/{b}/obj", "x-amz-metadata-directive": "MERGE"},
        ),
        Case(
            "copy-if-match-fails",
            "PUT",
            "/{b}/copy",
            [(412, "PreconditionFailed")],
            {
                "x-amz-copy-source": "/{b}/obj",
                "x-amz-copy-source-if-match": '"00000000000000000000000000000000"',
            },
        ),
        # x-amz-copy-source-range: a malformed value is 400 InvalidArgument ("The
        # x-amz-copy-source-range value must be of the form bytes=first-last ..."); a range
        # outside the source is 400 InvalidArgument ("Range specified is not valid for source
        # object of size") or 416 InvalidRange.
        Case(
            "copy-range-reversed",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId={u}",
            [(400, "InvalidArgument"), (416, "InvalidRange")],
            {"x-amz-copy-source": "/{b}/obj", "x-amz-copy-source-range": "bytes=5-2"},
        ),
        Case(
            "copy-range-garbage",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId={u}",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/{b}/obj", "x-amz-copy-source-range": "items=0-1"},
        ),
        Case(
            "copy-range-open",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId={u}",
            [(400, "InvalidArgument")],
            {"x-amz-copy-source": "/{b}/obj", "x-amz-copy-source-range": "bytes=0-"},
        ),
        Case(
            "copy-range-beyond",
            "PUT",
            "/{b}/mp?partNumber=1&uploadId={u}",
            [(400, "InvalidArgument"), (416, "InvalidRange")],
            {"x-amz-copy-source": "/{b}/obj", "x-amz-copy-source-range": "bytes=5-50"},
        ),
    ]


def _cors_document(*rules: str) -> bytes:
    return (
        "<CORSConfiguration>" + "".join(f"<CORSRule>{rule}</CORSRule>" for rule in rules)
    ).encode() + b"</CORSConfiguration>"


def cors_cases() -> list[Case]:
    """PutBucketCors documents S3 refuses (AWS's codes as its recorded answers show them), and
    preflights without what they need; none may leave a configuration behind."""
    simple = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    malformed = [(400, "MalformedXML")]
    invalid = [(400, "InvalidRequest")]
    documents: list[tuple[str, bytes, list[Expect]]] = [
        ("empty", b"<CORSConfiguration/>", malformed),
        # The reference's limits: 100 rules, 64 KB. S3's code for more rules is not documented;
        # InvalidRequest is what S3-compatible peers (Scality) answer.
        ("101-rules", _cors_document(*[simple] * 101), invalid),
        (
            "over-64kb",
            _cors_document(simple + "<ExposeHeader>" + "e" * 65_536 + "</ExposeHeader>"),
            malformed,
        ),
        ("no-origin", _cors_document("<AllowedMethod>GET</AllowedMethod>"), malformed),
        ("no-method", _cors_document("<AllowedOrigin>*</AllowedOrigin>"), malformed),
        (
            "unknown-element",
            _cors_document(simple + "<AllowedMethods>GET</AllowedMethods>"),
            malformed,
        ),
        (
            "bad-method",
            _cors_document("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>TRACE</AllowedMethod>"),
            invalid,
        ),
        (
            "two-wildcards",
            _cors_document(
                "<AllowedOrigin>http://*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            ),
            invalid,
        ),
        ("max-age-text", _cors_document(simple + "<MaxAgeSeconds>x</MaxAgeSeconds>"), malformed),
        # An exposed header is sent back in a response header: no CR LF may reach it.
        (
            "expose-crlf",
            _cors_document(simple + "<ExposeHeader>a&#13;&#10;Set-Cookie: s=1</ExposeHeader>"),
            invalid,
        ),
        (
            "id-256",
            _cors_document(simple + "<ID>" + "i" * 256 + "</ID>"),
            [(400, "InvalidArgument")],
        ),
    ]
    cases = [
        Case(
            f"cors-{name}",
            "PUT",
            "/{b}?cors",
            expect,
            {"Content-MD5": _md5_b64(document)},
            document,
            check=_no_cors_configuration,
        )
        for name, document, expect in documents
    ]
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}
    return [
        *cases,
        Case("cors-preflight-no-origin", "OPTIONS", "/{b}/obj", [(400, "BadRequest")], signer=None),
        Case(
            "cors-preflight-no-cors",
            "OPTIONS",
            "/{b}/obj",
            [(403, "AccessForbidden")],
            preflight,
            signer=None,
        ),
        Case(
            "cors-preflight-bad-bucket-name",
            "OPTIONS",
            "/%00bad/obj",
            [(403, "AccessForbidden"), (404, "NoSuchBucket")],
            preflight,
            signer=None,
        ),
    ]


def _form(*parts: tuple[str, bytes], boundary: str = "XyZ") -> bytes:
    """A multipart/form-data body of `(part header lines, content)` parts."""
    body = b"".join(
        f"--{boundary}\r\n".encode() + head.encode() + b"\r\n\r\n" + content + b"\r\n"
        for head, content in parts
    )
    return body + f"--{boundary}--\r\n".encode()


def _field(name: str, value: bytes) -> tuple[str, bytes]:
    return (f'Content-Disposition: form-data; name="{name}"', value)


_FILE = ('Content-Disposition: form-data; name="file"; filename="f.txt"', b"form body")


def post_cases() -> list[Case]:
    """Browser forms (POST Object) that are broken, too big, or signed wrongly: each the S3
    error, and the key they name never stored."""
    form_type = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    key = _field("key", b"post-bad")
    policy = base64.b64encode(
        b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{"bucket": "x"}]}'
    )
    signed = [_field("AWSAccessKeyId", b"{ak}"), _field("policy", policy)]
    cases: list[tuple[str, dict[str, str], bytes, list[Expect]]] = [
        (
            "not-a-form",
            {"Content-Type": "text/plain"},
            b"key=post-bad",
            [(412, "PreconditionFailed")],
        ),
        (
            "no-boundary",
            {"Content-Type": "multipart/form-data"},
            _form(key, _FILE),
            [(400, "MalformedPOSTRequest")],
        ),
        (
            "garbage",
            form_type,
            b"\x00\xff" * 500,
            [(400, "MalformedPOSTRequest"), (400, "IncorrectNumberOfFilesInPostRequest")],
        ),
        ("no-file", form_type, _form(key), [(400, "IncorrectNumberOfFilesInPostRequest")]),
        (
            "unnamed-part",
            form_type,
            _form(("Content-Disposition: form-data", b"x"), _FILE),
            [(400, "MalformedPOSTRequest")],
        ),
        (
            "field-not-utf8",
            form_type,
            _form(key, _field("x-amz-meta-a", b"\xff\xfe"), _FILE),
            [(400, "InvalidArgument")],
        ),
        (
            "fields-over-20k",
            form_type,
            _form(key, _field("x-ignore-pad", b"p" * 21_000), _FILE),
            [(400, "MaxPostPreDataLengthExceededError")],
        ),
        ("field-twice", form_type, _form(key, key, _FILE), [(400, "InvalidArgument")]),
        ("no-key", form_type, _form(_FILE), [(400, "InvalidArgument")]),
        ("bad-key", form_type, _form(_field("key", b"a\x00b"), _FILE), [(400, "InvalidArgument")]),
        (
            "policy-unsigned",
            form_type,
            _form(key, _field("policy", policy), _FILE),
            [(400, "InvalidArgument")],
        ),
        (
            "signature-forged",
            form_type,
            _form(key, *signed, _field("signature", b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="), _FILE),
            [(403, "SignatureDoesNotMatch")],
        ),
        (
            "unknown-access-key",
            form_type,
            _form(
                key,
                _field("AWSAccessKeyId", b"NOBODY"),
                _field("policy", policy),
                _field("signature", b"AAAA"),
                _FILE,
            ),
            [(403, "InvalidAccessKeyId")],
        ),
        (
            "sigv4-bad-credential",
            form_type,
            _form(
                key,
                _field("x-amz-algorithm", b"AWS4-HMAC-SHA256"),
                _field("x-amz-credential", b"only-a-key"),
                _field("x-amz-date", b"20260101T000000Z"),
                _field("policy", policy),
                _field("x-amz-signature", b"00"),
                _FILE,
            ),
            [(400, "InvalidArgument")],
        ),
        ("anonymous-private-bucket", form_type, _form(key, _FILE), [(403, "AccessDenied")]),
    ]
    return [
        Case(
            f"post-{name}",
            "POST",
            "/{b}",
            expect,
            headers,
            body,
            signer=None,
            absent_key="post-bad",
        )
        for name, headers, body, expect in cases
    ] + [
        Case(
            "post-cut-short",
            "POST",
            "/{b}",
            [
                (400, "MalformedPOSTRequest"),
                (400, "IncompleteBody"),
                (400, "IncorrectNumberOfFilesInPostRequest"),
            ],
            form_type,
            _form(key, _FILE)[:60],
            signer=None,
            content_length=5000,
            half_close=True,
            absent_key="post-bad",
        ),
    ]


def _no_cors_configuration(ctx: Ctx, answer: HTTPResponse, body: bytes) -> None:
    with pytest.raises(ClientError) as caught:
        ctx.s3.get_bucket_cors(Bucket=ctx.bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


KNOWN_DEFECTS: dict[str, str] = {}

CASES: list[Case] = [
    *xml_cases(),
    *auth_cases(),
    *presigned_cases(),
    *body_cases(),
    *name_cases(),
    *range_cases(),
    *multipart_cases(),
    *header_cases(),
    *listing_cases(),
    *method_cases(),
    *copy_cases(),
    *cors_cases(),
    *post_cases(),
]
for _case in CASES:
    if _case.id in KNOWN_DEFECTS:
        _case.xfail = KNOWN_DEFECTS[_case.id]


def _params() -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
        )
        for case in CASES
    ]


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def ctx(cluster: Cluster, s3: BaseClient) -> Iterator[Ctx]:
    name = unique_bucket_name("sec")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="sentinel", Body=SENTINEL_BYTES)
    etag = s3.put_object(Bucket=name, Key="obj", Body=OBJECT_BYTES)["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=name, Key="mp")["UploadId"]
    try:
        yield Ctx(cluster, s3, name, upload_id, etag)
    finally:
        for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        empty_and_delete_bucket(s3, name)


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Case, ctx: Ctx) -> None:
    data, method = build_request(case, ctx)
    started = time.monotonic()
    try:
        answer, body = send_raw(ctx.cluster, data, method, case.half_close)
    except (ConnectionError, RemoteDisconnected):
        if case.absent_key is None:
            raise
        # We closed our side mid-body; the server dropped the connection instead of answering.
        # What matters: no object was made from the partial body.
        assert_absent(ctx, case.absent_key)
        return
    elapsed = time.monotonic() - started
    summary = f"{case.method} -> {answer.status} {body[:600]!r} ({elapsed:.1f} s)"
    expected_statuses = {status for status, _ in case.expect}
    assert answer.status < 500 or answer.status in expected_statuses, summary
    code = None
    if case.http_level:
        assert (answer.status, None) in [(s, None) for s, _ in case.expect], summary
        return
    if method != "HEAD" and answer.status >= 300 and answer.status != 304:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as error:
            raise AssertionError(f"not an S3 XML error document: {summary}") from error
        assert root.tag == "Error", summary
        code = root.findtext("Code")
        assert root.findtext("Message"), summary
        assert root.findtext("RequestId"), summary
        assert answer.getheader("x-amz-request-id"), summary
    if method == "HEAD" or answer.status == 304:
        assert body == b"", summary
    assert (answer.status, code) in [tuple(e) for e in case.expect], summary
    if case.check is not None:
        case.check(ctx, answer, body)
    if case.absent_key is not None:
        assert_absent(ctx, case.absent_key)


def assert_absent(ctx: Ctx, key: str) -> None:
    listed = ctx.s3.list_objects_v2(Bucket=ctx.bucket, Prefix=key).get("Contents", [])
    assert key not in [item["Key"] for item in listed]


def test_sentinel_intact_after_corpus(ctx: Ctx) -> None:
    """Runs after the corpus (file order): nothing in it damaged stored data."""
    stored = ctx.s3.get_object(Bucket=ctx.bucket, Key="sentinel")["Body"].read()
    assert stored == SENTINEL_BYTES
    assert ctx.s3.get_object(Bucket=ctx.bucket, Key="obj")["Body"].read() == OBJECT_BYTES
