"""The `s3compat` command: `cluster`, `gateway`, `admin ...`, `chunkd`. Argument parsing only."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from s3compat import admin, admin_repair
from s3compat.catalog.backend import is_postgresql, sqlite_path
from s3compat.config import DAY_SECONDS, MIB, GatewayConfig
from s3compat.store.coding import MAX_PARITY
from s3compat.store.stripes import DATA_PIECES

# Parity of a local cluster with 8 servers or more: any two may be lost.
DEFAULT_PARITY = 2

# The KMS key a local cluster gets when no --kms-key is given.
DEFAULT_KMS_KEY = "s3compat-default"

# The catalog URL when no --catalog is given (keeps a password off the command line).
CATALOG_ENV = "S3COMPAT_CATALOG"
CATALOG_HELP = (
    "the catalog: sqlite:///FILE (or a file path) or postgresql://USER@HOST:PORT/DB "
    f"(default: ${CATALOG_ENV}, else the --data folder's)"
)


def _gateway_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `gateway` and `cluster` (which passes them on to its gateway)."""
    parser.add_argument(
        "--domain",
        default="localhost",
        help="virtual-hosted-style requests address BUCKET.DOMAIN (default localhost)",
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--tls-cert", type=Path, help="serve https with this PEM certificate")
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    parser.add_argument(
        "--min-part-size",
        type=int,
        default=5 * MIB,
        help="smallest multipart part other than the last, bytes (S3: 5 MiB)",
    )
    parser.add_argument(
        "--upload-expiry",
        type=float,
        default=7 * DAY_SECONDS,
        help="abort multipart uploads idle this many seconds (default 7 days)",
    )
    parser.add_argument(
        "--gc-grace",
        type=float,
        default=60.0,
        help="seconds a replaced version's chunks stay for readers (default 60)",
    )
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=5.0,
        help="seconds between garbage-collection and expiry passes",
    )
    parser.add_argument(
        "--lifecycle-day",
        type=float,
        default=DAY_SECONDS,
        help="seconds in a lifecycle-rule day (tests shorten it)",
    )
    parser.add_argument(
        "--down-after",
        type=float,
        default=10.0,
        help="mark a chunk server down after this many silent seconds (default 10)",
    )
    parser.add_argument(
        "--lost-after",
        type=float,
        default=900.0,
        help="declare a chunk server lost, and rebuild its pieces elsewhere, after this many "
        "seconds down (default 900)",
    )
    parser.add_argument(
        "--repair-interval",
        type=float,
        default=10.0,
        help="seconds between background repair passes (default 10; sooner after damage)",
    )
    parser.add_argument(
        "--repair-concurrency",
        type=int,
        default=2,
        help="segments repaired at once, bounding repair traffic (default 2)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=10.0,
        help="a dead gateway's duties and unfinished writes are taken over after this "
        "many seconds (default 10)",
    )
    parser.add_argument(
        "--sse-key-file",
        type=Path,
        help="the master key of SSE-S3 (64 hex digits; created with mode 0600 if missing; "
        "every gateway of a cluster needs the same file; default DATA/sse-master.key)",
    )
    parser.add_argument(
        "--kms-keyring",
        type=Path,
        help="the SSE-KMS keyring, NAME:HEX lines (mode 0600; every gateway of a cluster "
        "needs the same file; default DATA/kms-keyring, else beside --sse-key-file)",
    )
    parser.add_argument(
        "--kms-key",
        action="append",
        metavar="NAME",
        help="a KMS key of the keyring, made (random) if missing; repeatable; the first is "
        "the default key of aws:kms without a key id (default: the keyring's first)",
    )
    parser.add_argument(
        "--spool-dir",
        type=Path,
        help="where bodies sent chunked without a length wait for their size (anonymous "
        "files; default DATA/spool, else the system's temporary folder)",
    )


_PASSED_ON = (
    "domain",
    "region",
    "tls_cert",
    "tls_key",
    "min_part_size",
    "upload_expiry",
    "gc_grace",
    "sweep_interval",
    "lifecycle_day",
    "down_after",
    "lost_after",
    "repair_interval",
    "repair_concurrency",
    "lease_seconds",
    "spool_dir",
    "sse_key_file",
    "workers",
    "kms_keyring",
)


