"""Who may do what: chunk daemons take only the cluster secret, a second user cannot touch root's
bucket, an anonymous request gets only what a public ACL grants (reads, and writes only with
public-read-write), presigned URLs cannot be altered, secrets never reach a log, keys never name
files."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from support.clients import (
    REGION,
    client_for,
    empty_and_delete_bucket,
    error_code,
    http_status,
    unique_bucket_name,
)
from support.data import locate, new_user, read_chunk
from support.processes import child_pids
from support.signing import connection_for, raw_request

Cluster = Any
CHUNK_ID_RE = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------------------------------------
# Chunk daemons


def chunk_request(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def sigv4_headers(
    cluster: Cluster, url: str, method: str, path: str, body: bytes
) -> dict[str, str]:
    """The root user's S3 credentials, SigV4-signed for the chunk daemon's URL."""
    request = AWSRequest(method=method, url=url + path, data=body)
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials(cluster.access_key, cluster.secret_key), "s3", REGION).add_auth(request)
    return dict(request.headers.items())


def _bad_credentials(
    cluster: Cluster,
) -> dict[str, Callable[[str, str, str, bytes], dict[str, str]]]:
    return {
        "none": lambda url, method, path, body: {},
        "empty-bearer": lambda url, method, path, body: {"Authorization": "Bearer "},
        "wrong-secret": lambda url, method, path, body: {
            "Authorization": "Bearer " + cluster.cluster_secret[:-1] + "x"
        },
        "secret-prefix": lambda url, method, path, body: {
            "Authorization": "Bearer " + cluster.cluster_secret[:10]
        },
        "secret-no-scheme": lambda url, method, path, body: {
            "Authorization": cluster.cluster_secret
        },
        "s3-secret-bearer": lambda url, method, path, body: {
            "Authorization": f"Bearer {cluster.secret_key}"
        },
        "s3-access-key-bearer": lambda url, method, path, body: {
            "Authorization": f"Bearer {cluster.access_key}"
        },
        "s3-sigv4": lambda url, method, path, body: sigv4_headers(cluster, url, method, path, body),
    }


CREDENTIAL_KINDS = [
    "none", "empty-bearer", "wrong-secret", "secret-prefix", "secret-no-scheme",
    "s3-secret-bearer", "s3-access-key-bearer", "s3-sigv4",
]  # fmt: skip


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_chunk_daemons_refuse_requests_without_the_cluster_secret(
    cluster: Cluster, s3: BaseClient, bucket: str, kind: str
) -> None:
    s3.put_object(Bucket=bucket, Key="obj", Body=b"0123456789ab")
    located = locate(cluster, bucket, "obj")
    placed = _chunks_of(located)
    assert placed, located
    url, existing = placed[0]
    make_headers = _bad_credentials(cluster)[kind]
    new_id = uuid.uuid4().hex
    requests = [
        ("GET", f"/chunks/{existing}", b""),
        ("HEAD", f"/chunks/{existing}", b""),
        ("PUT", f"/chunks/{new_id}", b"evil"),
        ("DELETE", f"/chunks/{existing}", b""),
        ("POST", f"/chunks/{existing}/verify", b""),
        ("GET", "/chunks", b""),
        ("GET", "/stats", b""),
    ]
    for method, path, body in requests:
        status, answer = chunk_request(
            url, method, path, make_headers(url, method, path, body), body
        )
        assert status == 401, (kind, method, path, status, answer[:200])
    # Nothing was written or deleted.
    assert read_chunk(cluster, url, new_id)[0] == 404
    assert read_chunk(cluster, url, existing)[0] == 200
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"0123456789ab"


def _chunks_of(located: dict[str, Any]) -> list[tuple[str, str]]:
    """(chunk daemon URL, chunk id) pairs from `admin locate` output, whatever its nesting."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            chunk_id = node.get("chunk_id") or node.get("id")
            url = node.get("url") or node.get("server_url") or node.get("server")
            if isinstance(chunk_id, str) and isinstance(url, str) and url.startswith("http"):
                found.append((url, chunk_id))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(located)
    return found


# ---------------------------------------------------------------------------------------------
# A second user


