"""The SSE-S3 master key file, made by whichever of several gateways starting at once is first:
every one of them loads the same key, and none reads the file half written."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

from s3compat.store.sse import MasterKey

GATEWAYS = 12
ROUNDS = 25


def test_gateways_starting_together_share_one_key(tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        path = tmp_path / f"round-{round_number}" / "sse-master.key"
        start = threading.Barrier(GATEWAYS)

        def load(path: Path = path, start: threading.Barrier = start) -> MasterKey:
            start.wait()
            return MasterKey.load(path)

        with concurrent.futures.ThreadPoolExecutor(GATEWAYS) as pool:
            keys = list(pool.map(lambda _: load(), range(GATEWAYS)))
        kept = MasterKey.load(path)
        for key in keys:  # each one unwraps what the key in the file wrapped: the same key
            assert key.unwrap(kept.wrap(b"k" * 32)) == b"k" * 32
        assert [p.name for p in path.parent.iterdir()] == ["sse-master.key"]  # no drafts left
        assert path.stat().st_mode & 0o777 == 0o600
