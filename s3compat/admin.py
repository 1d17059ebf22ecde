"""Admin commands that work on the catalog directly: users, servers, locate, gc.

A catalog is named by a URL (see `catalog.backend`); a cluster folder (`--data DIR`) holds
`catalog.db` (SQLite), or `catalog.url` naming the catalog it uses elsewhere (PostgreSQL).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3compat.catalog.backend import open_database, sqlite_url
from s3compat.catalog.catalog import Catalog
from s3compat.config import GatewayConfig
from s3compat.duties import REBALANCE_LEASE, LeaseBusy, holding
from s3compat.gateway import CLUSTER_SECRET, open_services
from s3compat.records import ROOT_USER, UserRecord
from s3compat.store.coding import MAX_PARITY
from s3compat.store.objects import PARITY_META
from s3compat.store.rebalance import Rebalancer, print_progress
from s3compat.store.scrub import collect_orphans
from s3compat.store.status import piece_role
from s3compat.store.stripes import DATA_PIECES, LAYOUT_STRIPED

CATALOG_FILE = "catalog.db"
CATALOG_URL_FILE = "catalog.url"
CREDENTIALS_FILE = "credentials.json"
ACCESS_KEY_ENV = "S3COMPAT_ACCESS_KEY"
SECRET_KEY_ENV = "S3COMPAT_SECRET_KEY"
CLUSTER_SECRET_ENV = "S3COMPAT_CLUSTER_SECRET"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def new_credentials() -> Credentials:
    """A fresh key pair shaped like AWS's (20 upper-case characters, 40 characters of secret)."""
    alphabet = string.ascii_uppercase + string.digits
    access_key = "S3C" + "".join(secrets.choice(alphabet) for _ in range(17))
    return Credentials(access_key, secrets.token_urlsafe(30)[:40])


def catalog_url_of(data_dir: Path) -> str:
    """The catalog a cluster folder uses: the URL in its catalog.url, else its catalog.db."""
    recorded = data_dir / CATALOG_URL_FILE
    if recorded.exists():
        return recorded.read_text().strip()
    return str(data_dir / CATALOG_FILE)


async def open_catalog(url: str) -> Catalog:
    return Catalog(await open_database(url))


async def init_cluster(
    data_dir: Path,
    server_urls: list[str],
    catalog_url: str | None = None,
    *,
    parity: int | None = None,
) -> tuple[Credentials, str]:
    """Create (or reopen) the cluster in `data_dir`: catalog, cluster secret, root user, servers.

    The catalog is `catalog_url` (recorded in the folder's catalog.url), else catalog.db in the
    folder. Root credentials come from S3COMPAT_ACCESS_KEY / S3COMPAT_SECRET_KEY when both are
    set, else from the credentials file written at first start, else are generated. The cluster
    secret (what chunk daemons require) is S3COMPAT_CLUSTER_SECRET at first start, or generated.
    `parity`, if given, becomes the parity count of new writes. Returns the root credentials
    and the cluster secret.
    """
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (start-up, nothing else runs)
    default = data_dir / CATALOG_FILE
    if catalog_url is None or catalog_url in (str(default), sqlite_url(default)):
        catalog_url = str(default)
        (data_dir / CATALOG_URL_FILE).unlink(missing_ok=True)
    else:
        # It may hold a password: only the owner reads it.
        _write_private(data_dir / CATALOG_URL_FILE, catalog_url + "\n")
    catalog = await open_catalog(catalog_url)
    try:
        wanted = os.environ.get(CLUSTER_SECRET_ENV) or secrets.token_hex(32)
        cluster_secret = await catalog.set_meta_once(CLUSTER_SECRET, wanted)
        root = _root_credentials(data_dir / CREDENTIALS_FILE)
        await catalog.put_user(UserRecord(root.access_key, root.secret_key, ROOT_USER))
        for number, url in enumerate(server_urls, start=1):
            await catalog.add_server(f"chunkd-{number}", url)
        if parity is not None:
            await catalog.set_meta(PARITY_META, str(check_parity(parity)))
    finally:
        await catalog.db.close()
    return root, cluster_secret


def _root_credentials(path: Path) -> Credentials:
    access_key = os.environ.get(ACCESS_KEY_ENV)
    secret_key = os.environ.get(SECRET_KEY_ENV)
    if access_key and secret_key:
        credentials = Credentials(access_key, secret_key)
    elif path.exists():
        stored = json.loads(path.read_text())
        return Credentials(stored["access_key"], stored["secret_key"])
    else:
        credentials = new_credentials()
    _write_private(path, json.dumps(credentials.__dict__, indent=2) + "\n")
    return credentials


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds secrets)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def check_parity(parity: int) -> int:
    if not 0 <= parity <= MAX_PARITY:
        raise SystemExit(f"--parity must be 0..{MAX_PARITY}")
    return parity


async def parity_setting(catalog_url: str, parity: int | None) -> dict[str, Any]:
    """`admin parity [M]`: the parity count of new writes, after setting it to M if given."""
    catalog = await open_catalog(catalog_url)
    try:
        if parity is not None:
            await catalog.set_meta(PARITY_META, str(check_parity(parity)))
        current = int(await catalog.get_meta(PARITY_META) or 0)
    finally:
        await catalog.db.close()
    return {
        "parity": current,
        "data_pieces": DATA_PIECES,
        "servers_needed": DATA_PIECES + current,
        "servers_that_may_fail": current,
        "space_overhead": round((DATA_PIECES + current) / DATA_PIECES, 4),
    }


