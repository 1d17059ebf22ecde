"""Clients that stall with their connection open: a GET that stops reading is cut after
SEND_STALL_SECONDS, an upload that stops sending is answered RequestTimeout after
RECEIVE_STALL_SECONDS, so that neither holds the gateway's resources for ever."""

from __future__ import annotations

import http.client
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.processes import Cluster

from s3compat.api import stalls

STALL_SECONDS = 0.5
BODY_BYTES = 48 * 1024 * 1024  # more than the sockets' buffers hold


def test_a_reader_that_stops_reading_is_cut(
    s3: BaseClient, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stalls, "SEND_STALL_SECONDS", STALL_SECONDS)
    body = os.urandom(BODY_BYTES)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    url = urlsplit(s3.generate_presigned_url("get_object", {"Bucket": bucket, "Key": "big"}))
    assert url.hostname is not None
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("GET", f"{url.path}?{url.query}")
        answer = connection.getresponse()
        assert answer.status == 200
        got = answer.read(64 * 1024)
        time.sleep(STALL_SECONDS * 6)  # stalled: the gateway gives up on us
        with pytest.raises(http.client.IncompleteRead):
            got += answer.read()
    finally:
        connection.close()
    # A reader that keeps reading gets every byte.
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body


def test_an_upload_that_stops_sending_is_a_request_timeout(
    s3: BaseClient, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As S3 does: 400 RequestTimeout, and no object."""
    monkeypatch.setattr(stalls, "RECEIVE_STALL_SECONDS", STALL_SECONDS)
    url = urlsplit(s3.generate_presigned_url("put_object", {"Bucket": bucket, "Key": "half"}))
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Length: {1024 * 1024}\r\n\r\n".encode()
            + os.urandom(10_000)
        )
        answer = http.client.HTTPResponse(connection)
        answer.begin()  # waits: the gateway answers once the body has stalled long enough
        assert answer.status == 400
        assert b"<Code>RequestTimeout</Code>" in answer.read()
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="half")
    assert missing.value.response["Error"]["Code"] == "404"


def test_a_browser_form_that_stops_sending_is_a_request_timeout(
    cluster: Cluster, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST form whose fields stop arriving: 400 RequestTimeout, as for an upload."""
    monkeypatch.setattr(stalls, "RECEIVE_STALL_SECONDS", STALL_SECONDS)
    host, port = cluster.host_port
    head = b'--b0undary\r\nContent-Disposition: form-data; name="key"\r\n\r\nhalf'
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(
            f"POST /{bucket} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: multipart/form-data; boundary=b0undary\r\n"
            f"Content-Length: {len(head) + 10_000}\r\n\r\n".encode()
            + head
        )
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        assert answer.status == 400
        assert b"<Code>RequestTimeout</Code>" in answer.read()
