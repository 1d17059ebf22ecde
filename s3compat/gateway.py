"""Running one gateway process: open the catalog, wire the layers together, serve until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from s3compat.api.app import make_app
from s3compat.api.framing import answer_parser_errors_as_s3
from s3compat.api.ops import all_handlers
from s3compat.catalog.backend import CatalogDatabase, open_database, redact
from s3compat.catalog.bucketconfig import BucketConfigCatalog
from s3compat.catalog.catalog import Catalog
from s3compat.catalog.leases import LeaseCatalog
from s3compat.catalog.maintenance import MaintenanceCatalog
from s3compat.catalog.repairs import RepairCatalog
from s3compat.catalog.uploads import UploadCatalog
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.membership import Membership
from s3compat.config import GatewayConfig
from s3compat.console.app import add_console
from s3compat.duties import (
    REBALANCE_LEASE,
    Leaseholder,
    SharedMembership,
    keep_alive,
    publish_holds,
    run_collector,
    run_repairer,
)
from s3compat.memory import tune_malloc
from s3compat.metrics import GaugeCollector, RequestMetrics
from s3compat.store.buckets import BucketStore
from s3compat.store.gc import Collector
from s3compat.store.kms import Keyring
from s3compat.store.lifecycle import LifecyclePass
from s3compat.store.objects import ObjectStore
from s3compat.store.repair import Repairer
from s3compat.store.servers import ServerRegistry
from s3compat.store.sse import MasterKey
from s3compat.store.status import ClusterStatus
from s3compat.store.stores import Stores
from s3compat.store.uploads import UploadStore

log = logging.getLogger(__name__)

CLUSTER_SECRET = "cluster_secret"
# On SIGTERM, how long requests under way may take to finish before their connections are
# cut (aiohttp's default is 60 s): a client whose upload is cut retries, and nothing half
# written is ever visible, so a stop need not wait a minute for a stalled client.
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class Services:
    """The long-lived parts of a gateway, for the app and for admin commands."""

    catalog: Catalog
    client: ChunkClient
    membership: Membership
    store: ObjectStore
    uploads: UploadStore
    buckets: BucketStore
    maintenance: MaintenanceCatalog
    cluster_secret: str
    collector: Collector
    leases: LeaseCatalog
    # This process's id: its intents and leases carry it.
    process_id: str
    repairer: Repairer


@asynccontextmanager
async def open_services(
    config: GatewayConfig, *, role: str = "admin", shared_polling: bool = False
) -> AsyncIterator[Services]:
    """Catalog, chunk client, membership view, store and collector; closed on exit.

    The process registers itself in the catalog and renews that while the services are open,
    so that no other gateway collects its intents. `shared_polling` (gateways): poll the chunk
    servers only while holding the membership lease, else read the holder's findings.
    """
    tune_malloc()
    db = await open_database(config.catalog_url)
    try:
        catalog = Catalog(db)
        secret = await catalog.get_meta(CLUSTER_SECRET)
        if secret is None:
            raise SystemExit(
                f"{redact(config.catalog_url)} has no cluster secret: create the cluster with "
                "`s3compat cluster` or `s3compat admin init` first"
            )
        process_id = uuid.uuid4().hex
        leases = LeaseCatalog(db)
        description = f"{role} pid {os.getpid()} on {socket.gethostname()}"
        await leases.keep_alive(process_id, description, config.lease_seconds)
        renewer = asyncio.create_task(
            keep_alive(leases, process_id, description, config.lease_seconds)
        )
        try:
            async with ChunkClient(secret) as client:
                membership = (
                    SharedMembership(
                        catalog,
                        client,
                        down_after=config.server_down_after_seconds,
                        lost_after=config.server_lost_after_seconds,
                        holder=Leaseholder(leases, process_id, config.lease_seconds),
                    )
                    if shared_polling
                    else Membership(
                        catalog,
                        client,
                        down_after=config.server_down_after_seconds,
                        lost_after=config.server_lost_after_seconds,
                    )
                )
                await membership.refresh()
                services = _services(
                    config, db, catalog, client, membership, secret, leases, process_id
                )
                await services.store.load_settings()
                yield services
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            # In-flight work has ended: its leftover intents may go, its leases are free. (If
            # the catalog cannot be reached now, the row simply expires.)
            try:
                await asyncio.shield(leases.retire(process_id))
            except Exception:
                log.exception("could not retire process %s", process_id)
    finally:
        await db.close()


def _services(
    config: GatewayConfig,
    db: CatalogDatabase,
    catalog: Catalog,
    client: ChunkClient,
    membership: Membership,
    secret: str,
    leases: LeaseCatalog,
    process_id: str,
) -> Services:
    """Wire the store, uploads, lifecycle and collector on an open catalog."""
    buckets = BucketStore(catalog, BucketConfigCatalog(db), region=config.region)
    store = ObjectStore(
        catalog,
        client,
        membership,
        buckets,
        gateway_id=process_id,
        grace_seconds=config.gc_grace_seconds,
        master_key=None if config.sse_key_file is None else MasterKey.load(config.sse_key_file),
        keyring=_keyring(config),
    )
    uploads = UploadStore(store, UploadCatalog(db), min_part_bytes=config.min_part_bytes)
    lifecycle = LifecyclePass(
        BucketConfigCatalog(db),
        catalog,
        uploads.catalog,
        day_seconds=config.lifecycle_day_seconds,
        grace_seconds=config.gc_grace_seconds,
    )
    collector = Collector(
        catalog,
        client,
        membership,
        store.reads,
        expire_uploads=lambda: uploads.expire(config.upload_expiry_seconds),
        lifecycle=lifecycle.maybe_run,
    )
    repairer = Repairer(
        catalog,
        client,
        membership,
        RepairCatalog(db),
        gateway_id=process_id,
        grace_seconds=config.gc_grace_seconds,
        parity_of=lambda: store.parity,
        concurrency=config.repair_concurrency,
        wanted=store.repair_wanted,
    )
    return Services(
        catalog,
        client,
        membership,
        store,
        uploads,
        buckets,
        MaintenanceCatalog(db),
        secret,
        collector,
        leases,
        process_id,
        repairer,
    )


def _keyring(config: GatewayConfig) -> Keyring | None:
    """The SSE-KMS keyring; None (SSE-KMS refused) without one and without keys asked for."""
    path = config.kms_keyring_file
    if path is None or (not config.kms_keys and not path.exists()):
        return None
    return Keyring.load(path, config.region, config.kms_keys)


def gateway_metrics(services: Services) -> RequestMetrics:
    """Request metrics plus server fill and collector totals, computed at scrape time."""
    metrics = RequestMetrics("s3compat")

    def fills() -> list[tuple[list[str], float]]:
        return [
            ([s.server_id, s.state], s.used_bytes / s.capacity_bytes if s.capacity_bytes else 0.0)
            for s in services.membership.servers()
        ]

    def collector_totals() -> list[tuple[list[str], float]]:
        return [
            ([name], float(value)) for name, value in services.collector.totals.__dict__.items()
        ]

    metrics.add(
        GaugeCollector(
            "s3compat_server_fill_ratio", "Chunk server fill", ["server", "state"], fills
        )
    )

    def repair_totals() -> list[tuple[list[str], float]]:
        totals = services.repairer.totals
        return [
            (["pieces_rebuilt"], float(totals.pieces_rebuilt)),
            (["bytes_rebuilt"], float(totals.bytes_rebuilt)),
            (["segments_repaired"], float(totals.repaired)),
            (["bytes_reprotected"], float(totals.bytes_reprotected)),
        ]

    def under_protected() -> list[tuple[list[str], float]]:
        segments, objects = services.repairer.under_protected
        return [(["objects"], float(objects)), (["segments"], float(segments))]

    metrics.add(
        GaugeCollector(
            "s3compat_gc_total", "Collector work since start", ["kind"], collector_totals
        )
    )
    metrics.add(
        GaugeCollector(
            "s3compat_repair_total", "Repair work of this process since start", ["kind"],
            repair_totals,
        )
    )  # fmt: skip
    metrics.add(
        GaugeCollector(
            "s3compat_under_protected", "Objects and segments short of pieces, as the last "
            "repair pass of this process counted them", ["kind"], under_protected,
        )
    )  # fmt: skip
    return metrics


def gateway_app(config: GatewayConfig, services: Services) -> web.Application:
    """The S3 application over open services (its background work is `run_duties`), with
    the web console at /-/console."""
    stores = Stores(
        services.store, services.uploads, services.buckets, ServerRegistry(services.catalog)
    )
    app = make_app(
        config, stores, all_handlers(), services.cluster_secret, gateway_metrics(services)
    )
    add_console(app, stores, cluster_status(services), config, services.cluster_secret)
    return app


def cluster_status(services: Services) -> ClusterStatus:
    """What the console's cluster page shows, from this gateway's services."""
    return ClusterStatus(
        services.catalog,
        services.maintenance,
        services.repairer.repairs,
        services.membership,
        services.leases,
        REBALANCE_LEASE,
        parity_of=lambda: services.store.parity,
    )


async def follow_settings(store: ObjectStore, interval: float) -> None:
    """Reload the cluster's settings (`admin parity`) every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await store.load_settings()
        except Exception:  # a failed reload keeps the settings there were
            log.exception("reloading the cluster settings failed")


