"""Prometheus metrics on the gateway and the chunk daemons."""

from __future__ import annotations

import urllib.request

from botocore.client import BaseClient
from support.processes import Cluster


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/-/metrics", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        return answer.read().decode()


def sample(text: str, prefix: str) -> float:
    """Sum of every sample line starting with `prefix` (name and labels)."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_gateway_counts_operations_and_reports_fill(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    put_prefix = 's3compat_requests_total{operation="PutObject",status="200"}'
    before = sample(scrape(cluster.endpoint), put_prefix)
    for number in range(3):
        s3.put_object(Bucket=bucket, Key=f"m{number}", Body=b"x" * 1000)
    text = scrape(cluster.endpoint)
    assert sample(text, put_prefix) == before + 3
    assert sample(text, 's3compat_received_bytes_total{operation="PutObject"}') >= 3000
    assert 's3compat_request_seconds_bucket{le="0.1",operation="PutObject"}' in text
    assert text.count("s3compat_server_fill_ratio{") >= 6
    assert 's3compat_gc_total{kind="deleted_chunks"}' in text


def test_chunk_daemon_metrics_need_no_secret_and_hold_no_data(cluster: Cluster) -> None:
    text = scrape(cluster.chunk_urls[0])
    assert sample(text, 'chunkd_storage{kind="capacity"}') > 0
    assert "chunkd_requests_total" in text
    assert cluster.cluster_secret not in text
