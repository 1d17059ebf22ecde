"""Durability and resource use: interrupted uploads leave nothing behind, replaced versions are
collected after the grace period, and the gateway streams instead of buffering."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import http_status
from support.data import locate, read_chunk, used_bytes
from support.processes import Cluster, gateway_pid, peak_rss_bytes
from support.signing import connection_for, sign
from support.waiting import wait_for

MIB = 1024 * 1024
GC_TIMEOUT_SECONDS = 10.0
QUIET_SECONDS = 2.0  # longer than --gc-grace 1 plus one --sweep-interval 0.5
RSS_LIMIT_BYTES = 200 * MIB


def settled_used_bytes(cluster: Cluster, timeout: float = 20.0) -> int:
    """used_bytes once it has not changed for QUIET_SECONDS (earlier tests' garbage is gone)."""
    deadline = time.monotonic() + timeout
    last = used_bytes(cluster)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = used_bytes(cluster)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_SECONDS:
            return now
    raise AssertionError(f"used_bytes never settled within {timeout} s (last {last})")


def temp_bytes(cluster: Cluster) -> int:
    """Bytes in files anywhere under the chunk daemons' folders except complete chunks."""
    total = 0
    for chunk_dir in cluster.chunk_dirs:
        for path in Path(chunk_dir, "tmp").rglob("*"):
            if path.is_file():
                total += path.stat().st_size
    return total


def is_absent(s3: BaseClient, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        assert http_status(error) == 404
        return True
    return False


def test_client_disconnect_mid_put_leaves_nothing(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    baseline = settled_used_bytes(cluster)
    declared = 8 * MIB
    target = f"/{bucket}/half-sent"
    host, port = cluster.host_port
    headers = sign(
        cluster,
        "PUT",
        target,
        {"Content-Length": str(declared), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        b"",
    )
    head = f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(head.encode())
        connection.sendall(os.urandom(declared // 2))
        time.sleep(0.3)  # let the gateway start streaming pieces out before we vanish
    assert is_absent(s3, bucket, "half-sent")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    def cleaned_up() -> bool:
        return used_bytes(cluster) == baseline and temp_bytes(cluster) == 0

    wait_for(cleaned_up, GC_TIMEOUT_SECONDS)
    assert is_absent(s3, bucket, "half-sent")


def test_overwrite_frees_old_bytes_after_grace(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    baseline = settled_used_bytes(cluster)
    old = os.urandom(3 * MIB)
    s3.put_object(Bucket=bucket, Key="v", Body=old)
    old_chunks = locate(cluster, bucket, "v")["chunks"]
    # Data and parity pieces: 8/6 of the body at parity 2.
    stored = sum(chunk["length"] for chunk in old_chunks)
    assert stored > len(old)
    overhead = used_bytes(cluster) - baseline - stored  # per-chunk footers and the like
    assert overhead >= 0

    new = os.urandom(1 * MIB)
    s3.put_object(Bucket=bucket, Key="v", Body=new)
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == new
    new_stored = sum(chunk["length"] for chunk in locate(cluster, bucket, "v")["chunks"])
    wait_for(lambda: used_bytes(cluster) == baseline + new_stored + overhead, GC_TIMEOUT_SECONDS)
    for chunk in old_chunks:
        if chunk["length"]:
            assert read_chunk(cluster, chunk["url"], chunk["chunk_id"])[0] == 404, chunk
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == new


def test_delete_frees_bytes_after_grace(cluster: Cluster, s3: BaseClient, bucket: str) -> None:
    baseline = settled_used_bytes(cluster)
    s3.put_object(Bucket=bucket, Key="gone", Body=os.urandom(2 * MIB))
    assert used_bytes(cluster) >= baseline + 2 * MIB
    s3.delete_object(Bucket=bucket, Key="gone")
    wait_for(lambda: used_bytes(cluster) == baseline, GC_TIMEOUT_SECONDS)


def generated_blocks(total: int, block: int = MIB, seed: int = 1234) -> Iterator[bytes]:
    generator = random.Random(seed)
    for offset in range(0, total, block):
        yield generator.randbytes(min(block, total - offset))


def test_gateway_memory_stays_bounded_for_256_mib(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    size = 256 * MIB
    pid = gateway_pid(cluster)
    before = peak_rss_bytes(pid)
    target = f"/{bucket}/big"

    headers = sign(
        cluster,
        "PUT",
        target,
        {"Content-Length": str(size), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        b"",
    )
    sent = hashlib.md5()
    connection = connection_for(cluster, timeout=300)
    try:
        connection.putrequest("PUT", target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        for block in generated_blocks(size):
            sent.update(block)
            connection.send(block)
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, body[:500]
        assert answer.getheader("ETag") == f'"{sent.hexdigest()}"'
    finally:
        connection.close()
    after_put = peak_rss_bytes(pid)

    received = hashlib.md5()
    length = 0
    connection = connection_for(cluster, timeout=300)
    try:
        connection.request("GET", target, headers=sign(cluster, "GET", target, {}, b""))
        answer = connection.getresponse()
        assert answer.status == 200
        while block := answer.read(MIB):
            received.update(block)
            length += len(block)
    finally:
        connection.close()
    after_get = peak_rss_bytes(pid)

    assert (length, received.hexdigest()) == (size, sent.hexdigest())
    print(
        f"gateway VmHWM: {before / MIB:.1f} MiB before, {after_put / MIB:.1f} MiB after the "
        f"256 MiB PUT, {after_get / MIB:.1f} MiB after the GET"
    )
    assert after_get < RSS_LIMIT_BYTES, f"gateway peak RSS {after_get / MIB:.1f} MiB"
    assert gateway_pid(cluster) == pid  # the same process served both (no restart hid a peak)