@pytest.fixture(scope="module")
def other_user(cluster: Cluster) -> Iterator[BaseClient]:
    user = new_user(cluster, "mallory")
    yield user.client
    user.client.close()


def _denied(call: Callable[[], Any]) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert http_status(caught.value) == 403, caught.value.response
    # HEAD answers carry no body, so botocore names the error after the status.
    assert error_code(caught.value) in ("AccessDenied", "403"), caught.value.response


def test_second_user_cannot_touch_roots_bucket(
    cluster: Cluster, s3: BaseClient, bucket: str, other_user: BaseClient
) -> None:
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"root's data")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    own = unique_bucket_name("mallory")
    other_user.create_bucket(Bucket=own)
    acl_body = {
        "Grants": [],
        "Owner": s3.get_bucket_acl(Bucket=bucket)["Owner"],
    }
    attempts: dict[str, Callable[[], Any]] = {
        "get": lambda: other_user.get_object(Bucket=bucket, Key="secret.txt"),
        "head": lambda: other_user.head_object(Bucket=bucket, Key="secret.txt"),
        "head-bucket": lambda: other_user.head_bucket(Bucket=bucket),
        "list-v1": lambda: other_user.list_objects(Bucket=bucket),
        "list-v2": lambda: other_user.list_objects_v2(Bucket=bucket),
        "list-versions": lambda: other_user.list_object_versions(Bucket=bucket),
        "overwrite": lambda: other_user.put_object(Bucket=bucket, Key="secret.txt", Body=b"x"),
        "put-new": lambda: other_user.put_object(Bucket=bucket, Key="new.txt", Body=b"x"),
        "delete": lambda: other_user.delete_object(Bucket=bucket, Key="secret.txt"),
        "delete-objects": lambda: other_user.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "secret.txt"}]}
        ),
        "delete-bucket": lambda: other_user.delete_bucket(Bucket=bucket),
        "copy-from": lambda: other_user.copy_object(
            Bucket=own, Key="stolen", CopySource={"Bucket": bucket, "Key": "secret.txt"}
        ),
        "copy-into": lambda: other_user.copy_object(
            Bucket=bucket, Key="planted", CopySource={"Bucket": bucket, "Key": "secret.txt"}
        ),
        "create-multipart": lambda: other_user.create_multipart_upload(Bucket=bucket, Key="m"),
        "upload-part": lambda: other_user.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x"
        ),
        "upload-part-copy-from": lambda: _part_copy_from(other_user, own, bucket),
        "list-parts": lambda: other_user.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id),
        "list-uploads": lambda: other_user.list_multipart_uploads(Bucket=bucket),
        "complete": lambda: other_user.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        ),
        "abort": lambda: other_user.abort_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload_id
        ),
        "get-bucket-acl": lambda: other_user.get_bucket_acl(Bucket=bucket),
        "put-bucket-acl": lambda: other_user.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        "put-bucket-acl-body": lambda: other_user.put_bucket_acl(
            Bucket=bucket, AccessControlPolicy=acl_body
        ),
        "get-object-acl": lambda: other_user.get_object_acl(Bucket=bucket, Key="secret.txt"),
        "put-object-acl": lambda: other_user.put_object_acl(
            Bucket=bucket, Key="secret.txt", ACL="public-read"
        ),
        "get-object-tagging": lambda: other_user.get_object_tagging(
            Bucket=bucket, Key="secret.txt"
        ),
        "put-object-tagging": lambda: other_user.put_object_tagging(
            Bucket=bucket, Key="secret.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
        "delete-object-tagging": lambda: other_user.delete_object_tagging(
            Bucket=bucket, Key="secret.txt"
        ),
        "put-bucket-tagging": lambda: other_user.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
        "get-bucket-location": lambda: other_user.get_bucket_location(Bucket=bucket),
        "put-lifecycle": lambda: other_user.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "x",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": 1},
                    }
                ]
            },
        ),
    }
    failures = []
    try:
        for name, call in attempts.items():
            try:
                _denied(call)
            except (AssertionError, pytest.fail.Exception) as error:
                failures.append(f"{name}: {error}")
        assert not failures, "\n".join(failures)
        # Root's object and upload are untouched.
        assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"root's data"
        assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id).get("Parts", []) == []
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["secret.txt"]
        assert s3.get_object_tagging(Bucket=bucket, Key="secret.txt")["TagSet"] == []
        grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
        assert all(grant["Grantee"].get("Type") == "CanonicalUser" for grant in grants), grants
        assert other_user.list_objects_v2(Bucket=own).get("KeyCount", 0) == 0
        # Root's buckets are not listed to the other user.
        names = [entry["Name"] for entry in other_user.list_buckets()["Buckets"]]
        assert bucket not in names and own in names
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
        empty_and_delete_bucket(other_user, own)


