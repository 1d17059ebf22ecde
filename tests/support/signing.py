"""Raw requests to a gateway, for what boto3 will not send: signed as botocore would sign them
(optionally at a chosen time), or unsigned, and their answers."""

from __future__ import annotations

import datetime
import http.client
import ssl
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import HmacV1Auth, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.clients import REGION
from support.processes import Cluster

HTTP_TIMEOUT_SECONDS = 60.0
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def xml(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.body)

    def error_code(self) -> str | None:
        """The <Code> of an S3 error body, if the body is one."""
        if not self.body:
            return None
        root = self.xml()
        return root.findtext("Code")


def connection_for(
    cluster: Cluster, timeout: float = HTTP_TIMEOUT_SECONDS
) -> http.client.HTTPConnection:
    host, port = cluster.host_port
    if cluster.endpoint.startswith("https://"):
        assert cluster.ca_cert is not None
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


class FixedTimeSigV4(S3SigV4Auth):
    """SigV4 as botocore does it, but at a chosen time (to test clock skew)."""

    def __init__(self, credentials: Credentials, at: datetime.datetime) -> None:
        super().__init__(credentials, "s3", REGION)
        self.at = at

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self.at.strftime("%Y%m%dT%H%M%SZ")
        super()._modify_request_before_signing(request)


class FixedTimeSigV2(HmacV1Auth):
    """SigV2 (HMAC-SHA1 header auth) with a chosen Date."""

    def __init__(self, credentials: Credentials, at: datetime.datetime) -> None:
        super().__init__(credentials)
        self.at = at

    def _get_date(self) -> str:
        from email.utils import format_datetime

        return format_datetime(self.at, usegmt=True)


def sign(
    cluster: Cluster,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    signer: str | SigV4Auth | HmacV1Auth = "sigv4",
    access_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """Headers for `method target` signed like botocore would sign them.

    `signer` is "sigv4" (the payload's SHA-256 unless X-Amz-Content-SHA256 is given),
    "sigv2", or a signer object. `target` is the encoded path with its query string.
    """
    credentials = Credentials(access_key or cluster.access_key, secret_key or cluster.secret_key)
    request = AWSRequest(
        method=method, url=cluster.endpoint + target, data=body, headers=dict(headers)
    )
    if signer == "sigv4":
        if any(name.lower() == "x-amz-content-sha256" for name in headers):
            # Keep the caller's payload hash: the plain SigV4 signer signs whatever it says.
            SigV4Auth(credentials, "s3", REGION).add_auth(request)
        else:
            S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    elif signer == "sigv2":
        HmacV1Auth(credentials).add_auth(request)
    elif isinstance(signer, str):
        raise ValueError(signer)
    else:
        signer.add_auth(request)
    return {name: value for name, value in request.headers.items()}


def raw_request(
    cluster: Cluster,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    signer: str | SigV4Auth | HmacV1Auth | None = "sigv4",
    access_key: str | None = None,
    secret_key: str | None = None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
) -> RawResponse:
    """Send one request to the gateway (signed unless `signer` is None) and read the answer
    (TimeoutError if the gateway is silent for `timeout` seconds)."""
    all_headers = dict(headers or {})
    if signer is not None:
        all_headers = sign(
            cluster, method, target, all_headers, body, signer, access_key, secret_key
        )
    connection = connection_for(cluster, timeout)
    try:
        connection.request(
            method,
            target,
            body=body if method not in ("GET", "HEAD") or body else None,
            headers=all_headers,
        )
        answer = connection.getresponse()
        return RawResponse(answer.status, answer.headers, answer.read())
    finally:
        connection.close()
