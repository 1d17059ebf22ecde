"""Fixtures for the client tier: one real `s3compat cluster` for every client test, driven by the
programs people actually use (rclone, s3cmd, the aws CLI, boto3/aiobotocore with defaults).

The tier has a cluster of its own (`cluster` here overrides support.fixtures' session cluster,
with its `s3` and `bucket`). Test modules here take everything they need as fixtures.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.clients import client_for, empty_and_delete_bucket, make_bucket, unique_bucket_name
from support.processes import Cluster, running_cluster

DEFAULT_TOOL_TIMEOUT_SECONDS = 180.0

# The tree every sync test moves: 200 small files and two of 40 MiB (see make_client_tree).
SMALL_FILE_COUNT = 200
SMALL_FILE_MAX_BYTES = 64 * 1024
BIG_FILE_BYTES = 40 * 1024 * 1024
# Names a client has to encode: spaces, UTF-8, '+', '%' (also as a would-be escape), '&', '=',
# ',', ';', parentheses, an apostrophe, '@', '~'; nested folders with such names.
AWKWARD_NAMES = (
    "with space.txt",
    "dir with space/inner file.txt",
    "dir with space/deeper still/x y z.bin",
    "unicodé/日本語のファイル.txt",
    "unicodé/ŪņЇЌœđЗ ☺.txt",
    "unicodé/Ærøskøbing - ß.bin",
    "plus+sign.txt",
    "a+b/c+d.bin",
    "percent%.txt",
    "percent%20not-a-space.txt",
    "100%/done%2F.txt",
    "mix + % é & = , ; (1) 'q' @ ~.txt",
)
TREE_MTIME_NS = 1_000_000_000_123_456_789  # 2001-09-09 01:46:40.123456789 UTC

# Variables of the machine that would change what a client does: credentials, profiles, CA
# bundles and endpoints for the AWS SDKs, rclone remotes and flags, proxies.
_CLIENT_ENV_PREFIXES = ("AWS_", "BOTO_", "RCLONE_", "S3CMD")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def client_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without anything that configures S3 clients or proxies, with HOME at `home`
    (so no ~/.aws, ~/.s3cfg or ~/.config/rclone is read), plus `extra`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_CLIENT_ENV_PREFIXES)
        and name.lower() not in _PROXY_VARIABLES
    }
    environment["HOME"] = str(home)
    environment.update(extra or {})
    return environment


def run_tool(
    command: Sequence[str],
    environment: Mapping[str, str],
    *,
    check: bool = True,
    timeout: float = DEFAULT_TOOL_TIMEOUT_SECONDS,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client program (no shell) with a timeout; with `check`, fail the test on a non-zero
    exit status and show the end of its output."""
    completed = subprocess.run(
        list(command),
        env=dict(environment),
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    if check and completed.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {completed.returncode}\n"
            f"--- stdout ---\n{completed.stdout.decode(errors='replace')[-3000:]}\n"
            f"--- stderr ---\n{completed.stderr.decode(errors='replace')[-5000:]}",
            pytrace=False,
        )
    return completed


def make_client_tree(root: Path) -> dict[str, bytes]:
    """Write the sync tree under `root`: {relative path: bytes}, every file with mtime
    TREE_MTIME_NS. 200 small files in nested folders (sizes 0 to 64 KiB, many below 13 bytes so
    that some of the six parts are empty or one byte; the awkward names above among them) and
    two 40 MiB files, one under an awkward name."""
    chooser = random.Random(5)  # the same sizes every run; the bytes are random
    names = list(AWKWARD_NAMES)
    for number in range(SMALL_FILE_COUNT - len(names)):
        folder = f"d{number % 5}/" + (f"s{number % 3}/" if number % 2 else "")
        names.append(f"{folder}file-{number:03d}.{'txt' if number % 3 else 'bin'}")
    files: dict[str, bytes] = {}
    for number, name in enumerate(names):
        if number % 40 == 0:
            size = 0
        elif number % 4 == 0:
            size = chooser.randrange(1, 13)
        else:
            size = chooser.randrange(13, SMALL_FILE_MAX_BYTES + 1)
        files[name] = os.urandom(size)
    files["big/forty-one.bin"] = os.urandom(BIG_FILE_BYTES)
    files["big two/forty twö.bin"] = os.urandom(BIG_FILE_BYTES)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(TREE_MTIME_NS, TREE_MTIME_NS))
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under `root`."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One cluster (gateway + 6 chunk daemons) for the whole client tier."""
    with running_cluster("s3compat-clients-") as running:
        yield running


@pytest.fixture(scope="session")
def s3(cluster: Cluster) -> Iterator[Any]:
    """A boto3 client (default configuration) to set up and check what the clients did."""
    client = client_for(cluster)
    yield client
    client.close()


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A fresh, empty bucket of the root user; emptied and deleted after the test."""
    yield from make_bucket(s3)


@pytest.fixture
def new_bucket_name(s3: Any) -> Iterator[str]:
    """A bucket name nobody uses yet, for a client to create; deleted after the test."""
    name = unique_bucket_name("cl")
    yield name
    empty_and_delete_bucket(s3, name)


@pytest.fixture
def tool_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def tool_env(tool_home: Path) -> Callable[..., dict[str, str]]:
    """`tool_env(extra)`: a clean environment for a client program (see client_environment)."""

    def make(extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return client_environment(tool_home, extra)

    return make


@pytest.fixture
def client_tree() -> Callable[[Path], dict[str, bytes]]:
    """`client_tree(root)`: write the sync tree under `root` (see make_client_tree)."""
    return make_client_tree


@pytest.fixture
def tree_reader() -> Callable[[Path], dict[str, bytes]]:
    """`tree_reader(root)`: {relative path: bytes} of every file under `root`."""
    return read_tree


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """`run(command, env, check=True, timeout=...)`: see run_tool."""
    return run_tool
