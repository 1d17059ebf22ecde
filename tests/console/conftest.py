"""Fixtures of the console tier: a cluster of its own (the browser test stops and kills its
chunk daemons; servers are marked down 2 s after they go silent), a second user, logged-in
HTTP sessions against the console, and a headless Chromium (Debian's `chromium`, driven by
Playwright with that executable; Playwright never downloads a browser here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

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


def chromium_executable() -> str | None:
    """Debian's Chromium (scripts/test installs it), or S3COMPAT_CHROMIUM."""
    named = os.environ.get("S3COMPAT_CHROMIUM")
    if named:
        return named
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium installed (apt-get install chromium): browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            # As root (CI), Chromium's sandbox cannot start; the page is our own.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            launched.close()
