"""s3cmd against the gateway, path style and virtual-host style (`BUCKET.localhost:PORT`), with
SigV4. What s3cmd stores is checked through boto3 (bytes, or MD5 ETags for the sync tree, which
s3cmd itself then downloads and the test compares byte for byte).

Virtual-host style needs `BUCKET.localhost` to reach loopback, which plain glibc resolvers do
not do: s3cmd then runs through s3cmd_loopback.py, which resolves `*.localhost` to 127.0.0.1
inside the s3cmd process and logs each such name; every s3cmd call that names a bucket must
have connected to `BUCKET.localhost` (the gateway's --domain defaults to localhost)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

S3CMD = shutil.which("s3cmd")
LOOPBACK_WRAPPER = Path(__file__).with_name("s3cmd_loopback.py")
MULTIPART_FILE_BYTES = 12 * 1024 * 1024
MULTIPART_CHUNK_MIB = 5
MULTIPART_THRESHOLD_BYTES = 15 * 1024 * 1024  # s3cmd's default --multipart-chunk-size-mb
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"

pytestmark = pytest.mark.skipif(S3CMD is None, reason="s3cmd is not installed")

S3cmd = Callable[..., subprocess.CompletedProcess[bytes]]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def etags_of(s3: Any, bucket: str) -> dict[str, str]:
    """{key: ETag} of every object in the bucket."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def anonymous_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def script_interpreter(script: str) -> str:
    """The interpreter named by a script's `#!` line (`#!/usr/bin/env python3` too)."""
    with open(script, "rb") as stream:
        first_line = stream.readline().decode()
    words = first_line.removeprefix("#!").split()
    if not first_line.startswith("#!") or not words:
        return sys.executable
    if Path(words[0]).name == "env" and len(words) > 1:
        return shutil.which(words[1]) or words[1]
    return words[0]


