#!/usr/bin/env python3
"""How fast the console shows the first page of a big bucket.

    .venv/bin/python benchmarks/console.py [--objects 10000] [--rounds 30]

Starts `s3compat cluster` (8 chunk daemons) in a temporary folder, fills one bucket with
`--objects` empty objects whose names hold spaces, `%` and non-ASCII letters (PUTs by presigned
URL from one asyncio process, 32 at a time), plus 100 "folders" of 10 objects each, logs in to
the console and times, over loopback, GET of the bucket's first page (100 keys), of a folder's
first page, of a later page, and of an object's details page. Prints the median, p95 and worst
of `--rounds` requests each; the goal is a first page under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.processes import running_cluster  # noqa: E402

from s3compat.console.presign import object_path, presign  # noqa: E402

CONCURRENCY = 32
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


async def fill(endpoint: str, access: str, secret: str, bucket: str, keys: list[str]) -> float:
    host = endpoint.split("//", 1)[1]
    started = time.monotonic()
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:
        url = presign("PUT", f"/{bucket}", {}, host=host, access_key=access,
                      secret_key=secret, region="us-east-1")  # fmt: skip
        async with session.put(endpoint + url) as answer:
            assert answer.status == 200, await answer.text()

        async def put(key: str) -> None:
            path = object_path(bucket, key)
            signed = presign("PUT", path, {}, host=host, access_key=access,
                             secret_key=secret, region="us-east-1")  # fmt: skip
            async with limit, session.put(endpoint + signed, data=b"") as answer:
                assert answer.status == 200, await answer.text()

        await asyncio.gather(*(put(key) for key in keys))
    return time.monotonic() - started


async def time_pages(endpoint: str, access: str, secret: str, paths: dict[str, str],
                     rounds: int) -> dict[str, list[float]]:  # fmt: skip
    base = endpoint + "/-/console"
    jar = aiohttp.CookieJar(unsafe=True)
    timings: dict[str, list[float]] = {name: [] for name in paths}
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(base + "/login") as answer:
            token = TOKEN.search(await answer.text())
        assert token
        form = {"csrf_token": token.group(1), "access_key": access, "secret_key": secret}
        async with session.post(base + "/login", data=form, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
        for _ in range(rounds):
            for name, path in paths.items():
                started = time.perf_counter()
                async with session.get(base + path) as answer:
                    body = await answer.read()
                    assert answer.status == 200, body[:300]
                timings[name].append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    bucket = "big"
    keys = [f"file {number:05d} ü%.txt" for number in range(args.objects)]
    keys += [f"folder {f:03d}/item {n:02d}" for f in range(100) for n in range(10)]
    with running_cluster("s3compat-bench-console-") as cluster:
        seconds = asyncio.run(
            fill(cluster.endpoint, cluster.access_key, cluster.secret_key, bucket, keys)
        )
        print(f"filled {len(keys)} objects in {seconds:.1f} s ({len(keys) / seconds:.0f}/s)")
        paths = {
            "bucket, first page": f"/buckets/{bucket}",
            "folder, first page": f"/buckets/{bucket}?prefix={quote('folder 050/')}",
            "bucket, page after key 5000": (f"/buckets/{bucket}?after={quote(keys[5000])}"),
            "object details": f"/buckets/{bucket}/object?key={quote(keys[1234])}",
        }
        timings = asyncio.run(
            time_pages(cluster.endpoint, cluster.access_key, cluster.secret_key, paths,
                       args.rounds)
        )  # fmt: skip
    print(f"\n| page ({len(keys)} objects) | median | p95 | worst |\n|---|---|---|---|")
    for name, values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(
            f"| {name} | {1000 * statistics.median(values):.1f} ms | {1000 * p95:.1f} ms "
            f"| {1000 * values[-1]:.1f} ms |"
        )


if __name__ == "__main__":
    main()
