"""The fault tier's own helpers: the health of a cluster, pausing its supervisor, killing a
daemon, reading answers that may be cut short, and looking at pieces on disk and in the catalog.
What every tier uses (clusters, clients, raw requests) is in `support`."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from support.catalog import catalog_rows
from support.chunk_daemons import data_place, flip_in_place
from support.data import locate
from support.processes import Cluster, child_pid, chunkd_pid
from support.signing import RawResponse, connection_for, sign
from support.waiting import wait_for

DATA_PIECES = 6


def gateway_pid(cluster: Cluster) -> int:
    return child_pid(cluster, "gateway")


def health_report(cluster: Cluster) -> tuple[int, dict[str, Any]]:
    """GET /-/health: (status, its JSON document; {} if there was none)."""
    connection = connection_for(cluster, timeout=10)
    try:
        connection.request("GET", "/-/health")
        answer = connection.getresponse()
        body = answer.read()
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = {}
        return int(answer.status), document if isinstance(document, dict) else {}
    except OSError:
        return 0, {}
    finally:
        connection.close()


def health(cluster: Cluster) -> int:
    """The status of GET /-/health."""
    return health_report(cluster)[0]


def fully_healthy(cluster: Cluster) -> bool:
    """Every chunk daemon up, and writes get all their parity pieces."""
    status, report = health_report(cluster)
    return (
        status == 200
        and report.get("full_parity") is True
        and report.get("servers_up") == len(cluster.chunk_urls)
    )


# ---------------------------------------------------------------------------------------------
# Processes


@contextlib.contextmanager
def supervisor_paused(cluster: Cluster) -> Iterator[None]:
    """SIGSTOP the `s3compat cluster` process (its children go on running) so that it does not
    restart the chunk daemons a test kills; SIGCONT on exit, after which it restarts them."""
    pid: int = cluster.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def listening(url: str) -> bool:
    """Whether something accepts connections at `url`'s host and port."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def kill_daemon(cluster: Cluster, url: str) -> None:
    """kill -9 the chunk daemon at `url` and wait until its port is closed."""
    os.kill(chunkd_pid(cluster, url), signal.SIGKILL)
    wait_for(lambda: not listening(url), timeout=10, interval=0.05)


# ---------------------------------------------------------------------------------------------
# Answers that may be cut short


@dataclass(frozen=True)
class Answer:
    """A GET's answer as the client saw it: the body as far as it arrived."""

    status: int
    code: str | None
    body: bytes
    declared: int | None  # Content-Length
    retry_after: str | None

    @property
    def complete(self) -> bool:
        return self.declared is None or len(self.body) == self.declared


def get_answer(cluster: Cluster, target: str, headers: dict[str, str] | None = None) -> Answer:
    """GET without retries (boto3 would retry a 503 and hide a cut body)."""
    all_headers = sign(cluster, "GET", target, headers or {}, b"")
    connection = connection_for(cluster, timeout=60)
    try:
        connection.request("GET", target, headers=all_headers)
        answer = connection.getresponse()
        try:
            body = answer.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        except OSError:
            body = b""
        code = None
        if answer.status >= 300 and body.startswith(b"<?xml"):
            code = RawResponse(answer.status, answer.headers, body).error_code()
        length = answer.getheader("Content-Length")
        return Answer(
            answer.status,
            code,
            body,
            int(length) if length is not None and length.isdigit() else None,
            answer.getheader("Retry-After"),
        )
    finally:
        connection.close()


def range_header(start: int, end: int) -> dict[str, str]:
    """Bytes start..end, both included."""
    return {"Range": f"bytes={start}-{end}"}


def never_wrong(answer: Answer, expected: bytes) -> str:
    """What a client may see of an object it cannot be given: a clean 503 with an S3 error
    document, or a success cut short (fewer bytes than its Content-Length, so the client
    knows) whose bytes are right as far as they go. Returns "whole", "cut" or "503"; fails on
    anything else (a 500, a wrong byte, a complete-looking wrong body)."""
    if answer.status in (200, 206):
        assert answer.declared == len(expected), (answer.status, answer.declared, len(expected))
        assert answer.body == expected[: len(answer.body)], (
            f"wrong bytes: {answer.status}, {len(answer.body)} of {len(expected)} received"
        )
        return "whole" if len(answer.body) == len(expected) else "cut"
    assert (answer.status, answer.code) == (503, "ServiceUnavailable"), (
        answer.status,
        answer.code,
        answer.body[:300],
    )
    assert answer.retry_after is not None
    return "503"


def exact(answer: Answer, expected: bytes, status: int = 200) -> None:
    """The answer is `status` and exactly `expected`, complete."""
    assert answer.status == status, (answer.status, answer.code, answer.body[:300])
    assert answer.complete, f"cut after {len(answer.body)} of {answer.declared} bytes"
    assert len(answer.body) == len(expected), (len(answer.body), len(expected))
    assert answer.body == expected, "wrong bytes"


# ---------------------------------------------------------------------------------------------
# Pieces


def pieces_of(cluster: Cluster, bucket: str, key: str) -> dict[int, dict[str, Any]]:
    """The pieces of a single-segment object by role (0..5 data, 6.. parity), as
    `s3compat admin locate` shows them."""
    chunks = locate(cluster, bucket, key)["chunks"]
    by_role = {int(chunk["index"]): chunk for chunk in chunks}
    assert len(by_role) == len(chunks), f"{key}: more than one segment"
    return by_role


def piece_byte(cluster: Cluster, piece: dict[str, Any], offset: int) -> tuple[Path, int]:
    """Where byte `offset` of a piece is on its daemon's disk: (chunk file or pack, offset)."""
    number = cluster.chunk_urls.index(piece["url"]) + 1
    return data_place(cluster.data_dir / f"chunkd-{number}", str(piece["chunk_id"]), offset)


@contextlib.contextmanager
def flipped_bytes(*places: tuple[Path, int]) -> Iterator[None]:
    """Flip one byte at each (file, offset), in place; flip them back on exit unless the file
    is gone meanwhile (a repairer replaced the piece and the collector deleted it)."""
    flipped: list[tuple[Path, int]] = []
    try:
        for path, offset in places:
            flip_in_place(path, offset)
            flipped.append((path, offset))
        yield
    finally:
        for path, offset in flipped:
            with contextlib.suppress(FileNotFoundError):
                flip_in_place(path, offset)


def damage_noted(cluster: Cluster, chunk_id: str) -> str | None:
    """How the catalog's damage queue has the piece: its `reason`; "replaced" if the piece is
    no longer in the catalog (a repairer acted on the note and swapped it); None if neither."""
    rows = catalog_rows(cluster, "SELECT reason FROM damaged_chunks WHERE chunk_id = ?", chunk_id)
    if rows:
        return str(rows[0][0])
    if not catalog_rows(cluster, "SELECT 1 FROM chunks WHERE chunk_id = ?", chunk_id):
        return "replaced"
    return None


def wait_noted(cluster: Cluster, chunk_id: str, timeout: float = 10.0) -> str:
    """`damage_noted`, once it says something (the note is made during the read that found the
    damage, but give a loaded machine a moment)."""
    noted: str = wait_for(lambda: damage_noted(cluster, chunk_id), timeout=timeout)
    return noted


def server_states(cluster: Cluster) -> dict[str, str]:
    """Each chunk server's state as the catalog records it, by URL (the gateway's own view
    may differ for a moment: it also counts a server down, until its next reload of the
    catalog, as soon as a request to it fails)."""
    rows = catalog_rows(cluster, "SELECT url, state FROM servers")
    return {str(url): str(state) for url, state in rows}
