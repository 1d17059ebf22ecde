"""rclone (remote type s3, provider Other, configured only by environment variables) against the
gateway: bucket creation, tree copies with a multipart file, hashes, mtimes, server-side copies
and deletions. Every result is checked through boto3 or against the local bytes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

RCLONE = shutil.which("rclone")
REMOTE = "s3c"
BIG_FILE_BYTES = 40 * 1024 * 1024
CHUNK_MIB = 5
# rclone uploads in one PUT below --s3-upload-cutoff (200 MiB by default).
MULTIPART_FLAGS = ("--s3-chunk-size", f"{CHUNK_MIB}M", "--s3-upload-cutoff", f"{CHUNK_MIB}M")
# A fixed old mtime with sub-second precision: rclone must carry it in X-Amz-Meta-Mtime.
OLD_MTIME_NS = 1_000_000_000_123_456_789  # 2001-09-09 01:46:40.123456789 UTC
OLD_MTIME_TEXT = "2001-09-09 01:46:40.123456789"
TREE_MTIME_TEXT = OLD_MTIME_TEXT  # client_tree's TREE_MTIME_NS, as rclone lsl shows it

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone is not installed")

Rclone = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def rclone(cluster: Any, tool_env: Callable[..., dict[str, str]], run: Rclone) -> Rclone:
    """`rclone(*arguments, check=True)`: run rclone against the cluster as remote `s3c:`."""
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    environment = tool_env(
        {
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ACCESS_KEY_ID": cluster.access_key,
            prefix + "SECRET_ACCESS_KEY": cluster.secret_key,
            prefix + "ENDPOINT": cluster.endpoint,
            prefix + "REGION": "us-east-1",
            "RCLONE_CONFIG": "/dev/null",  # no config file: the remote lives in the environment
        }
    )

    def call(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        assert RCLONE is not None
        # One try each: a product error must fail the test, not be papered over by retries.
        command = [RCLONE, "--retries", "1", "--low-level-retries", "1", *arguments]
        return run(command, environment, check=check)

    return call


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_tree(root: Path) -> dict[str, bytes]:
    """Small files in nested folders and one 40 MiB file; every file gets OLD_MTIME_NS."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "dir one/b.bin": os.urandom(1000),
        "dir one/deeper/c+d.txt": b"plus and space\n" * 100,
        "dir two/e%20f.txt": os.urandom(6001),
        "big.bin": os.urandom(BIG_FILE_BYTES),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return files


def parse_md5sum(output: bytes) -> dict[str, str]:
    """`rclone md5sum` lines: '<md5>  <path>'."""
    sums: dict[str, str] = {}
    for line in output.decode().splitlines():
        digest, _, path = line.partition("  ")
        sums[path] = digest
    return sums


def parse_lsl(output: bytes) -> dict[str, tuple[int, str]]:
    """`rclone lsl` lines: '<size> <date> <time> <path>' -> {path: (size, 'date time')}."""
    entries: dict[str, tuple[int, str]] = {}
    for line in output.decode().splitlines():
        match = re.fullmatch(r"\s*(\d+) (\S+ \S+) (.+)", line)
        assert match is not None, f"unexpected lsl line {line!r}"
        entries[match.group(3)] = (int(match.group(1)), match.group(2))
    return entries


def json_log(stderr: bytes) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The final stats and the (message, object) pairs of a run with `-v --use-json-log`."""
    stats: dict[str, Any] | None = None
    messages: list[tuple[str, str]] = []
    for line in stderr.decode().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if "stats" in entry:
            stats = entry["stats"]
        else:
            messages.append((entry.get("msg", ""), entry.get("object", "")))
    assert stats is not None, stderr.decode()[-3000:]
    return stats, messages


def object_states(s3: Any, bucket: str) -> dict[str, tuple[str, Any, int]]:
    """{key: (ETag, LastModified, size)} of every object, through boto3."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {
        item["Key"]: (item["ETag"], item["LastModified"], item["Size"])
        for page in pages
        for item in page.get("Contents", [])
    }


PLAIN_TREE_NAME = re.compile(r"d\d/(s\d/)?file-\d{3}\.(txt|bin)")  # client_tree's ordinary names
CHANGING_MESSAGES = ("Copied", "Updated", "Deleted", "Moved")
TOUCH_TEXT = "2020-01-02 03:04:05.000000000"


