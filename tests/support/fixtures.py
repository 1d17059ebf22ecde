"""The fixtures several tiers share, as a pytest plugin (registered by tests/conftest.py): one
session cluster for the whole run, whichever tiers it collects, its boto3 client and fresh
buckets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient

from support.clients import client_for, make_bucket
from support.processes import Cluster, running_cluster

# The session cluster's SSE-KMS keyring: the default key and a second one.
SESSION_OPTIONS = ("--kms-key", "s3compat-default", "--kms-key", "it-second")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with running_cluster("s3compat-it-", SESSION_OPTIONS) as running:
        yield running


@pytest.fixture(scope="session")
def s3(cluster: Cluster) -> Iterator[BaseClient]:
    client = client_for(cluster)
    yield client
    client.close()


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    """A fresh, empty bucket of the root user; emptied and deleted after the test."""
    yield from make_bucket(s3)
