"""The options the gateway takes (from `s3compat gateway`, and from `cluster`, `admin gc`...
which pass them on) and the GatewayConfig they make."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from s3compat import admin
from s3compat.config import DAY_SECONDS, MIB, GatewayConfig

# The catalog URL when no --catalog is given (keeps a password off the command line).
CATALOG_ENV = "S3COMPAT_CATALOG"
CATALOG_HELP = (
    "the catalog: sqlite:///FILE (or a file path) or postgresql://USER@HOST:PORT/DB "
    f"(default: ${CATALOG_ENV}, else the --data folder's)"
)


def gateway_options(parser: argparse.ArgumentParser) -> None:
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


PASSED_ON = (
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


def workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        help="gateway processes accepting on the one port, on the one catalog (default: one "
        "per core; 1 serves in a single process)",
    )


def workers_of(args: argparse.Namespace) -> int:
    from s3compat.workers import default_workers

    workers: int = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise SystemExit("--workers must be at least 1")
    return workers


def config_of(args: argparse.Namespace, catalog_url: str) -> GatewayConfig:
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


def catalog_url(args: argparse.Namespace) -> str:
    """--catalog, else $S3COMPAT_CATALOG, else the catalog of the --data folder."""
    given = getattr(args, "catalog", None) or os.environ.get(CATALOG_ENV)
    if given:
        return str(given)
    if getattr(args, "data", None):
        return admin.catalog_url_of(Path(args.data))
    raise SystemExit("give --data DIR (a cluster folder) or --catalog URL")
