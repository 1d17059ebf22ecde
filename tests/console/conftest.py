"""Fixtures of the console tier: a cluster of its own (the browser test stops and kills its
chunk daemons; servers are marked down 2 s after they go silent), a second user, and logged-in
HTTP sessions against the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient
from console_support import ConsoleUser
from support.clients import client_for, make_bucket
from support.data import admin
from support.processes import Cluster, running_cluster


@pytest.fixture(scope="session")
def console_cluster() -> Iterator[Cluster]:
    with running_cluster("s3compat-console-", ["--down-after", "2"]) as running:
        yield running


@pytest.fixture(scope="session")
def cs3(console_cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(console_cluster)
    yield client
    client.close()


@pytest.fixture
def cbucket(cs3: BaseClient) -> Iterator[str]:
    """A fresh bucket of the root user on the console cluster."""
    yield from make_bucket(cs3)


@pytest.fixture(scope="session")
def alice(console_cluster: Cluster) -> ConsoleUser:
    """A second user (not the administrator)."""
    made = admin(console_cluster, "user", "add", "alice")
    return ConsoleUser(made["access_key"], made["secret_key"])


@pytest.fixture(scope="session")
def root_user(console_cluster: Cluster) -> ConsoleUser:
    return ConsoleUser(console_cluster.access_key, console_cluster.secret_key)