def _workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        help="gateway processes accepting on the one port, on the one catalog (default: one "
        "per core; 1 serves in a single process)",
    )


def _workers(args: argparse.Namespace) -> int:
    from s3compat.workers import default_workers

    workers: int = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise SystemExit("--workers must be at least 1")
    return workers


def _config(args: argparse.Namespace, catalog_url: str) -> GatewayConfig:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("--tls-cert and --tls-key go together")
    return GatewayConfig(
        catalog_url=catalog_url,
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 9000),
        domain=args.domain,
        region=args.region,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        min_part_bytes=args.min_part_size,
        upload_expiry_seconds=args.upload_expiry,
        gc_grace_seconds=args.gc_grace,
        sweep_interval_seconds=args.sweep_interval,
        lifecycle_day_seconds=args.lifecycle_day,
        server_down_after_seconds=args.down_after,
        server_lost_after_seconds=args.lost_after,
        repair_interval_seconds=args.repair_interval,
        repair_concurrency=args.repair_concurrency,
        lease_seconds=args.lease_seconds,
        spool_dir=_spool_dir(args),
        sse_key_file=_sse_key_file(args),
        kms_keyring_file=_kms_keyring_file(args),
        kms_keys=tuple(args.kms_key or ()),
    )


def _sse_key_file(args: argparse.Namespace) -> Path | None:
    if args.sse_key_file is not None:
        return Path(args.sse_key_file)
    data = getattr(args, "data", None)
    return Path(data) / "sse-master.key" if data is not None else None


def _kms_keyring_file(args: argparse.Namespace) -> Path | None:
    if args.kms_keyring is not None:
        return Path(args.kms_keyring)
    key_file = _sse_key_file(args)
    return key_file.parent / "kms-keyring" if key_file is not None else None


def _spool_dir(args: argparse.Namespace) -> Path | None:
    if args.spool_dir is not None:
        return Path(args.spool_dir)
    data = getattr(args, "data", None)
    return Path(data) / "spool" if data is not None else None


