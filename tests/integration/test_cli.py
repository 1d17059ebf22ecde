"""The aws CLI (v1) against the gateway: the commands people type first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.clients import unique_bucket_name
from support.processes import Cluster

AWS = Path(sys.executable).with_name("aws")


def aws(cluster: Cluster, *arguments: str) -> bytes:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": cluster.access_key,
        "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    env.pop("AWS_PROFILE", None)
    completed = subprocess.run(
        [str(AWS), "--endpoint-url", cluster.endpoint, *arguments],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert completed.returncode == 0, (
        f"aws {' '.join(arguments)} exited {completed.returncode}: "
        f"{completed.stderr.decode(errors='replace')[-2000:]}"
    )
    return completed.stdout


def test_aws_cli_round_trip(cluster: Cluster, tmp_path: Path) -> None:
    bucket = unique_bucket_name("cli")
    source = tmp_path / "five-mib.bin"
    data = os.urandom(5 * 1024 * 1024)
    source.write_bytes(data)

    assert f"make_bucket: {bucket}" in aws(cluster, "s3", "mb", f"s3://{bucket}").decode()
    assert bucket in aws(cluster, "s3", "ls").decode()
    aws(cluster, "s3api", "put-object", "--bucket", bucket, "--key", "f", "--body", str(source))
    assert aws(cluster, "s3", "cp", f"s3://{bucket}/f", "-") == data
    listing = aws(cluster, "s3", "ls", f"s3://{bucket}/").decode()
    assert listing.split()[-2:] == [str(len(data)), "f"], listing
    assert f"delete: s3://{bucket}/f" in aws(cluster, "s3", "rm", f"s3://{bucket}/f").decode()
    assert aws(cluster, "s3", "ls", f"s3://{bucket}/").strip() == b""
    aws(cluster, "s3", "rb", f"s3://{bucket}")
    assert bucket not in aws(cluster, "s3", "ls").decode()