async def add_user(catalog_url: str, name: str) -> Credentials:
    catalog = await open_catalog(catalog_url)
    try:
        credentials = new_credentials()
        await catalog.put_user(UserRecord(credentials.access_key, credentials.secret_key, name))
    finally:
        await catalog.db.close()
    return credentials


async def add_server(catalog_url: str, url: str, server_id: str | None) -> str:
    catalog = await open_catalog(catalog_url)
    try:
        chosen = server_id or f"chunkd-{secrets.token_hex(4)}"
        await catalog.add_server(chosen, url.rstrip("/"))
        known = {s.server_id: s.state for s in await catalog.list_servers()}
        if known.get(chosen) == "lost":
            # Only the operator brings a lost server back; a heartbeat never does.
            await catalog.set_server_state(chosen, "up")
    finally:
        await catalog.db.close()
    return chosen


async def change_server(catalog_url: str, server_id: str, command: str) -> str:
    """`drain`: no new writes go to the server. `lost`: its pieces are gone for good; the
    repairer rebuilds them elsewhere and it is never polled up again. `remove`: forget it,
    refused while it still holds chunks. Returns the new state or why it was refused."""
    catalog = await open_catalog(catalog_url)
    try:
        known = {s.server_id for s in await catalog.list_servers()}
        if server_id not in known:
            return f"no server {server_id}"
        if command == "drain":
            await catalog.set_server_state(server_id, "draining")
            return "draining"
        if command == "lost":
            await catalog.set_server_state(server_id, "lost")
            return "lost"
        held = await catalog.chunks_on_server(server_id)
        if held:
            return f"refused: {server_id} still holds {held} chunks (drain and rebalance first)"
        await catalog.set_server_state(server_id, "removed")
        return "removed"
    finally:
        await catalog.db.close()


async def list_servers(catalog_url: str) -> list[dict[str, Any]]:
    catalog = await open_catalog(catalog_url)
    try:
        servers = await catalog.list_servers()
    finally:
        await catalog.db.close()
    rows = []
    for server in servers:
        fill = server.used_bytes / server.capacity_bytes if server.capacity_bytes else 0.0
        rows.append({**server.__dict__, "fill_percent": round(100 * fill, 3)})
    return rows


async def locate(catalog_url: str, bucket: str, key: str) -> dict[str, Any] | None:
    """Where an object's bytes are: the JSON `s3compat admin locate` prints."""
    catalog = await open_catalog(catalog_url)
    try:
        found = await catalog.get_object(bucket, key)
        servers = {s.server_id: s for s in await catalog.list_servers()}
    finally:
        await catalog.db.close()
    if found is None:
        return None
    record, chunks = found
    urls = {server_id: s.url for server_id, s in servers.items()}
    return {
        "bucket": bucket,
        "key": key,
        "size": record.size,
        "etag": record.etag,
        "chunks": [
            {
                "part_number": c.part_number,
                "index": c.piece,
                "role": piece_role(c),
                "server": c.server_id,
                "state": servers[c.server_id].state if c.server_id in servers else "unknown",
                "url": urls.get(c.server_id),
                "chunk_id": c.chunk_id,
                "offset": c.offset,
                "length": c.length,
                "layout": "striped" if c.layout == LAYOUT_STRIPED else "contiguous",
                "parity": c.parity,
            }
            for c in chunks
        ],
    }


async def collect_garbage(config: GatewayConfig, orphan_age: float | None) -> dict[str, int]:
    """One collector pass now, from this process; with `orphan_age`, also delete chunks no
    catalog row knows of that are older than that many seconds."""
    async with open_services(config) as services:
        # Not under the collector lease: an operator asked for a pass now. Running beside a
        # gateway's pass is harmless (deleting a chunk twice is a no-op).
        collected = await services.leases.collect_dead_intents()
        report = await services.collector.sweep()
        report.expired_intents += collected
        orphans = 0
        if orphan_age is not None:
            orphans = await collect_orphans(
                services.catalog, services.maintenance, services.client, older_than=orphan_age
            )
        intents, deletions = await services.catalog.count_pending()
    return {
        **report.__dict__,
        "deleted_orphans": orphans,
        "pending_intents": intents,
        "pending_deletions": deletions,
    }


async def rebalance(config: GatewayConfig, *, spread: float, dry_run: bool) -> dict[str, Any]:
    """Plan (and unless `dry_run`, carry out) moves; one rebalance at a time per cluster."""
    async with open_services(config) as services:
        rebalancer = Rebalancer(
            services.catalog,
            services.client,
            services.membership,
            services.maintenance,
            gateway_id=services.process_id,
            grace_seconds=config.gc_grace_seconds,
        )
        if dry_run:
            report = await rebalancer.run(spread=spread, dry_run=True, progress=print_progress)
            return report.__dict__
        try:
            async with holding(
                services.leases, REBALANCE_LEASE, services.process_id, config.lease_seconds
            ):
                report = await rebalancer.run(spread=spread, dry_run=False, progress=print_progress)
        except LeaseBusy as busy:
            raise SystemExit(f"refused: {busy}") from None
    return report.__dict__
