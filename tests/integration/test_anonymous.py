"""Anonymous requests (no Authorization header, no presigned query): what public-read and
public-read-write ACLs let them do, and everything they still cannot do."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from support.clients import (
    client_for,
    empty_and_delete_bucket,
    error_code,
    http_status,
    unique_bucket_name,
)
from support.processes import Cluster
from support.signing import raw_request

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def anonymous(cluster: Cluster) -> Iterator[BaseClient]:
    """A boto3 client that signs nothing."""
    client = boto3.session.Session(region_name="us-east-1").client(
        "s3", endpoint_url=cluster.endpoint, config=Config(signature_version=UNSIGNED)
    )
    yield client
    client.close()


@pytest.fixture
def public_bucket(s3: BaseClient) -> Iterator[str]:
    """A public-read bucket with a public-read object `open` and a private object `closed`."""
    name = unique_bucket_name("anon")
    s3.create_bucket(Bucket=name, ACL="public-read")
    s3.put_object(Bucket=name, Key="open", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=name, Key="closed", Body=b"for the owner")
    yield name
    empty_and_delete_bucket(s3, name)


def refused(call: Any, code: str = "AccessDenied", status: int = 403) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert http_status(caught.value) == status, caught.value.response
    if code:
        assert error_code(caught.value) in (code, str(status)), caught.value.response


def test_public_read_object_and_bucket(anonymous: BaseClient, public_bucket: str) -> None:
    answer = anonymous.get_object(Bucket=public_bucket, Key="open")
    assert answer["Body"].read() == b"for everyone"
    assert anonymous.head_object(Bucket=public_bucket, Key="open")["ContentLength"] == 12
    assert (
        anonymous.get_object(Bucket=public_bucket, Key="open", Range="bytes=4-6")["Body"].read()
        == b"eve"
    )
    listed = anonymous.list_objects_v2(Bucket=public_bucket)
    assert [item["Key"] for item in listed["Contents"]] == ["closed", "open"]
    assert [item["Key"] for item in anonymous.list_objects(Bucket=public_bucket)["Contents"]] == [
        "closed",
        "open",
    ]
    anonymous.head_bucket(Bucket=public_bucket)


def test_anonymous_reads_cannot_override_response_headers(
    anonymous: BaseClient, s3: BaseClient, public_bucket: str
) -> None:
    """response-* parameters need a signed request (AWS: 400 InvalidRequest)."""
    for read in (anonymous.get_object, anonymous.head_object):
        with pytest.raises(ClientError) as refused:
            read(Bucket=public_bucket, Key="open", ResponseContentType="text/html")
        assert http_status(refused.value) == 400
        if read is anonymous.get_object:  # a HEAD answer has no body to carry the code
            assert error_code(refused.value) == "InvalidRequest"
    signed = s3.get_object(Bucket=public_bucket, Key="open", ResponseContentType="text/html")
    assert signed["ContentType"] == "text/html"
    assert signed["Body"].read() == b"for everyone"


def test_private_object_in_public_bucket_is_refused(
    anonymous: BaseClient, public_bucket: str
) -> None:
    refused(lambda: anonymous.get_object(Bucket=public_bucket, Key="closed"))
    refused(lambda: anonymous.head_object(Bucket=public_bucket, Key="closed"), code="")
    # Who may list the bucket learns that a key is missing; the bucket is public-read.
    refused(lambda: anonymous.get_object(Bucket=public_bucket, Key="nothing"), "NoSuchKey", 404)


def test_public_object_in_private_bucket(
    s3: BaseClient, anonymous: BaseClient, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="open", Body=b"shared", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"mine")
    assert anonymous.get_object(Bucket=bucket, Key="open")["Body"].read() == b"shared"
    refused(lambda: anonymous.get_object(Bucket=bucket, Key="closed"))
    refused(lambda: anonymous.list_objects_v2(Bucket=bucket))
    refused(lambda: anonymous.head_bucket(Bucket=bucket), code="")
    # Who cannot list cannot probe for keys either: a missing key is 403, not 404.
    refused(lambda: anonymous.get_object(Bucket=bucket, Key="nothing"))
    # Taking the grant back takes the access back.
    s3.put_object_acl(Bucket=bucket, Key="open", ACL="private")
    refused(lambda: anonymous.get_object(Bucket=bucket, Key="open"))


def test_missing_bucket_is_404_for_anonymous(anonymous: BaseClient) -> None:
    name = unique_bucket_name("gone")
    refused(lambda: anonymous.get_object(Bucket=name, Key="k"), "NoSuchBucket", 404)
    refused(lambda: anonymous.delete_object(Bucket=name, Key="k"), "NoSuchBucket", 404)
    refused(lambda: anonymous.list_objects_v2(Bucket=name), "NoSuchBucket", 404)


def test_writes_need_public_read_write(
    s3: BaseClient, anonymous: BaseClient, public_bucket: str
) -> None:
    """public-read lets nobody write; nothing anonymous changes the bucket or its objects."""
    refused(lambda: anonymous.put_object(Bucket=public_bucket, Key="new", Body=b"x"))
    refused(lambda: anonymous.put_object(Bucket=public_bucket, Key="open", Body=b"x"))
    refused(lambda: anonymous.delete_object(Bucket=public_bucket, Key="open"))
    refused(
        lambda: anonymous.delete_objects(
            Bucket=public_bucket, Delete={"Objects": [{"Key": "open"}]}
        )
    )
    refused(
        lambda: anonymous.copy_object(
            Bucket=public_bucket, Key="copy", CopySource={"Bucket": public_bucket, "Key": "open"}
        )
    )
    refused(lambda: anonymous.create_multipart_upload(Bucket=public_bucket, Key="mp"))
    refused(lambda: anonymous.put_object_acl(Bucket=public_bucket, Key="open", ACL="private"))
    refused(lambda: anonymous.put_bucket_acl(Bucket=public_bucket, ACL="public-read-write"))
    refused(lambda: anonymous.delete_bucket(Bucket=public_bucket))
    assert s3.get_object(Bucket=public_bucket, Key="open")["Body"].read() == b"for everyone"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=public_bucket)["Contents"]]
    assert keys == ["closed", "open"]
    assert any(
        grant["Grantee"].get("URI") == ALL_USERS and grant["Permission"] == "READ"
        for grant in s3.get_bucket_acl(Bucket=public_bucket)["Grants"]
    )


def test_acls_and_configuration_stay_private(anonymous: BaseClient, public_bucket: str) -> None:
    """READ is not READ_ACP, and bucket configuration is the owner's alone."""
    refused(lambda: anonymous.get_object_acl(Bucket=public_bucket, Key="open"))
    refused(lambda: anonymous.get_bucket_acl(Bucket=public_bucket))
    refused(lambda: anonymous.get_bucket_location(Bucket=public_bucket))
    refused(lambda: anonymous.get_bucket_tagging(Bucket=public_bucket))
    refused(lambda: anonymous.get_object_tagging(Bucket=public_bucket, Key="open"))
    refused(lambda: anonymous.get_bucket_lifecycle_configuration(Bucket=public_bucket))
    refused(lambda: anonymous.list_buckets())
    refused(lambda: anonymous.create_bucket(Bucket=unique_bucket_name("anon")))