def test_sync_check_resync_and_touch_of_a_200_file_tree(
    rclone: Rclone,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    client_tree: Callable[[Path], dict[str, bytes]],
) -> None:
    """The acceptance run: sync 200 small files and two 40 MiB files (rclone's defaults: each
    file one PUT), check finds 0 differences, a second sync transfers and changes nothing,
    touch changes the mtime that lsl reads back, and a third sync puts it back without a
    transfer."""
    source = tmp_path / "source"
    files = client_tree(source)
    remote = f"{REMOTE}:{bucket}/tree"

    first = rclone("sync", "-v", "--use-json-log", str(source), remote)
    stats, _ = json_log(first.stderr)
    assert (stats["transfers"], stats["errors"]) == (len(files), 0), stats
    assert stats["bytes"] == sum(len(data) for data in files.values()), stats

    # What the gateway stored: every key, and the MD5 of the bytes it received (each file was
    # one PUT); the two big files and the awkward names are also read back.
    states = object_states(s3, bucket)
    assert {key: state[0] for key, state in states.items()} == {
        f"tree/{relative}": f'"{md5_hex(data)}"' for relative, data in files.items()
    }
    for relative, data in files.items():
        if not PLAIN_TREE_NAME.fullmatch(relative):
            body = s3.get_object(Bucket=bucket, Key=f"tree/{relative}")["Body"].read()
            assert body == data, relative

    checked = rclone("check", str(source), remote)
    assert b" 0 differences found" in checked.stderr, checked.stderr
    assert f" {len(files)} matching files".encode() in checked.stderr, checked.stderr
    listing = parse_lsl(rclone("lsl", remote).stdout)
    assert listing == {relative: (len(data), TREE_MTIME_TEXT) for relative, data in files.items()}

    # A second sync only compares: no transfer, no mtime update, no deletion, nothing rewritten.
    again = rclone("sync", "-v", "--use-json-log", str(source), remote)
    stats, messages = json_log(again.stderr)
    assert (stats["transfers"], stats["deletes"], stats["errors"]) == (0, 0, 0), stats
    assert stats["checks"] == len(files), stats
    assert [entry for entry in messages if entry[0].startswith(CHANGING_MESSAGES)] == []
    assert object_states(s3, bucket) == states

    # touch: a server-side copy onto itself with new metadata; the bytes stay.
    touched = "unicodé/日本語のファイル.txt"
    rclone("touch", "--timestamp", "2020-01-02T03:04:05", f"{remote}/{touched}")
    listing = parse_lsl(rclone("lsl", remote).stdout)
    assert listing[touched] == (len(files[touched]), TOUCH_TEXT)
    assert {entry[1] for entry in listing.values()} == {TREE_MTIME_TEXT, TOUCH_TEXT}
    answer = s3.get_object(Bucket=bucket, Key=f"tree/{touched}")
    assert answer["Body"].read() == files[touched]
    assert answer["ETag"] == states[f"tree/{touched}"][0]

    # The local file is unchanged, so the next sync sets the remote mtime back, again without
    # transferring anything.
    restored = rclone("sync", "-v", "--use-json-log", str(source), remote)
    stats, messages = json_log(restored.stderr)
    assert (stats["transfers"], stats["errors"]) == (0, 0), stats
    assert [entry for entry in messages if entry[0].startswith(CHANGING_MESSAGES)] == [
        ("Updated modification time in destination", touched)
    ]
    assert parse_lsl(rclone("lsl", remote).stdout)[touched] == (
        len(files[touched]),
        TREE_MTIME_TEXT,
    )


def test_mkdir_creates_bucket_and_accepts_an_existing_one(
    rclone: Rclone, s3: Any, new_bucket_name: str
) -> None:
    rclone("mkdir", f"{REMOTE}:{new_bucket_name}")
    s3.head_bucket(Bucket=new_bucket_name)
    # Again: CreateBucket answers BucketAlreadyOwnedByYou, which rclone must take as success.
    rclone("mkdir", f"{REMOTE}:{new_bucket_name}")
    listed = rclone("lsd", f"{REMOTE}:").stdout.decode()
    assert new_bucket_name in listed.split(), listed


def test_copy_check_md5sum_lsl_and_sync_of_a_tree(
    rclone: Rclone, s3: Any, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    files = make_tree(source)
    remote = f"{REMOTE}:{bucket}/tree"

    rclone("copy", *MULTIPART_FLAGS, str(source), remote)

    # Every byte arrived: read them back through boto3, not through rclone.
    for relative, data in files.items():
        body = s3.get_object(Bucket=bucket, Key=f"tree/{relative}")["Body"].read()
        assert md5_hex(body) == md5_hex(data), relative
    big = s3.head_object(Bucket=bucket, Key="tree/big.bin")
    parts = -(-BIG_FILE_BYTES // (CHUNK_MIB * 1024 * 1024))
    assert big["ETag"].endswith(f'-{parts}"'), big["ETag"]  # it really was a multipart upload
    assert big["Metadata"].get("md5chksum"), big["Metadata"]  # rclone's md5 for multipart
    assert "mtime" in big["Metadata"], big["Metadata"]

    checked = rclone("check", str(source), remote)
    assert b"0 differences found" in checked.stderr, checked.stderr

    sums = parse_md5sum(rclone("md5sum", remote).stdout)
    assert sums == {relative: md5_hex(data) for relative, data in files.items()}

    listing = parse_lsl(rclone("lsl", remote).stdout)
    assert listing == {relative: (len(data), OLD_MTIME_TEXT) for relative, data in files.items()}, (
        listing
    )

    # sync: a changed file, a new one and a removed one.
    (source / "a.txt").write_bytes(b"alpha, changed\n")
    (source / "new.txt").write_bytes(b"new\n")
    (source / "dir one" / "b.bin").unlink()
    files = {**files, "a.txt": b"alpha, changed\n", "new.txt": b"new\n"}
    del files["dir one/b.bin"]
    rclone("sync", *MULTIPART_FLAGS, str(source), remote)
    checked = rclone("check", str(source), remote)
    assert b"0 differences found" in checked.stderr, checked.stderr
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]}
    assert keys == {f"tree/{relative}" for relative in files}
    assert s3.get_object(Bucket=bucket, Key="tree/a.txt")["Body"].read() == b"alpha, changed\n"


