"""The PostgreSQL catalog goes away and comes back while the cluster runs.

While the catalog cannot be reached (the server stopped, or hung) every request is answered 503
ServiceUnavailable (which S3 clients retry), never a 500 and never a hang; once it is back,
requests succeed again without a restart, and no acknowledged write is lost while a refused one
left no object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from support.postgres import PostgresServer, create_database, postgres_binaries, start_postgres
from support.processes import Cluster, private_directory, start_cluster, stop_cluster
from support.signing import raw_request
from support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    postgres_binaries() is None, reason="PostgreSQL is not installed (no initdb)"
)

BACK_WITHIN_SECONDS = 30.0


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, so that it can be halted."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cluster_on(own_postgres: PostgresServer) -> Iterator[Cluster]:
    url = create_database(own_postgres)
    with private_directory("s3compat-outage-") as root:
        cluster, process = start_cluster(root / "data", root, ["--servers", "6"], catalog_url=url)
        try:
            yield cluster
        finally:
            stop_cluster(process)


def test_a_catalog_outage_is_a_503_and_the_cluster_comes_back(
    own_postgres: PostgresServer, cluster_on: Cluster
) -> None:
    cluster = cluster_on
    kept = os.urandom(10_000)
    assert raw_request(cluster, "PUT", "/outage").status == 200
    assert raw_request(cluster, "PUT", "/outage/kept", body=kept).status == 200
    own_postgres.halt()
    try:
        refused = [
            raw_request(cluster, "PUT", "/outage/during", body=b"refused"),
            raw_request(cluster, "GET", "/outage/kept"),
            raw_request(cluster, "GET", "/outage?list-type=2"),
            raw_request(cluster, "DELETE", "/outage/kept"),
        ]
        answers = [(a.status, a.error_code()) for a in refused]
        assert answers == [(503, "ServiceUnavailable")] * len(refused), answers
    finally:
        own_postgres.resume()
    wait_for(
        lambda: raw_request(cluster, "GET", "/outage/kept").status == 200,
        BACK_WITHIN_SECONDS,
        interval=0.5,
    )
    assert raw_request(cluster, "GET", "/outage/kept").body == kept
    assert raw_request(cluster, "GET", "/outage/during").status == 404
    assert raw_request(cluster, "PUT", "/outage/after", body=b"back").status == 200
    assert raw_request(cluster, "GET", "/outage/after").body == b"back"


# The gateway's statement timeout (catalog/pg.py COMMAND_TIMEOUT_SECONDS, 30 s) twice over (the
# pool resets the broken connection with the same timeout), and a margin; far below forever.
HUNG_ANSWER_WITHIN_SECONDS = 100.0


def test_a_hung_catalog_is_a_503_not_a_hang(
    own_postgres: PostgresServer, cluster_on: Cluster
) -> None:
    cluster = cluster_on
    assert raw_request(cluster, "PUT", "/hung").status == 200
    assert raw_request(cluster, "PUT", "/hung/kept", body=b"kept").status == 200
    own_postgres.freeze()
    try:
        answer = raw_request(cluster, "GET", "/hung/kept", timeout=HUNG_ANSWER_WITHIN_SECONDS)
        assert (answer.status, answer.error_code()) == (503, "ServiceUnavailable")
    finally:
        own_postgres.freeze(stop=False)
    wait_for(
        lambda: raw_request(cluster, "GET", "/hung/kept").status == 200,
        BACK_WITHIN_SECONDS,
        interval=0.5,
    )
    assert raw_request(cluster, "GET", "/hung/kept").body == b"kept"
