"""One boto3 `upload_file` or `download_file` with the default TransferConfig, in its own process.

`python -m s3bench.transfer put|get ENDPOINT BUCKET KEY PATH` (credentials from the environment)
prints the seconds the transfer took, client creation excluded. A separate process keeps the
client's CPU off the benchmark's interpreter and lets the caller bound it with a timeout.
"""

from __future__ import annotations

import sys
import time

import boto3


def main(argv: list[str]) -> int:
    action, endpoint, bucket, key, path = argv
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
    start = time.perf_counter()
    if action == "put":
        client.upload_file(path, bucket, key)
    elif action == "get":
        client.download_file(bucket, key, path)
    else:
        raise SystemExit(f"unknown action {action!r}")
    print(f"{time.perf_counter() - start:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
