"""Fixtures for the fault tier: a cluster of its own (tests here kill and stop its processes),
started with the integration tier's `start_cluster`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from chaos_support import chaos_seconds
from faults_support import fully_healthy, it

# Integration test modules do `from conftest import ...`, which reads whichever `conftest`
# module pytest imported last; when one run collects both tiers, that can be this file. So it
# offers every name of the integration conftest too (as tests/clients/conftest.py does).
globals().update({name: value for name, value in vars(it).items() if not name.startswith("__")})


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[Any]:
    with it.running_cluster("s3compat-faults-") as running:
        yield running


@pytest.fixture
def healthy_cluster(fault_cluster: Any) -> Any:
    """The fault cluster, once every chunk daemon is up again and writes get all their parity
    pieces (a previous test may have stopped or killed some)."""
    it.wait_for(lambda: fully_healthy(fault_cluster), timeout=45, interval=0.2)
    return fault_cluster


@pytest.fixture(scope="session")
def fs3(fault_cluster: Any) -> Iterator[BaseClient]:
    client = it.client_for(fault_cluster)
    yield client
    client.close()


@pytest.fixture
def fbucket(fs3: BaseClient) -> Iterator[str]:
    yield from it.make_bucket(fs3)


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
