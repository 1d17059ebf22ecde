"""Looking behind the S3 API: where an object's pieces are (`s3compat admin`), what the chunk
daemons hold, and how many bytes a segment takes on them."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.client import BaseClient

from chunkd import layout
from s3compat import admin as admin_calls
from s3compat.gateway_options import catalog_url
from s3compat.store.stripes import BLOCK_BYTES, Geometry
from support.clients import client_for
from support.processes import Cluster

# The parity of the default cluster of 8 servers.
DEFAULT_PARITY = 2


def admin(cluster: Cluster, *arguments: str) -> Any:
    """Run `s3compat admin --data DIR ...` and parse its JSON output. `server list`, which
    only reads the catalog, is the function the command calls, run here: a test asks it often,
    and a new interpreter costs a second."""
    if arguments == ("server", "list"):
        return json.loads(json.dumps(asyncio.run(admin_calls.list_servers(_catalog(cluster)))))
    completed = subprocess.run(
        [sys.executable, "-m", "s3compat", "admin", "--data", str(cluster.data_dir), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, (
        f"admin {arguments} failed ({completed.returncode}): {completed.stderr[-3000:]}"
    )
    return json.loads(completed.stdout)


@dataclass(frozen=True)
class User:
    """A user of the store made for a test, and a boto3 client signing as it."""

    client: BaseClient
    access_key: str  # also its canonical ID
    secret_key: str
    name: str


def new_user(cluster: Cluster, prefix: str) -> User:
    """`s3compat admin user add PREFIX-<random>`; the caller closes `client`."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    created = admin(cluster, "user", "add", name)
    client = client_for(cluster, created["access_key"], created["secret_key"])
    return User(client, created["access_key"], created["secret_key"], name)


def locate(cluster: Cluster, bucket: str, key: str) -> dict[str, Any]:
    """Where an object's bytes are: what `s3compat admin locate` prints, from the function it
    calls, run here (see `admin`)."""
    found = asyncio.run(admin_calls.locate(_catalog(cluster), bucket, key))
    assert isinstance(found, dict), f"no object {key!r} in bucket {bucket!r}"
    return dict(json.loads(json.dumps(found)))


def _catalog(cluster: Cluster) -> str:
    """The catalog `s3compat admin --data DIR` opens."""
    return catalog_url(argparse.Namespace(data=Path(cluster.data_dir), catalog=None))


def chunk_stats(cluster: Cluster, url: str) -> dict[str, int]:
    request = urllib.request.Request(
        f"{url}/stats", headers={"Authorization": f"Bearer {cluster.cluster_secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        stats = json.loads(answer.read())
    assert isinstance(stats, dict)
    return stats


def remove_piece(cluster: Cluster, url: str, chunk_id: str) -> None:
    """Make a piece gone from the daemon at `url`: its chunk file deleted behind the daemon's
    back or, a small piece (packed, chunkd.packs), deleted through the daemon."""
    folder = cluster.chunk_dirs[cluster.chunk_urls.index(url)]
    path = layout.chunk_path(folder / "chunks", chunk_id)
    if path.is_file():
        path.unlink()
        return
    request = urllib.request.Request(
        f"{url}/chunks/{chunk_id}",
        method="DELETE",
        headers={"Authorization": f"Bearer {cluster.cluster_secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204


def stored_bytes(size: int, parity: int = DEFAULT_PARITY) -> int:
    """Bytes the chunk daemons hold for one segment (a body or a part) of `size` bytes: its 6
    data pieces and `parity` parity pieces."""
    geometry = Geometry(size, BLOCK_BYTES, parity)
    return sum(geometry.piece_length(role) for role in range(geometry.roles))


def used_bytes(cluster: Cluster) -> int:
    """Bytes the chunk daemons report as used, summed over all of them."""
    return sum(int(chunk_stats(cluster, url)["used_bytes"]) for url in cluster.chunk_urls)


def read_chunk(cluster: Cluster, url: str, chunk_id: str) -> tuple[int, bytes]:
    """GET a chunk straight from a chunk daemon: (status, body)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "GET",
            f"/chunks/{chunk_id}",
            headers={"Authorization": f"Bearer {cluster.cluster_secret}"},
        )
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()