def _part_copy_from(client: BaseClient, own: str, victim: str) -> None:
    upload_id = client.create_multipart_upload(Bucket=own, Key="m")["UploadId"]
    try:
        client.upload_part_copy(
            Bucket=own, Key="m", UploadId=upload_id, PartNumber=1,
            CopySource={"Bucket": victim, "Key": "secret.txt"},
        )  # fmt: skip
    finally:
        client.abort_multipart_upload(Bucket=own, Key="m", UploadId=upload_id)


def test_second_user_cannot_create_a_taken_bucket_name(
    s3: BaseClient, bucket: str, other_user: BaseClient
) -> None:
    with pytest.raises(ClientError) as caught:
        other_user.create_bucket(Bucket=bucket)
    assert error_code(caught.value) == "BucketAlreadyExists"
    assert http_status(caught.value) == 409


# ---------------------------------------------------------------------------------------------
# Anonymous requests (no Authorization header, no presigned query)


@pytest.fixture(scope="module")
def anonymous(cluster: Cluster) -> Iterator[BaseClient]:
    client = boto3.session.Session(region_name=REGION).client(
        "s3", endpoint_url=cluster.endpoint, config=Config(signature_version=UNSIGNED)
    )
    yield client
    client.close()


def _anonymous_attempts(
    anonymous: BaseClient, bucket: str, key: str, upload_id: str
) -> dict[str, Callable[[], Any]]:
    """Every kind of write, and the reads a public-read ACL does not grant."""
    return {
        "overwrite": lambda: anonymous.put_object(Bucket=bucket, Key=key, Body=b"x"),
        "put-new": lambda: anonymous.put_object(Bucket=bucket, Key="planted", Body=b"x"),
        "delete": lambda: anonymous.delete_object(Bucket=bucket, Key=key),
        "delete-objects": lambda: anonymous.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key}]}
        ),
        "copy-into": lambda: anonymous.copy_object(
            Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": key}
        ),
        "create-multipart": lambda: anonymous.create_multipart_upload(Bucket=bucket, Key="m"),
        "upload-part": lambda: anonymous.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x"
        ),
        "list-parts": lambda: anonymous.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id),
        "abort": lambda: anonymous.abort_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload_id
        ),
        "get-bucket-acl": lambda: anonymous.get_bucket_acl(Bucket=bucket),
        "put-bucket-acl": lambda: anonymous.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        "get-object-acl": lambda: anonymous.get_object_acl(Bucket=bucket, Key=key),
        "put-object-acl": lambda: anonymous.put_object_acl(
            Bucket=bucket, Key=key, ACL="public-read-write"
        ),
        "get-object-tagging": lambda: anonymous.get_object_tagging(Bucket=bucket, Key=key),
        "put-object-tagging": lambda: anonymous.put_object_tagging(
            Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
        "put-bucket-tagging": lambda: anonymous.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        ),
        "get-bucket-location": lambda: anonymous.get_bucket_location(Bucket=bucket),
        "delete-bucket": lambda: anonymous.delete_bucket(Bucket=bucket),
        "list-buckets": lambda: anonymous.list_buckets(),
        "create-bucket": lambda: anonymous.create_bucket(Bucket=unique_bucket_name("anon")),
    }


def _all_denied(attempts: dict[str, Callable[[], Any]]) -> None:
    failures = []
    for name, call in attempts.items():
        try:
            _denied(call)
        except (AssertionError, pytest.fail.Exception) as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n".join(failures)


