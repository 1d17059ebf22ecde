"""The integration tier's conftest (cluster start-up, boto3 clients, raw signed requests)
for this tier, loaded by `integration_loader`.

Test modules here do ``from faults_support import it`` and use ``it.raw_request`` etc.
"""

from __future__ import annotations

from pathlib import Path

from integration_loader import load_integration

it = load_integration()


def child_pid(cluster: object, *needles: str) -> int:
    """The pid of the cluster's child process whose command line holds every `needle`."""
    for pid in it._child_pids(cluster.pid):  # type: ignore[attr-defined]
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if all(any(needle == word or needle in word for word in words) for needle in needles):
            return pid
    raise AssertionError(f"no child of {cluster.pid} with {needles}")  # type: ignore[attr-defined]


def chunkd_pid(cluster: object, url: str) -> int:
    """The pid of the chunk daemon serving `url`."""
    port = url.rsplit(":", 1)[1]
    return child_pid(cluster, "chunkd", port)


def gateway_pid(cluster: object) -> int:
    return child_pid(cluster, "gateway")


def health(cluster: object) -> int:
    """The status of GET /-/health."""
    connection = it.connection_for(cluster, timeout=10)
    try:
        connection.request("GET", "/-/health")
        answer = connection.getresponse()
        answer.read()
        return int(answer.status)
    except OSError:
        return 0
    finally:
        connection.close()