def make_s3cmd(
    cluster: Any,
    tool_env: Callable[..., dict[str, str]],
    run: S3cmd,
    config_dir: Path,
    virtual_host: bool,
) -> S3cmd:
    """`s3cmd(*arguments, check=True)` with a config for the cluster. With `virtual_host`,
    s3cmd runs through s3cmd_loopback.py and each call that names a bucket must have
    connected to `BUCKET.localhost`."""
    host, port = cluster.host_port
    config = config_dir / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {cluster.access_key}\n"
        f"secret_key = {cluster.secret_key}\n"
        f"host_base = {host}:{port}\n"
        f"host_bucket = {f'%(bucket)s.localhost:{port}' if virtual_host else f'{host}:{port}'}\n"
        "bucket_location = us-east-1\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "progress_meter = False\n"
    )
    environment = tool_env()
    resolved_log = config_dir / "resolved-names.txt"
    resolved_log.touch()

    def call(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        assert S3CMD is not None
        if not virtual_host:
            return run([S3CMD, "-c", str(config), *arguments], environment, check=check)
        before = resolved_log.read_text().split()
        program = [script_interpreter(S3CMD), str(LOOPBACK_WRAPPER), str(resolved_log), S3CMD]
        completed = run([*program, "-c", str(config), *arguments], environment, check=check)
        new_names = resolved_log.read_text().split()[len(before) :]
        buckets = {arg[5:].partition("/")[0] for arg in arguments if arg.startswith("s3://")}
        if buckets:  # (`la` visits every bucket of the account, named or not)
            # s3cmd reached each bucket named, and only those, at BUCKET.localhost.
            assert {name.removesuffix(".localhost") for name in new_names} == buckets, (
                arguments,
                new_names,
            )
        return completed

    return call


class S3cmdSuite:
    """The same s3cmd session in each addressing style; subclasses choose `virtual_host`."""

    virtual_host: bool

    @pytest.fixture
    def s3cmd(
        self,
        cluster: Any,
        tool_env: Callable[..., dict[str, str]],
        run: Any,
        tmp_path: Path,
    ) -> S3cmd:
        return make_s3cmd(cluster, tool_env, run, tmp_path, self.virtual_host)

    def test_mb_put_get_ls_la_info_del_rb(
        self, s3cmd: S3cmd, s3: Any, new_bucket_name: str, tmp_path: Path
    ) -> None:
        bucket = new_bucket_name
        s3cmd("mb", f"s3://{bucket}")
        s3.head_bucket(Bucket=bucket)

        small, large = os.urandom(2345), os.urandom(MULTIPART_FILE_BYTES)
        (tmp_path / "small.bin").write_bytes(small)
        (tmp_path / "large.bin").write_bytes(large)
        s3cmd("put", str(tmp_path / "small.bin"), f"s3://{bucket}/small.bin")
        s3cmd(
            "put",
            f"--multipart-chunk-size-mb={MULTIPART_CHUNK_MIB}",
            str(tmp_path / "large.bin"),
            f"s3://{bucket}/dir/large.bin",
        )
        assert s3.head_object(Bucket=bucket, Key="small.bin")["ETag"] == f'"{md5_hex(small)}"'
        large_head = s3.head_object(Bucket=bucket, Key="dir/large.bin")
        assert large_head["ETag"].endswith('-3"'), large_head["ETag"]  # 5 + 5 + 2 MiB
        assert s3.get_object(Bucket=bucket, Key="dir/large.bin")["Body"].read() == large

        s3cmd("get", f"s3://{bucket}/small.bin", str(tmp_path / "small.back"))
        s3cmd("get", f"s3://{bucket}/dir/large.bin", str(tmp_path / "large.back"))
        assert (tmp_path / "small.back").read_bytes() == small
        assert (tmp_path / "large.back").read_bytes() == large

        listing = s3cmd("ls", f"s3://{bucket}").stdout.decode()
        assert re.search(rf"\s{len(small)}\s+s3://{bucket}/small\.bin$", listing, re.M), listing
        assert re.search(rf"DIR\s+s3://{bucket}/dir/$", listing, re.M), listing
        recursive = s3cmd("ls", "--recursive", f"s3://{bucket}").stdout.decode()
        assert re.search(rf"\s{len(large)}\s+s3://{bucket}/dir/large\.bin$", recursive, re.M)
        everything = s3cmd("la").stdout.decode()
        assert f"s3://{bucket}/small.bin" in everything, everything

        info = s3cmd("info", f"s3://{bucket}/small.bin").stdout.decode()
        assert re.search(rf"File size:\s+{len(small)}$", info, re.M), info
        assert re.search(rf"MD5 sum:\s+{md5_hex(small)}$", info, re.M), info
        bucket_info = s3cmd("info", f"s3://{bucket}").stdout.decode()
        assert re.search(r"Location:\s+us-east-1$", bucket_info, re.M), bucket_info

        s3cmd("del", f"s3://{bucket}/small.bin", f"s3://{bucket}/dir/large.bin")
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
        s3cmd("rb", f"s3://{bucket}")
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)

    def test_put_with_server_side_encryption(
        self, s3cmd: S3cmd, s3: Any, bucket: str, tmp_path: Path
    ) -> None:
        """s3cmd's `--server-side-encryption` (SSE-S3; s3cmd has no SSE-C), single and
        multipart; `get` and `info` read the objects back."""
        small, large = os.urandom(3000), os.urandom(MULTIPART_FILE_BYTES)
        (tmp_path / "small.bin").write_bytes(small)
        (tmp_path / "large.bin").write_bytes(large)
        s3cmd("put", "--server-side-encryption", str(tmp_path / "small.bin"), f"s3://{bucket}/s")
        s3cmd(
            "put",
            "--server-side-encryption",
            f"--multipart-chunk-size-mb={MULTIPART_CHUNK_MIB}",
            str(tmp_path / "large.bin"),
            f"s3://{bucket}/l",
        )
        for key, data in (("s", small), ("l", large)):
            assert s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
            s3cmd("get", f"s3://{bucket}/{key}", str(tmp_path / f"{key}.back"))
            assert (tmp_path / f"{key}.back").read_bytes() == data
        info = s3cmd("info", f"s3://{bucket}/s").stdout.decode()
        assert re.search(rf"MD5 sum:\s+{md5_hex(small)}$", info, re.M), info

    def test_sync_up_and_down_of_a_200_file_tree(
        self,
        s3cmd: S3cmd,
        s3: Any,
        bucket: str,
        tmp_path: Path,
        client_tree: Callable[[Path], dict[str, bytes]],
        tree_reader: Callable[[Path], dict[str, bytes]],
    ) -> None:
        """200 small files and two 40 MiB files (multipart: 15 MiB chunks), awkward names
        included: up, again (nothing to do), with --delete-removed, and down, byte for byte."""
        up = tmp_path / "up"
        files = client_tree(up)
        uploaded = s3cmd("sync", f"{up}/", f"s3://{bucket}/tree/")
        # s3cmd uploads a file whose bytes equal another's once and sends the rest as remote
        # copies (tiny random files sometimes collide), so both count.
        output = uploaded.stdout.decode()
        sent = output.count("upload:") + output.count("remote copy:")
        assert sent == len(files), uploaded.stdout[-2000:]
        # What the gateway stored: every key, and the MD5 of the bytes it received.
        etags = {key.removeprefix("tree/"): etag for key, etag in etags_of(s3, bucket).items()}
        assert set(etags) == set(files)
        for relative, data in files.items():
            if len(data) < MULTIPART_THRESHOLD_BYTES:
                assert etags[relative] == f'"{md5_hex(data)}"', relative
            else:  # 15 + 15 + 10 MiB
                assert etags[relative].endswith('-3"'), (relative, etags[relative])

        # A second sync uploads nothing; one with --delete-removed mirrors a deletion.
        again = s3cmd("sync", f"{up}/", f"s3://{bucket}/tree/").stdout.decode()
        assert "upload:" not in again and "remote copy:" not in again, again
        removed = "plus+sign.txt"
        (up / removed).unlink()
        del files[removed]
        s3cmd("sync", "--delete-removed", f"{up}/", f"s3://{bucket}/tree/")
        assert set(etags_of(s3, bucket)) == {f"tree/{relative}" for relative in files}

        # Down into an empty folder: the bytes read back equal the bytes sent.
        down = tmp_path / "down"
        down.mkdir()
        downloaded = s3cmd("sync", f"s3://{bucket}/tree/", f"{down}/")
        # A file whose non-empty bytes equal another's is copied locally, silently.
        repeats = sum(1 for d in files.values() if d) - len({d for d in files.values() if d})
        count = downloaded.stdout.decode().count("download:")
        assert len(files) - repeats <= count <= len(files)
        assert tree_reader(down) == files
        # Down again: everything is there already.
        assert "download:" not in s3cmd("sync", f"s3://{bucket}/tree/", f"{down}/").stdout.decode()

    def test_cp_and_mv(self, s3cmd: S3cmd, s3: Any, bucket: str) -> None:
        data = os.urandom(10_000)
        s3.put_object(
            Bucket=bucket, Key="src.bin", Body=data, Metadata={"color": "blue"}, ACL="public-read"
        )
        # s3cmd reads the source's ACL and writes it onto the copy (GET/PUT ?acl).
        s3cmd("cp", f"s3://{bucket}/src.bin", f"s3://{bucket}/copy.bin")
        copied = s3.get_object(Bucket=bucket, Key="copy.bin")
        assert copied["Body"].read() == data
        assert copied["Metadata"].get("color") == "blue", copied["Metadata"]
        grants = s3.get_object_acl(Bucket=bucket, Key="copy.bin")["Grants"]
        assert any(grant["Grantee"].get("URI") == ALL_USERS for grant in grants), grants

        s3cmd("mv", f"s3://{bucket}/copy.bin", f"s3://{bucket}/moved/copy.bin")
        assert s3.get_object(Bucket=bucket, Key="moved/copy.bin")["Body"].read() == data
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="copy.bin")
        assert s3.get_object(Bucket=bucket, Key="src.bin")["Body"].read() == data

    def test_setacl_public_and_private(self, s3cmd: S3cmd, s3: Any, bucket: str) -> None:
        s3.put_object(Bucket=bucket, Key="open.txt", Body=b"for everyone\n")
        # s3cmd reads the ACL (GET ?acl), adds or removes the AllUsers grant, writes it back.
        s3cmd("setacl", "--acl-public", f"s3://{bucket}/open.txt")
        grants = s3.get_object_acl(Bucket=bucket, Key="open.txt")["Grants"]
        assert {"Grantee": {"URI": ALL_USERS, "Type": "Group"}, "Permission": "READ"} in grants
        owner_grants = [g for g in grants if g["Grantee"].get("Type") == "CanonicalUser"]
        assert [g["Permission"] for g in owner_grants] == ["FULL_CONTROL"], grants

        s3cmd("setacl", "--acl-private", f"s3://{bucket}/open.txt")
        grants = s3.get_object_acl(Bucket=bucket, Key="open.txt")["Grants"]
        assert all(grant["Grantee"].get("URI") != ALL_USERS for grant in grants), grants

    def test_setcors_info_delcors(self, s3cmd: S3cmd, s3: Any, bucket: str, tmp_path: Path) -> None:
        """s3cmd setcors FILE (PutBucketCors), info (shows the CORS rules), delcors."""
        rules = tmp_path / "cors.xml"
        rules.write_text(
            "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>"
            "<AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>"
            "</CORSConfiguration>"
        )
        s3cmd("setcors", str(rules), f"s3://{bucket}")
        [rule] = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        assert (rule["AllowedOrigins"], rule["AllowedMethods"]) == (
            ["https://app.example"],
            ["GET"],
        )
        info = s3cmd("info", f"s3://{bucket}").stdout.decode()
        assert "https://app.example" in info, info
        s3cmd("delcors", f"s3://{bucket}")
        with pytest.raises(ClientError):
            s3.get_bucket_cors(Bucket=bucket)

    def test_setpolicy_info_delpolicy(
        self, s3cmd: S3cmd, s3: Any, cluster: Any, bucket: str, tmp_path: Path
    ) -> None:
        """s3cmd setpolicy FILE (PutBucketPolicy) makes a prefix public, info shows the
        policy, delpolicy removes it and the objects are private again."""
        s3.put_object(Bucket=bucket, Key="pub/page.html", Body=b"<p>hi</p>")
        url = f"{cluster.endpoint}/{bucket}/pub/page.html"
        assert anonymous_get(url)[0] == 403
        policy = tmp_path / "policy.json"
        policy.write_text(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
            f'"Action": "s3:GetObject", "Resource": "arn:aws:s3:::{bucket}/pub/*"}}]}}'
        )
        s3cmd("setpolicy", str(policy), f"s3://{bucket}")
        assert anonymous_get(url) == (200, b"<p>hi</p>")
        info = s3cmd("info", f"s3://{bucket}").stdout.decode()
        assert "s3:GetObject" in info, info
        s3cmd("delpolicy", f"s3://{bucket}")
        assert anonymous_get(url)[0] == 403

    def test_acl_public_object_is_readable_anonymously(
        self, s3cmd: S3cmd, s3: Any, cluster: Any, bucket: str
    ) -> None:
        data = b"for everyone\n"
        s3.put_object(Bucket=bucket, Key="open.txt", Body=data)
        url = f"{cluster.endpoint}/{bucket}/open.txt"
        assert anonymous_get(url)[0] == 403
        s3cmd("setacl", "--acl-public", f"s3://{bucket}/open.txt")
        assert anonymous_get(url) == (200, data)
        s3cmd("setacl", "--acl-private", f"s3://{bucket}/open.txt")
        assert anonymous_get(url)[0] == 403

    def test_modify_add_header(self, s3cmd: S3cmd, s3: Any, bucket: str) -> None:
        data = os.urandom(4096)
        s3.put_object(Bucket=bucket, Key="m.bin", Body=data, ContentType="text/plain")
        s3cmd(
            "modify",
            "--add-header=Cache-Control:max-age=60",
            "--add-header=x-amz-meta-color:green",
            f"s3://{bucket}/m.bin",
        )
        answer = s3.get_object(Bucket=bucket, Key="m.bin")
        assert answer["Body"].read() == data
        assert answer["CacheControl"] == "max-age=60"
        assert answer["Metadata"].get("color") == "green", answer["Metadata"]
        assert answer["ETag"] == f'"{md5_hex(data)}"'


class TestPathStyle(S3cmdSuite):
    virtual_host = False


class TestVirtualHostStyle(S3cmdSuite):
    virtual_host = True
