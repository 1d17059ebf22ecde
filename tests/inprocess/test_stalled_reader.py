"""A GET whose client stops reading with its connection open is cut after SEND_STALL_SECONDS,
so that it does not hold the gateway's task, buffers and read holds for ever."""

from __future__ import annotations

import http.client
import os
import time
from urllib.parse import urlsplit

import pytest
from botocore.client import BaseClient

from s3compat.api.ops import object as object_ops

STALL_SECONDS = 0.5
BODY_BYTES = 48 * 1024 * 1024  # more than the sockets' buffers hold


def test_a_reader_that_stops_reading_is_cut(
    s3: BaseClient, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(object_ops, "SEND_STALL_SECONDS", STALL_SECONDS)
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
