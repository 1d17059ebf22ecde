"""The gateway's configuration: one dataclass, read from flags and environment in `cli.py`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway process needs to know; no globals elsewhere."""

    # Where the catalog is: `sqlite:///FILE` (or a plain path) or `postgresql://...`.
    catalog_url: str
    host: str = "127.0.0.1"
    port: int = 9000
    domain: str = "localhost"
    region: str = "us-east-1"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Multipart: every part but the last must be at least this big at Complete (S3: 5 MiB).
    min_part_bytes: int = 5 * MIB
    # Unfinished multipart uploads idle longer than this are aborted by the sweeper.
    upload_expiry_seconds: float = 7 * DAY_SECONDS
    # Chunks of replaced or deleted versions are kept this long so that readers that already
    # looked the old version up can finish streaming it.
    gc_grace_seconds: float = 60.0
    # How often the background sweeper (GC, expiry) and the server poller run.
    sweep_interval_seconds: float = 5.0
    poll_interval_seconds: float = 2.0
    # Seconds between background repair passes (sooner when a read or write saw damage).
    repair_interval_seconds: float = 10.0
    # Segments repaired at once: repair's share of the cluster's disks and network.
    repair_concurrency: int = 2
    # A chunk server that has not answered for this long is marked down.
    server_down_after_seconds: float = 10.0
    # Down this long, a server is declared lost and its pieces are rebuilt elsewhere.
    server_lost_after_seconds: float = 900.0
    # Lifecycle rules count days in units of this many seconds (tests make a day pass quickly).
    lifecycle_day_seconds: float = DAY_SECONDS
    max_skew_seconds: float = 15 * 60
    # A gateway renews its liveness row and its leases (GC, server polling) well within this;
    # after it dies, its unfinished writes' chunks are collected and its duties taken over
    # once this much time has passed.
    lease_seconds: float = 10.0
    # Bodies sent `Transfer-Encoding: chunked` without a length are spooled here (anonymous
    # temporary files) until their size is known; None: the system's temporary folder.
    spool_dir: Path | None = None
    # The master key wrapping SSE-S3 object keys (created, mode 0600, when missing). Every
    # gateway of a cluster must be given the same file; None: SSE-S3 answers 501.
    sse_key_file: Path | None = None
    # The SSE-KMS keyring (`NAME:HEX` lines, mode 0600) and the names it must hold (made when
    # missing; the first is the default key of `aws:kms` without a key id). None: SSE-KMS
    # answers 501.
    kms_keyring_file: Path | None = None
    kms_keys: tuple[str, ...] = ()