def test_anonymous_requests_cannot_touch_private_data(
    s3: BaseClient, bucket: str, anonymous: BaseClient
) -> None:
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"root's data")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        attempts = _anonymous_attempts(anonymous, bucket, "secret.txt", upload_id)
        attempts |= {
            "get": lambda: anonymous.get_object(Bucket=bucket, Key="secret.txt"),
            "head": lambda: anonymous.head_object(Bucket=bucket, Key="secret.txt"),
            "get-missing": lambda: anonymous.get_object(Bucket=bucket, Key="no-such-key"),
            "head-bucket": lambda: anonymous.head_bucket(Bucket=bucket),
            "list-v1": lambda: anonymous.list_objects(Bucket=bucket),
            "list-v2": lambda: anonymous.list_objects_v2(Bucket=bucket),
            "list-versions": lambda: anonymous.list_object_versions(Bucket=bucket),
            "list-uploads": lambda: anonymous.list_multipart_uploads(Bucket=bucket),
        }
        _all_denied(attempts)
        _untouched(s3, bucket, upload_id)
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)


def test_public_read_grants_anonymous_reads_and_nothing_else(
    s3: BaseClient, bucket: str, anonymous: BaseClient, other_user: BaseClient
) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"root's data", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"still private")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        assert anonymous.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == (
            b"root's data"
        )
        listed = anonymous.list_objects_v2(Bucket=bucket)["Contents"]
        assert [item["Key"] for item in listed] == ["private.txt", "secret.txt"]
        attempts = _anonymous_attempts(anonymous, bucket, "secret.txt", upload_id)
        attempts["get-private"] = lambda: anonymous.get_object(Bucket=bucket, Key="private.txt")
        attempts["other-user-get-private"] = lambda: other_user.get_object(
            Bucket=bucket, Key="private.txt"
        )
        attempts["other-user-write"] = lambda: other_user.put_object(
            Bucket=bucket, Key="planted", Body=b"x"
        )
        _all_denied(attempts)
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["private.txt", "secret.txt"]
        assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"root's data"
        assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id).get("Parts", []) == []
        grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
        assert {g["Permission"] for g in grants if "URI" in g["Grantee"]} == {"READ"}
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)


def _untouched(s3: BaseClient, bucket: str, upload_id: str) -> None:
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"root's data"
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id).get("Parts", []) == []
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["secret.txt"]
    assert s3.get_object_tagging(Bucket=bucket, Key="secret.txt")["TagSet"] == []
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert all(grant["Grantee"].get("Type") == "CanonicalUser" for grant in grants), grants
    grants = s3.get_object_acl(Bucket=bucket, Key="secret.txt")["Grants"]
    assert all(grant["Grantee"].get("Type") == "CanonicalUser" for grant in grants), grants


# ---------------------------------------------------------------------------------------------
# Presigned URLs


def _fetch(cluster: Cluster, method: str, url: str, body: bytes = b"") -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = connection_for(cluster)
    try:
        connection.request(method, f"{parts.path}?{parts.query}", body=body or None)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def _tamper(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params[name] = value
    return parts._replace(query=urlencode(params, quote_via=quote, safe="")).geturl()


def _other_time(url: str) -> str:
    amz_date = dict(parse_qsl(urlsplit(url).query))["X-Amz-Date"]
    return amz_date[:9] + ("000001Z" if amz_date[9:] != "000001Z" else "000002Z")


def test_presigned_url_tampering_is_refused(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"aaa")
    s3.put_object(Bucket=bucket, Key="b", Body=b"bbb")
    v4 = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name=REGION,
    ).client("s3", endpoint_url=cluster.endpoint, config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=300
    )
    v4.close()
    assert _fetch(cluster, "GET", url) == (200, b"aaa")
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = {
        "key": ("GET", url.replace(f"/{bucket}/a?", f"/{bucket}/b?")),
        "method-delete": ("DELETE", url),
        "method-put": ("PUT", url),
        "expiry": ("GET", _tamper(url, "X-Amz-Expires", "604800")),
        "signature": ("GET", _tamper(url, "X-Amz-Signature", flipped)),
        # Same day (the credential scope still matches), another time.
        "date": ("GET", _tamper(url, "X-Amz-Date", _other_time(url))),
    }
    for name, (method, changed) in tampered.items():
        status, body = _fetch(cluster, method, changed, b"x" if method == "PUT" else b"")
        assert status == 403, (name, status, body[:300])
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"aaa"


