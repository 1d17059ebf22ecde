"""Fixtures of the integration tier alone: a cluster serving https with a self-signed
certificate, its boto3 client and buckets; a chunk daemon shared by a module's tests and a
chunk client for it. The session cluster, `s3` and `bucket` come from
support.fixtures; the helpers are modules of `support` that tests import by name.

The catalog backend is SQLite unless S3COMPAT_TEST_CATALOG=postgresql (see support.catalog).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from botocore.client import BaseClient
from support.chunk_daemons import SECRET, ChunkDaemon
from support.clients import client_for, make_bucket
from support.processes import Cluster, private_directory, start_cluster, stop_cluster
from support.tls import make_self_signed_certificate

from s3compat.cluster.client import ChunkClient


@pytest.fixture(scope="session")
def tls_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-it-tls-") as root:
        cert, key = make_self_signed_certificate(root)
        running, process = start_cluster(
            root / "data", root, ["--tls-cert", str(cert), "--tls-key", str(key)]
        )
        try:
            assert running.endpoint.startswith("https://"), running.endpoint
            yield Cluster(**{**running.__dict__, "ca_cert": cert})
        finally:
            stop_cluster(process)


@pytest.fixture(scope="session")
def s3_tls(tls_cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(tls_cluster)
    yield client
    client.close()


@pytest.fixture
def tls_bucket(s3_tls: BaseClient) -> Iterator[str]:
    yield from make_bucket(s3_tls)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChunkDaemon]:
    """One chunk daemon shared by a module's tests (which only add chunks with fresh ids)."""
    shared = ChunkDaemon(tmp_path_factory.mktemp("shared") / "data")
    shared.start()
    yield shared
    shared.close()


@pytest.fixture
async def chunk_client() -> AsyncIterator[ChunkClient]:
    """The gateway's chunk client, with the cluster secret of `daemon` and short timeouts."""
    async with ChunkClient(SECRET, connect_timeout=2.0, io_timeout=10.0) as started:
        yield started
