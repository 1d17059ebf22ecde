"""Large objects at flat memory: 1 GiB and 10 GiB round trips through the aws CLI and boto3,
and a 1 GiB body sent with Transfer-Encoding: chunked (spooled before it is split).

Marked `slow` (not in the default suite): `scripts/test -m slow tests/integration/test_large.py`.
Each test prints throughput and the gateway's peak RSS (VmHWM); the gateway must stay under
200 MiB and no file of the object's size may appear anywhere in the cluster's folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clients import client_for
from support.processes import (
    Cluster,
    gateway_pid,
    peak_rss_bytes,
    private_directory,
    start_cluster,
    stop_cluster,
)
from test_chunked_bodies import put_chunked

GIB = 1024**3
RSS_LIMIT_BYTES = 200 * 1024**2
BLOCK = 8 * 1024 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def big_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-large-") as base:
        cluster, process = start_cluster(base / "data", base / "logs")
        try:
            yield cluster
        finally:
            stop_cluster(process)


def write_file(path: Path, size: int) -> str:
    """A file of `size` pseudo-random bytes (a fresh random block per 8 MiB); its MD5."""
    digest = hashlib.md5()
    seed = os.urandom(BLOCK)
    with path.open("wb") as handle:
        written = 0
        counter = 0
        while written < size:
            block = hashlib.sha256(counter.to_bytes(8, "big")).digest() + seed[32:]
            block = block[: min(BLOCK, size - written)]
            handle.write(block)
            digest.update(block)
            written += len(block)
            counter += 1
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def largest_file(folder: Path) -> int:
    return max((p.stat().st_size for p in folder.rglob("*") if p.is_file()), default=0)


def aws(cluster: Cluster, *arguments: str) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": cluster.access_key,
        "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
    }
    aws_cli = str(Path(sys.executable).with_name("aws"))
    subprocess.run(
        [aws_cli, "--endpoint-url", cluster.endpoint, "--only-show-errors", *arguments],
        env=env,
        check=True,
    )


@pytest.mark.parametrize("size", [GIB, 10 * GIB], ids=["1GiB", "10GiB"])
def test_aws_cli_round_trip_at_flat_memory(big_cluster: Cluster, tmp_path: Path, size: int) -> None:
    client = client_for(big_cluster)
    bucket = f"large-{size // GIB}"
    client.create_bucket(Bucket=bucket)
    source = tmp_path / "source"
    expected = write_file(source, size)
    pid = gateway_pid(big_cluster)

    started = time.monotonic()
    aws(big_cluster, "s3", "cp", str(source), f"s3://{bucket}/object")
    upload_seconds = time.monotonic() - started
    largest_chunk = largest_file(big_cluster.data_dir)
    source.unlink()

    target = tmp_path / "target"
    started = time.monotonic()
    aws(big_cluster, "s3", "cp", f"s3://{bucket}/object", str(target))
    download_seconds = time.monotonic() - started
    peak = peak_rss_bytes(pid)
    print(
        f"\n{size / GIB:.0f} GiB via aws CLI: up {size / upload_seconds / 2**20:.0f} MiB/s, "
        f"down {size / download_seconds / 2**20:.0f} MiB/s, gateway peak RSS "
        f"{peak / 2**20:.0f} MiB, largest file in the cluster {largest_chunk / 2**20:.1f} MiB"
    )
    assert file_md5(target) == expected
    target.unlink()
    assert peak < RSS_LIMIT_BYTES
    assert largest_chunk < size // 100  # pieces of parts, never a file of the object's size
    client.delete_object(Bucket=bucket, Key="object")
    client.delete_bucket(Bucket=bucket)


def test_boto3_upload_file_1gib(big_cluster: Cluster, tmp_path: Path) -> None:
    client = client_for(big_cluster)
    client.create_bucket(Bucket="boto-large")
    source = tmp_path / "source"
    expected = write_file(source, GIB)
    pid = gateway_pid(big_cluster)
    started = time.monotonic()
    client.upload_file(str(source), "boto-large", "object")
    upload_seconds = time.monotonic() - started
    source.unlink()
    target = tmp_path / "target"
    started = time.monotonic()
    client.download_file("boto-large", "object", str(target))
    download_seconds = time.monotonic() - started
    peak = peak_rss_bytes(pid)
    print(
        f"\n1 GiB via boto3: up {GIB / upload_seconds / 2**20:.0f} MiB/s, "
        f"down {GIB / download_seconds / 2**20:.0f} MiB/s, gateway peak RSS {peak / 2**20:.0f} MiB"
    )
    assert file_md5(target) == expected
    assert peak < RSS_LIMIT_BYTES
    client.delete_object(Bucket="boto-large", Key="object")
    client.delete_bucket(Bucket="boto-large")


def test_chunked_put_1gib_is_spooled_at_flat_memory(big_cluster: Cluster, tmp_path: Path) -> None:
    client = client_for(big_cluster)
    client.create_bucket(Bucket="chunked-large")
    digest = hashlib.md5()
    seed = os.urandom(BLOCK)

    def blocks() -> Iterator[bytes]:
        for counter in range(GIB // BLOCK):
            block = hashlib.sha256(counter.to_bytes(8, "big")).digest() + seed[32:]
            digest.update(block)
            yield block

    pid = gateway_pid(big_cluster)
    started = time.monotonic()
    status, headers, body = put_chunked(big_cluster, "/chunked-large/object", blocks())
    upload_seconds = time.monotonic() - started
    assert status == 200, body
    assert headers["ETag"] == f'"{digest.hexdigest()}"'
    target = tmp_path / "target"
    client.download_file("chunked-large", "object", str(target))
    peak = peak_rss_bytes(pid)
    print(
        f"\n1 GiB chunked PUT: {GIB / upload_seconds / 2**20:.0f} MiB/s (spool + split), "
        f"gateway peak RSS {peak / 2**20:.0f} MiB"
    )
    assert file_md5(target) == digest.hexdigest()
    assert peak < RSS_LIMIT_BYTES
    assert not any((big_cluster.data_dir / "spool").iterdir())
    client.delete_object(Bucket="chunked-large", Key="object")
    client.delete_bucket(Bucket="chunked-large")