def _catalog_url(args: argparse.Namespace) -> str:
    """--catalog, else $S3COMPAT_CATALOG, else the catalog of the --data folder."""
    given = getattr(args, "catalog", None) or os.environ.get(CATALOG_ENV)
    if given:
        return str(given)
    if getattr(args, "data", None):
        return admin.catalog_url_of(Path(args.data))
    raise SystemExit("give --data DIR (a cluster folder) or --catalog URL")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3compat", description="An S3-compatible object store.")
    commands = parser.add_subparsers(dest="command", required=True)

    cluster = commands.add_parser("cluster", help="run a gateway and N chunk daemons locally")
    cluster.add_argument("--data", type=Path, required=True, help="folder for all state")
    cluster.add_argument("--host", default="127.0.0.1")
    cluster.add_argument("--port", type=int, default=9000, help="gateway port (default 9000)")
    cluster.add_argument("--servers", type=int, default=8, help="chunk daemons (default 8)")
    cluster.add_argument(
        "--parity",
        type=int,
        help="parity pieces beside the 6 data pieces of every new write, so that this many "
        "servers may be lost (default 2 with 8 servers or more, else servers - 6)",
    )
    cluster.add_argument("--chunk-port", type=int, help="first chunk daemon port (default port+1)")
    cluster.add_argument("--capacity", type=int, help="capacity of each chunk daemon, bytes")
    cluster.add_argument(
        "--catalog",
        help="the catalog: sqlite:///FILE or postgresql://USER@HOST:PORT/DB "
        "(default: catalog.db in the --data folder)",
    )
    cluster.add_argument(
        "--gateways",
        type=int,
        default=1,
        help="gateways on the one catalog, on ports PORT, PORT+1, ... (several need a "
        "postgresql:// catalog to scale; default 1)",
    )
    _gateway_options(cluster)
    _workers_option(cluster)

    gateway = commands.add_parser("gateway", help="run one S3 gateway on an existing catalog")
    gateway.add_argument("--catalog", help=CATALOG_HELP)
    gateway.add_argument("--data", type=Path)
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=9000)
    _gateway_options(gateway)
    _workers_option(gateway)

    admin_parser = commands.add_parser("admin", help="administer a cluster through its catalog")
    admin_parser.add_argument("--data", type=Path)
    admin_parser.add_argument("--catalog", help=CATALOG_HELP)
    admin_commands = admin_parser.add_subparsers(dest="admin_command", required=True)
    admin_commands.add_parser("init", help="create the catalog, root user and cluster secret")
    parity = admin_commands.add_parser(
        "parity", help="show the parity count of new writes, or set it (0..4)"
    )
    parity.add_argument("count", type=int, nargs="?")
    user = admin_commands.add_parser("user").add_subparsers(dest="user_command", required=True)
    user.add_parser("add", help="add a user and print its key pair").add_argument("name")
    server = admin_commands.add_parser("server").add_subparsers(
        dest="server_command", required=True
    )
    server_add = server.add_parser("add", help="register a chunk daemon by URL")
    server_add.add_argument("url")
    server_add.add_argument("--id", dest="server_id")
    server.add_parser("list", help="list chunk servers with state and fill")
    server.add_parser("drain", help="stop new writes to a server").add_argument("server_id")
    server.add_parser("remove", help="forget an empty server").add_argument("server_id")
    server.add_parser(
        "lost", help="declare a server's pieces gone for good (repair rebuilds them)"
    ).add_argument("server_id")
    locate = admin_commands.add_parser("locate", help="print where an object's bytes are (JSON)")
    locate.add_argument("bucket")
    locate.add_argument("key")
    gc = admin_commands.add_parser("gc", help="delete unreferenced chunks now")
    gc.add_argument(
        "--orphans",
        type=float,
        metavar="SECONDS",
        help="also delete chunks unknown to the catalog older than SECONDS",
    )
    _gateway_options(gc)
    rebalance = admin_commands.add_parser("rebalance", help="even out fills; empty drained servers")
    rebalance.add_argument("--dry-run", action="store_true", help="plan only")
    rebalance.add_argument(
        "--spread",
        type=float,
        default=0.02,
        help="stop when max fill - min fill is at most this (default 0.02)",
    )
    _gateway_options(rebalance)
    scrub = admin_commands.add_parser(
        "scrub", help="verify every chunk, say which objects are degraded or lost; exit 1 on damage"
    )
    scrub.add_argument("--repair", action="store_true", help="queue and repair what was found")
    _gateway_options(scrub)
    repair = admin_commands.add_parser(
        "repair", help="rebuild missing and damaged pieces now; exit 1 if some are left"
    )
    repair.add_argument(
        "--wait", action="store_true", help="until every object is fully protected again"
    )
    repair.add_argument(
        "--reprotect",
        action="store_true",
        help="also rewrite objects stored with less parity than the cluster's (older layout)",
    )
    _gateway_options(repair)

    commands.add_parser(
        "chunkd", help="run a chunk daemon (same as the `chunkd` command)", add_help=False
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["chunkd"]:
        from chunkd.__main__ import main as chunkd_main

        sys.argv = ["chunkd", *arguments[1:]]
        chunkd_main()
        return 0
    args = build_parser().parse_args(arguments)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "cluster":
        return _cluster(args)
    if args.command == "gateway":
        config = _config(args, _catalog_url(args))
        if _workers(args) > 1:
            from s3compat.workers import serve_workers

            return serve_workers(config, _workers(args))
        from s3compat.gateway import serve

        asyncio.run(serve(config))
        return 0
    return _admin(args)


def _cluster(args: argparse.Namespace) -> int:
    from s3compat.launcher import ClusterOptions, run_cluster

    passed: list[str] = []
    for name in _PASSED_ON:
        value = getattr(args, name)
        if value is not None:
            passed += [f"--{name.replace('_', '-')}", str(value)]
    # A local cluster has a default KMS key unless told which keys it has.
    for name in args.kms_key or [DEFAULT_KMS_KEY]:
        passed += ["--kms-key", name]
    if args.gateways < 1:
        raise SystemExit("--gateways must be at least 1")
    parity = cluster_parity(args.servers, args.parity)
    options = ClusterOptions(
        parity=parity,
        data_dir=args.data.resolve(),
        host=args.host,
        port=args.port,
        servers=args.servers,
        gateways=args.gateways,
        catalog_url=args.catalog or os.environ.get(CATALOG_ENV),
        chunk_port=args.chunk_port or args.port + args.gateways,
        gateway_args=passed,
        tls=args.tls_cert is not None,
        capacity=args.capacity,
    )
    return run_cluster(options)


def cluster_parity(servers: int, parity: int | None) -> int:
    """The parity count for a local cluster of `servers` daemons: as asked (if the servers can
    hold 6+M distinct pieces), else 2, or fewer with fewer than 8 servers."""
    if servers < DATA_PIECES:
        raise SystemExit(f"--servers must be at least {DATA_PIECES}")
    chosen = min(DEFAULT_PARITY, servers - DATA_PIECES) if parity is None else parity
    if not 0 <= chosen <= MAX_PARITY:
        raise SystemExit(f"--parity must be 0..{MAX_PARITY}")
    if servers < DATA_PIECES + chosen:
        raise SystemExit(f"--parity {chosen} needs at least {DATA_PIECES + chosen} servers")
    if chosen == 0:
        print(
            "warning: parity 0: no redundancy. Every object is 6 pieces on 6 servers and the "
            "loss of any one server loses data (8 servers with --parity 2 survive two).",
            file=sys.stderr,
            flush=True,
        )
    return chosen


def _admin(args: argparse.Namespace) -> int:
    catalog = _catalog_url(args)
    if args.admin_command == "init":
        if args.data is None and is_postgresql(catalog):
            raise SystemExit("give --data DIR for the credentials file")
        data_dir = args.data if args.data is not None else sqlite_path(catalog).parent
        root, _ = asyncio.run(admin.init_cluster(data_dir, [], catalog))
        print(f"AWS_ACCESS_KEY_ID={root.access_key}")
        return 0
    if not is_postgresql(catalog) and not sqlite_path(catalog).exists():
        raise SystemExit(f"no catalog at {catalog}")
    if args.admin_command == "user":
        credentials = asyncio.run(admin.add_user(catalog, args.name))
        print(json.dumps({"user": args.name, **credentials.__dict__}, indent=2))
    elif args.admin_command == "server" and args.server_command == "add":
        print(asyncio.run(admin.add_server(catalog, args.url, args.server_id)))
    elif args.admin_command == "server" and args.server_command == "list":
        print(json.dumps(asyncio.run(admin.list_servers(catalog)), indent=2))
    elif args.admin_command == "server":
        outcome = asyncio.run(admin.change_server(catalog, args.server_id, args.server_command))
        print(outcome)
        return 0 if outcome in ("draining", "removed", "lost") else 1
    elif args.admin_command == "locate":
        found = asyncio.run(admin.locate(catalog, args.bucket, args.key))
        if found is None:
            print(f"no object {args.key!r} in bucket {args.bucket!r}", file=sys.stderr)
            return 1
        print(json.dumps(found, indent=2))
    elif args.admin_command == "gc":
        report = asyncio.run(admin.collect_garbage(_config(args, catalog), args.orphans))
        print(json.dumps(report, indent=2))
    elif args.admin_command == "rebalance":
        config = _config(args, catalog)
        moved = asyncio.run(admin.rebalance(config, spread=args.spread, dry_run=args.dry_run))
        print("\n" + json.dumps(moved, indent=2))
    elif args.admin_command == "parity":
        print(json.dumps(asyncio.run(admin.parity_setting(catalog, args.count)), indent=2))
    elif args.admin_command == "scrub":
        damaged, found = asyncio.run(
            admin_repair.scrub_cluster(_config(args, catalog), heal=args.repair)
        )
        print(json.dumps(found, indent=2))
        return 1 if damaged else 0
    elif args.admin_command == "repair":
        repaired = asyncio.run(
            admin_repair.repair(_config(args, catalog), wait=args.wait, reprotect=args.reprotect)
        )
        print(json.dumps(repaired, indent=2))
        return 0 if repaired["under_protected_segments"] == 0 else 1
    return 0
