"""Fixtures for the in-process tier: handler tests that need no separate gateway process run
against the real gateway app in this process (support.inprocess), over real chunk daemons and a
real catalog. `cluster` and `s3` here override support.fixtures' for this folder; `bucket` comes
from there and so uses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient
from support.clients import client_for
from support.inprocess import inprocess_cluster
from support.processes import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with inprocess_cluster("s3compat-inprocess-") as running:
        yield running


@pytest.fixture(scope="session")
def s3(cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(cluster)
    yield client
    client.close()