def test_public_read_write_bucket_takes_anonymous_writes(
    s3: BaseClient, anonymous: BaseClient
) -> None:
    name = unique_bucket_name("anonrw")
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    try:
        s3.put_object(Bucket=name, Key="mine", Body=b"owner's")
        anonymous.put_object(Bucket=name, Key="dropped", Body=b"from anyone")
        anonymous.put_object(Bucket=name, Key="mine", Body=b"overwritten")
        # An object written anonymously belongs to the bucket's owner, who reads and lists it.
        assert s3.get_object(Bucket=name, Key="dropped")["Body"].read() == b"from anyone"
        acl = s3.get_object_acl(Bucket=name, Key="dropped")
        assert acl["Owner"]["ID"] == s3.get_bucket_acl(Bucket=name)["Owner"]["ID"]
        # Objects keep their own ACL: the bucket's WRITE grant does not make them readable.
        refused(lambda: anonymous.get_object(Bucket=name, Key="dropped"))
        anonymous.delete_object(Bucket=name, Key="dropped")
        assert [item["Key"] for item in s3.list_objects_v2(Bucket=name)["Contents"]] == ["mine"]
        # Bucket configuration is still the owner's alone.
        refused(lambda: anonymous.put_bucket_acl(Bucket=name, ACL="private"))
        refused(lambda: anonymous.delete_bucket(Bucket=name))
    finally:
        empty_and_delete_bucket(s3, name)


def test_a_bad_signature_is_not_anonymous(cluster: Cluster, public_bucket: str) -> None:
    """Credentials that fail are refused even where no credentials would be let in."""
    wrong = client_for(cluster, cluster.access_key, "not-the-secret")
    try:
        refused(lambda: wrong.get_object(Bucket=public_bucket, Key="open"), "SignatureDoesNotMatch")
    finally:
        wrong.close()
    unknown = client_for(cluster, "NOSUCHACCESSKEY12345", "whatever")
    try:
        refused(lambda: unknown.get_object(Bucket=public_bucket, Key="open"), "InvalidAccessKeyId")
    finally:
        unknown.close()
    broken = raw_request(cluster, "GET", f"/{public_bucket}/open?X-Amz-Signature=abc", signer=None)
    assert broken.status in (400, 403), broken.body


def _expect_continue(cluster: Cluster, path: str) -> str:
    """Send a PUT head with `Expect: 100-continue` and no body; the status of the first answer."""
    host, port = cluster.host_port
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 5\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        first = connection.recv(4096).decode("latin-1")
    return first.split(" ", 2)[1]


def test_expect_continue_is_decided_before_the_body(
    s3: BaseClient, cluster: Cluster, bucket: str
) -> None:
    """A refused upload is refused before its body is sent; an allowed one is invited."""
    assert _expect_continue(cluster, f"/{bucket}/k") == "403"
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert _expect_continue(cluster, f"/{bucket}/k") == "100"
    assert _expect_continue(cluster, f"/{unique_bucket_name('gone')}/k") == "404"
