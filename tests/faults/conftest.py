"""Fixtures for the fault tier: a cluster of its own (tests here kill and stop its processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient
from chaos_support import chaos_seconds
from faults_support import fully_healthy
from support.clients import client_for, make_bucket
from support.processes import Cluster, running_cluster
from support.waiting import wait_for


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[Cluster]:
    with running_cluster("s3compat-faults-") as running:
        yield running


@pytest.fixture
def healthy_cluster(fault_cluster: Cluster) -> Cluster:
    """The fault cluster, once every chunk daemon is up again and writes get all their parity
    pieces (a previous test may have stopped or killed some)."""
    wait_for(lambda: fully_healthy(fault_cluster), timeout=45, interval=0.2)
    return fault_cluster


@pytest.fixture(scope="session")
def fs3(fault_cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(fault_cluster)
    yield client
    client.close()


@pytest.fixture
def fbucket(fs3: BaseClient) -> Iterator[str]:
    yield from make_bucket(fs3)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-seconds",
        type=float,
        default=None,
        help="how long the crash test's chaos phase runs (default: $S3COMPAT_CHAOS_SECONDS, "
        "else 60 s)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The crash test's timeout grows with its chaos phase."""
    for item in items:
        if item.path.name == "test_chaos.py":
            item.add_marker(pytest.mark.timeout(chaos_seconds(config) + 240))