def test_touch_of_an_existing_object_replaces_its_mtime_only(
    rclone: Rclone, s3: Any, bucket: str
) -> None:
    data = os.urandom(3000)
    s3.put_object(
        Bucket=bucket,
        Key="t.bin",
        Body=data,
        ContentType="application/x-test",
        Metadata={"mtime": "1000000000.5"},
    )
    # rclone changes an object's mtime with CopyObject onto itself, metadata directive REPLACE.
    rclone("touch", "--timestamp", "2020-01-02T03:04:05", f"{REMOTE}:{bucket}/t.bin")

    listing = parse_lsl(rclone("lsl", f"{REMOTE}:{bucket}").stdout)
    assert listing == {"t.bin": (3000, "2020-01-02 03:04:05.000000000")}, listing
    answer = s3.get_object(Bucket=bucket, Key="t.bin")
    assert answer["Body"].read() == data
    assert float(answer["Metadata"]["mtime"]) == 1577934245.0, answer["Metadata"]
    assert answer["ContentType"] == "application/x-test"
    assert answer["ETag"] == f'"{md5_hex(data)}"'


def test_moveto_cat_delete_purge_and_rmdir(
    rclone: Rclone, s3: Any, new_bucket_name: str, tmp_path: Path
) -> None:
    bucket = new_bucket_name
    rclone("mkdir", f"{REMOTE}:{bucket}")
    data = os.urandom(100_000)
    local = tmp_path / "m.bin"
    local.write_bytes(data)
    rclone("copyto", str(local), f"{REMOTE}:{bucket}/from/m.bin")

    rclone("moveto", f"{REMOTE}:{bucket}/from/m.bin", f"{REMOTE}:{bucket}/to/m.bin")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="from/m.bin")
    assert s3.get_object(Bucket=bucket, Key="to/m.bin")["Body"].read() == data

    part = rclone("cat", "--offset", "1234", "--count", "5000", f"{REMOTE}:{bucket}/to/m.bin")
    assert part.stdout == data[1234 : 1234 + 5000]
    whole = rclone("cat", f"{REMOTE}:{bucket}/to/m.bin")
    assert whole.stdout == data

    for name in ("keep.txt", "gone/1.txt", "gone/2.txt"):
        s3.put_object(Bucket=bucket, Key=name, Body=name.encode())
    rclone("delete", f"{REMOTE}:{bucket}/gone")
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {"keep.txt", "to/m.bin"}

    # rmdir refuses a bucket that still holds objects, and succeeds once it is empty.
    assert rclone("rmdir", f"{REMOTE}:{bucket}", check=False).returncode != 0
    s3.head_bucket(Bucket=bucket)
    rclone("purge", f"{REMOTE}:{bucket}/to")
    assert {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]} == {"keep.txt"}
    rclone("delete", f"{REMOTE}:{bucket}")
    rclone("rmdir", f"{REMOTE}:{bucket}")
    with pytest.raises(ClientError) as missing:
        s3.head_bucket(Bucket=bucket)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # purge of a whole bucket with contents removes the bucket too.
    rclone("mkdir", f"{REMOTE}:{bucket}")
    s3.put_object(Bucket=bucket, Key="x/y", Body=b"z")
    rclone("purge", f"{REMOTE}:{bucket}")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)


def test_s3_versions_and_version_at_on_a_versioned_bucket(
    rclone: Rclone, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """rclone's --s3-versions lists old versions beside the current one, and --s3-version-at
    reads the bucket as it was at a time between two writes."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    source = tmp_path / "doc.txt"
    source.write_bytes(b"first")
    rclone("copyto", str(source), f"{REMOTE}:{bucket}/doc.txt")
    time.sleep(1.5)
    between = datetime.now(UTC)
    time.sleep(1.5)
    source.write_bytes(b"second, longer")
    rclone("copyto", str(source), f"{REMOTE}:{bucket}/doc.txt")
    names = rclone("lsf", "--s3-versions", f"{REMOTE}:{bucket}").stdout.decode().split()
    assert "doc.txt" in names and len(names) == 2, names
    old = next(name for name in names if name != "doc.txt")
    assert re.fullmatch(r"doc-v\d{4}-\d\d-\d\d-\d{6}-\d{3}\.txt", old), old
    assert rclone("cat", "--s3-versions", f"{REMOTE}:{bucket}/{old}").stdout == b"first"
    at = between.strftime("%Y-%m-%dT%H:%M:%SZ")
    past = rclone("cat", "--s3-version-at", at, f"{REMOTE}:{bucket}/doc.txt").stdout
    assert past == b"first"
    assert rclone("cat", f"{REMOTE}:{bucket}/doc.txt").stdout == b"second, longer"
