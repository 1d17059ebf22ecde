"""docker-compose.yml is checked against the real command lines (Docker may not run here)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from chunkd.__main__ import parse_args as parse_chunkd_args
from s3compat.cli import build_parser

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_a_gateway_and_six_chunk_daemons_with_their_own_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    daemons = sorted(name for name in services if name.startswith("chunkd"))
    assert "gateway" in services and len(daemons) == 6
    volumes = [services[name]["volumes"][0].split(":")[0] for name in ["gateway", *daemons]]
    assert len(set(volumes)) == 7
    assert set(volumes) == set(compose["volumes"])
    assert "/-/health" in " ".join(services["gateway"]["healthcheck"]["test"])


def test_gateway_commands_match_the_cli(compose: dict[str, Any]) -> None:
    script = compose["services"]["gateway"]["command"]
    inner = shlex.split(script)[2]  # sh -c "<commands>"
    commands = [shlex.split(part) for part in inner.split("&&")]
    parser = build_parser()
    for words in commands:
        assert words[0] == "s3compat"
        parser.parse_args(words[1:])  # exits (fails the test) on an unknown flag


def test_chunk_daemon_commands_match_the_cli(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUNKD_SECRET", "from-the-environment")
    for name, service in compose["services"].items():
        if not name.startswith("chunkd"):
            continue
        words = shlex.split(service["command"])
        assert words[0] == "chunkd"
        config = parse_chunkd_args(words[1:])
        assert config.gateway_url == "http://gateway:9000"
        assert config.advertise_url == f"http://{name}:{config.port}"
        assert service["environment"]["CHUNKD_SECRET"].startswith("${S3COMPAT_CLUSTER_SECRET")
