"""docker-compose.postgres.yml (on top of docker-compose.yml) is checked against the real
command lines: PostgreSQL, two gateways on it, the same 6 chunk daemons."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from s3compat.catalog.backend import is_postgresql
from s3compat.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge for what these files use: mappings merge, anything else is replaced."""
    result = dict(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(name), dict):
            result[name] = merged(result[name], value)
        else:
            result[name] = value
    return result


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    override = yaml.safe_load((ROOT / "docker-compose.postgres.yml").read_text())
    document: dict[str, Any] = merged(base, override)
    return document


def gateway_commands(service: dict[str, Any]) -> list[list[str]]:
    inner = shlex.split(service["command"])[2]  # sh -c "<commands>"
    return [shlex.split(part) for part in inner.split("&&")]


def test_postgresql_two_gateways_and_six_chunk_daemons(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateways = sorted(name for name in services if name.startswith("gateway"))
    daemons = sorted(name for name in services if name.startswith("chunkd"))
    assert gateways == ["gateway", "gateway-2"] and len(daemons) == 6
    assert services["postgres"]["image"].startswith("postgres:")
    published = {services[name]["ports"][0].split(":")[0] for name in gateways}
    assert published == {"9000", "9001"}
    for name in gateways:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/-/health" in " ".join(services[name]["healthcheck"]["test"])
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert named == set(compose["volumes"])


def test_both_gateways_use_the_postgresql_catalog_from_the_environment(
    compose: dict[str, Any],
) -> None:
    parser = build_parser()
    for name in ("gateway", "gateway-2"):
        service = compose["services"][name]
        environment = service["environment"]
        assert is_postgresql(environment["S3COMPAT_CATALOG"])
        assert (
            "@" in environment["S3COMPAT_CATALOG"]
            and ":" not in (environment["S3COMPAT_CATALOG"].split("//", 1)[1].split("@", 1)[0])
        ), "the password goes in PGPASSWORD, not in the URL"
        assert environment["PGPASSWORD"].startswith("${S3COMPAT_CATALOG_PASSWORD")
        commands = gateway_commands(service)
        assert [words[:2] for words in commands] == [["s3compat", "admin"], ["s3compat", "gateway"]]
        for words in commands:
            args = parser.parse_args(words[1:])  # exits (fails the test) on an unknown flag
            assert getattr(args, "catalog", None) is None  # from S3COMPAT_CATALOG


def test_chunk_daemons_still_register_with_the_first_gateway(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name.startswith("chunkd"):
            assert "--gateway http://gateway:9000" in service["command"]
