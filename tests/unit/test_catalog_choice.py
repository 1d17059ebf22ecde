"""Which catalog a command uses (--catalog, $S3COMPAT_CATALOG, the --data folder's), and the
ports of a cluster with several gateways."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3compat import admin
from s3compat.cli import build_parser
from s3compat.gateway_options import CATALOG_ENV, catalog_url
from s3compat.launcher import ClusterOptions, chunk_urls, endpoints, gateway_children


def test_a_data_folder_names_its_sqlite_file_or_its_recorded_url(tmp_path: Path) -> None:
    assert admin.catalog_url_of(tmp_path) == str(tmp_path / "catalog.db")
    (tmp_path / admin.CATALOG_URL_FILE).write_text("postgresql://s3@db/s3\n")
    assert admin.catalog_url_of(tmp_path) == "postgresql://s3@db/s3"


def test_the_flag_beats_the_environment_which_beats_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = build_parser()
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    from_data = parser.parse_args(["admin", "--data", str(tmp_path), "server", "list"])
    assert catalog_url(from_data) == str(tmp_path / "catalog.db")
    monkeypatch.setenv(CATALOG_ENV, "postgresql://env@db/s3")
    assert catalog_url(from_data) == "postgresql://env@db/s3"
    flagged = parser.parse_args(["gateway", "--catalog", "postgresql://flag@db/s3"])
    assert catalog_url(flagged) == "postgresql://flag@db/s3"


def test_several_gateways_take_the_first_ports_and_get_the_url_by_environment() -> None:
    args = build_parser().parse_args(
        ["cluster", "--data", "d", "--gateways", "2", "--catalog", "postgresql://u:pw@db/s3"]
    )
    assert args.gateways == 2
    options = ClusterOptions(
        data_dir=Path("d"),
        host="127.0.0.1",
        port=9000,
        servers=6,
        chunk_port=9002,
        gateway_args=[],
        tls=False,
        capacity=None,
        gateways=2,
        catalog_url=args.catalog,
    )
    assert endpoints(options) == ["http://127.0.0.1:9000", "http://127.0.0.1:9001"]
    assert chunk_urls(options)[0] == "http://127.0.0.1:9002"
    children = gateway_children(options, options.catalog_url or "")
    assert [child.name for child in children] == ["gateway-1", "gateway-2"]
    for child in children:
        assert child.env["S3COMPAT_CATALOG"] == "postgresql://u:pw@db/s3"
        assert not any("pw" in word for word in child.command)  # not on the command line
