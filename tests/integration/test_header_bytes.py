"""Header values that are not UTF-8. http.client (and so `requests`) sends a str header as
Latin-1: `x-amz-meta-name: café` arrives as b"caf\\xe9". S3 reads such bytes as Latin-1; so do
we, and nothing that stores, signs or answers them fails (it was a 500)."""

from __future__ import annotations

import hashlib
import hmac
import socket
from datetime import UTC, datetime
from http.client import HTTPResponse
from urllib.parse import quote, urlsplit

from botocore.client import BaseClient
from support.clients import REGION, client_for
from support.processes import Cluster


def presigned(cluster: Cluster, method: str, bucket: str, key: str, signature: str) -> str:
    """A presigned URL's path and query (only the host is signed)."""
    client = client_for(cluster, signature_version=signature)
    url = client.generate_presigned_url(
        method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def presigned_with_headers(
    cluster: Cluster, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> str:
    """A SigV4 presigned URL's path and query that also signs `headers`, over their bytes as
    they will be sent (botocore signs a str header as UTF-8, so it cannot sign Latin-1)."""
    host, port = cluster.host_port
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    lines = sorted([(b"host", f"{host}:{port}".encode()), *((n.lower(), v) for n, v in headers)])
    names = ";".join(name.decode() for name, _ in lines)
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{cluster.access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": "300",
        "X-Amz-SignedHeaders": names,
    }
    encoded = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query.items())
    canonical = b"\n".join(
        [
            method.encode(),
            path.encode(),
            "&".join(sorted(encoded.split("&"))).encode(),
            b"".join(name + b":" + value.strip() + b"\n" for name, value in lines),
            names.encode(),
            b"UNSIGNED-PAYLOAD",
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical).hexdigest()]
    )
    key = f"AWS4{cluster.secret_key}".encode()
    for part in (amz_date[:8], REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{encoded}&X-Amz-Signature={signature}"


def send(
    cluster: Cluster, method: str, target: str, headers: list[bytes], body: bytes
) -> tuple[int, dict[str, bytes], bytes]:
    """One request with header lines given as raw bytes; (status, raw headers, body)."""
    host, port = cluster.host_port
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    head += b"".join(line + b"\r\n" for line in headers)
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(head + body)
        answer = HTTPResponse(connection, method=method)
        answer.begin()
        raw = {name.lower(): value.encode("latin-1") for name, value in answer.getheaders()}
        return answer.status, raw, answer.read()


def test_latin_1_metadata_is_stored_as_text(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    # x-amz-* headers of a presigned request must be signed (as AWS requires): over the bytes.
    amz = [(b"x-amz-meta-word", b"caf\xe9"), (b"x-amz-tagging", b"place=caf\xe9")]
    target = presigned_with_headers(cluster, "PUT", f"/{bucket}/latin", amz)
    status, _, body = send(
        cluster,
        "PUT",
        target,
        [
            *(name + b": " + value for name, value in amz),
            b'Content-Disposition: attachment; filename="caf\xe9.txt"',
        ],
        b"abc",
    )
    assert status == 200, body
    # A GET (a streamed answer) that itself carries such a header still names its request.
    status, headers, body = send(
        cluster,
        "GET",
        presigned(cluster, "get_object", bucket, "latin", "s3v4"),
        [b"x-note: caf\xe9"],
        b"",
    )
    assert (status, body) == (200, b"abc")
    assert headers["x-amz-request-id"]
    status, headers, _ = send(
        cluster, "HEAD", presigned(cluster, "head_object", bucket, "latin", "s3v4"), [], b""
    )
    assert status == 200
    # Answered as UTF-8, the encoding every other value is answered in.
    assert headers["x-amz-meta-word"] == "café".encode()
    assert headers["content-disposition"] == 'attachment; filename="café.txt"'.encode()
    tags = s3.get_object_tagging(Bucket=bucket, Key="latin")["TagSet"]
    assert tags == [{"Key": "place", "Value": "café"}]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["latin"]


def test_unsigned_latin_1_header_under_sigv2_is_a_signature_mismatch(
    cluster: Cluster, bucket: str
) -> None:
    """SigV2 signs every x-amz-* header: one added afterwards fails the check (the bytes as
    sent are quoted back), and is never a 500."""
    target = presigned(cluster, "put_object", bucket, "v2", "s3")
    status, _, body = send(cluster, "PUT", target, [b"x-amz-meta-word: caf\xe9"], b"abc")
    assert status == 403, body
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
    assert b"63 61 66 e9" in body  # StringToSignBytes: "caf" and the byte 0xe9
