"""`benchmarks/run --smoke`: the benchmark's whole path on a tiny plan (our cluster alone, no
peers), so that it cannot rot. Its figures mean nothing and are not checked; the full run is
done by hand on an idle machine (benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.catalog import catalog_backend

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    catalog_backend() == "postgresql", reason="the benchmark uses its own SQLite clusters"
)


def test_smoke_run_prints_the_table_and_writes_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets:" in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    ours = results["systems"]["s3compat"]
    assert ours["status"] == "ok" and ours["errors"] == [], ours
    assert ours["metrics"]["small_put_ops"] > 0
    assert (tmp_path / "table.txt").read_text().strip()