# ---------------------------------------------------------------------------------------------
# Secrets in logs


def test_logs_and_data_never_hold_secrets(
    cluster: Cluster, s3: BaseClient, bucket: str, other_user: BaseClient
) -> None:
    # Failed and successful authentication of every kind first.
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    wrong = client_for(cluster, cluster.access_key, "not-the-secret")
    with pytest.raises(ClientError):
        wrong.get_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError):
        other_user.get_object(Bucket=bucket, Key="k")
    raw_request(cluster, "GET", f"/{bucket}/k", signer="sigv2")
    raw_request(cluster, "GET", f"/{bucket}/k", {"Authorization": "garbage"}, signer=None)
    for url in cluster.chunk_urls[:2]:
        chunk_request(url, "GET", "/stats", {"Authorization": f"Bearer {cluster.secret_key}"})
    secrets = {"root secret key": cluster.secret_key, "cluster secret": cluster.cluster_secret}
    # The catalog and credentials.json hold the secrets by design (0600); everything else
    # (logs next to the data dir, chunk files, temp files) must not.
    by_design = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "credentials.json"}
    scanned = 0
    log_dir = cluster.data_dir.parent
    candidates = [path for path in log_dir.glob("*.log")]
    candidates += [
        path for path in cluster.data_dir.rglob("*")
        if path.is_file() and path.name not in by_design
    ]  # fmt: skip
    for path in candidates:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue  # a chunk the collector deleted since the listing
        scanned += 1
        for label, secret in secrets.items():
            assert secret.encode() not in content, f"{label} found in {path}"
    assert scanned >= 1 and any(path.suffix == ".log" for path in candidates)
    credentials = cluster.data_dir / "credentials.json"
    assert credentials.stat().st_mode & 0o077 == 0
    # argv is readable by every local user: no secret on any command line of the cluster.
    for pid in [cluster.pid, *child_pids(cluster.pid)]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        for label, secret in secrets.items():
            assert secret.encode() not in cmdline, f"{label} on the command line of {pid}"


# ---------------------------------------------------------------------------------------------
# Keys are data


PATH_LIKE_KEYS = [
    "../../etc/passwd", "/abs/path", "a/../../b", "..", ".", "./x", "a//b", "../" * 40 + "deep",
    "chunks/../tmp/x", "\\..\\..\\windows", "%2e%2e/literal", "~root/.ssh/authorized_keys",
]  # fmt: skip


def test_path_like_keys_are_data(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    before = _files_outside_chunk_stores(cluster)
    payloads = {key: f"payload of {key!r}".encode() + os.urandom(8) for key in PATH_LIKE_KEYS}
    for key, data in payloads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    for key, data in payloads.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert listed == set(payloads)
    # No file appeared anywhere but as a chunk, and every chunk file is named by a chunk id.
    assert _files_outside_chunk_stores(cluster) == before
    for chunk_dir in cluster.chunk_dirs:
        for path in (chunk_dir / "chunks").rglob("*"):
            if path.is_file():
                relative = path.relative_to(chunk_dir / "chunks").parts
                assert len(relative) == 3, path
                assert CHUNK_ID_RE.fullmatch(relative[2]), path
                assert relative[0] == relative[2][:2] and relative[1] == relative[2][2:4], path
    for suspicious in ("/etc/passwd-x", "/abs", "/b", "/tmp/x", "/root/.ssh/authorized_keys"):
        # These would be the targets of a path traversal; none of ours may exist there now.
        target = Path(suspicious)
        if target.is_file():
            assert not any(target.read_bytes() == data for data in payloads.values()), target


def _files_outside_chunk_stores(cluster: Cluster) -> set[str]:
    """Every file under the data dir except chunk files, temp files and the catalog."""
    found = set()
    for path in cluster.data_dir.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(cluster.data_dir).parts
        in_store = len(relative) > 1 and relative[1] in ("chunks", "tmp")
        if relative[0].startswith("chunkd-") and in_store:
            continue
        if relative[0].startswith("catalog.db"):
            continue
        found.add("/".join(relative))
    return found
