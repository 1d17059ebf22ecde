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
from s3compat.gateway_options import (
    CATALOG_ENV,
    CATALOG_HELP,
    PASSED_ON,
    catalog_url,
    config_of,
    gateway_options,
    workers_of,
    workers_option,
)
from s3compat.store.coding import MAX_PARITY
from s3compat.store.stripes import DATA_PIECES

# Parity of a local cluster with 8 servers or more: any two may be lost.
DEFAULT_PARITY = 2

# The KMS key a local cluster gets when no --kms-key is given.
DEFAULT_KMS_KEY = "s3compat-default"


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
    gateway_options(cluster)
    workers_option(cluster)

    gateway = commands.add_parser("gateway", help="run one S3 gateway on an existing catalog")
    gateway.add_argument("--catalog", help=CATALOG_HELP)
    gateway.add_argument("--data", type=Path)
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=9000)
    gateway_options(gateway)
    workers_option(gateway)

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
    gateway_options(gc)
    rebalance = admin_commands.add_parser("rebalance", help="even out fills; empty drained servers")
    rebalance.add_argument("--dry-run", action="store_true", help="plan only")
    rebalance.add_argument(
        "--spread",
        type=float,
        default=0.02,
        help="stop when max fill - min fill is at most this (default 0.02)",
    )
    gateway_options(rebalance)
    scrub = admin_commands.add_parser(
        "scrub", help="verify every chunk, say which objects are degraded or lost; exit 1 on damage"
    )
    scrub.add_argument("--repair", action="store_true", help="queue and repair what was found")
    gateway_options(scrub)
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
    gateway_options(repair)

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
        config = config_of(args, catalog_url(args))
        workers = workers_of(args)
        if workers > 1:
            from s3compat.workers import serve_workers

            return serve_workers(config, workers)
        from s3compat.gateway import serve

        asyncio.run(serve(config))
        return 0
    return _admin(args)


def _cluster(args: argparse.Namespace) -> int:
    from s3compat.launcher import ClusterOptions, run_cluster

    passed: list[str] = []
    for name in PASSED_ON:
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
    catalog = catalog_url(args)
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
        report = asyncio.run(admin.collect_garbage(config_of(args, catalog), args.orphans))
        print(json.dumps(report, indent=2))
    elif args.admin_command == "rebalance":
        config = config_of(args, catalog)
        moved = asyncio.run(admin.rebalance(config, spread=args.spread, dry_run=args.dry_run))
        print("\n" + json.dumps(moved, indent=2))
    elif args.admin_command == "parity":
        print(json.dumps(asyncio.run(admin.parity_setting(catalog, args.count)), indent=2))
    elif args.admin_command == "scrub":
        damaged, found = asyncio.run(
            admin_repair.scrub_cluster(config_of(args, catalog), heal=args.repair)
        )
        print(json.dumps(found, indent=2))
        return 1 if damaged else 0
    elif args.admin_command == "repair":
        repaired = asyncio.run(
            admin_repair.repair(config_of(args, catalog), wait=args.wait, reprotect=args.reprotect)
        )
        print(json.dumps(repaired, indent=2))
        return 0 if repaired["under_protected_segments"] == 0 else 1
    return 0