async def run_duties(services: Services, config: GatewayConfig) -> None:
    """The work beside the server, until cancelled: polling the chunk servers, following the
    cluster's settings, the repair and collector passes (each while this process holds its
    lease), and publishing this process's read holds."""
    holder = Leaseholder(services.leases, services.process_id, config.lease_seconds)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(services.membership.run(config.poll_interval_seconds))
        tasks.create_task(follow_settings(services.store, config.poll_interval_seconds))
        tasks.create_task(
            run_repairer(services.repairer, holder, interval=config.repair_interval_seconds)
        )
        tasks.create_task(
            run_collector(services.collector, holder, interval=config.sweep_interval_seconds)
        )
        tasks.create_task(
            publish_holds(
                services.store.reads,
                services.leases,
                services.process_id,
                config.gc_grace_seconds,
            )
        )


def ssl_context(config: GatewayConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def serve(
    config: GatewayConfig, *, sock: socket.socket | None = None, worker: int | None = None
) -> None:
    """Serve S3 until SIGTERM or SIGINT; background work runs beside the server. `sock`: a
    listening socket shared with other workers (`s3compat/workers.py`), else bind the port."""
    role = "gateway" if worker is None else f"gateway worker {worker}"
    async with open_services(config, role=role, shared_polling=True) as services:
        runner = web.AppRunner(
            gateway_app(config, services),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        await runner.setup()
        answer_parser_errors_as_s3(runner)
        site: web.BaseSite
        if sock is None:
            site = web.TCPSite(
                runner, config.host, config.port, ssl_context=ssl_context(config), backlog=1024
            )
        else:
            site = web.SockSite(runner, sock, ssl_context=ssl_context(config))
        await site.start()
        if sock is None:
            scheme = "https" if config.tls_cert else "http"
            print(
                f"s3compat gateway listening on {scheme}://{config.host}:{config.port}",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with asyncio.TaskGroup() as tasks:
                duties = tasks.create_task(run_duties(services, config))
                await stop.wait()
                duties.cancel()
        finally:
            await runner.cleanup()
