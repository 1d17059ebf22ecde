"""The aws CLI against the gateway: `aws s3` tree commands, a 100 MiB multipart round trip,
`aws s3api` with metadata, ranges, copies, pagination and bucket CORS, and presigned URLs
fetched by curl.

Runs with aws CLI v1 (the project's venv) and, when installed, v2 (Debian's `awscli` package,
/usr/bin/aws). Credentials come from the environment; AWS_CONFIG_FILE=/dev/null.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

AWS_V1 = Path(sys.executable).with_name("aws")
AWS_V2 = Path("/usr/bin/aws")
CURL = shutil.which("curl")
MIB = 1024 * 1024
BIG_FILE_BYTES = 100 * MIB
CLI_PART_BYTES = 8 * MIB  # the CLI's default multipart_chunksize


class AwsCli:
    """Runs one aws CLI program against the cluster: `aws(*arguments, check=True)`."""

    def __init__(
        self,
        program: Path,
        major: int,
        endpoint: str,
        environment: dict[str, str],
        run: Callable[..., subprocess.CompletedProcess[bytes]],
    ) -> None:
        self.program, self.major = program, major
        self.endpoint, self.environment, self.run = endpoint, environment, run

    def __call__(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = [str(self.program), "--endpoint-url", self.endpoint, *arguments]
        return self.run(command, self.environment, check=check, timeout=300)


def cli_major_version(program: Path) -> int | None:
    """1 or 2 from `aws --version` ('aws-cli/2.9.19 Python/...'), None if it does not run."""
    if not program.is_file():
        return None
    try:
        completed = subprocess.run(
            [str(program), "--version"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rb"aws-cli/(\d+)\.", completed.stdout + completed.stderr)
    return int(match.group(1)) if match else None


V2_MISSING = pytest.mark.skipif(
    cli_major_version(AWS_V2) != 2,
    reason="aws CLI v2 is not installed at /usr/bin/aws (Debian package `awscli`)",
)
# The smoke set runs with both CLIs; the rest with v1 only (each CLI call costs a second).
BOTH_CLIS = pytest.mark.parametrize(
    "cli", [pytest.param(AWS_V1, id="v1"), pytest.param(AWS_V2, id="v2", marks=V2_MISSING)]
)
V1_ONLY = pytest.mark.parametrize("cli", [pytest.param(AWS_V1, id="v1")])


@pytest.fixture
def aws(cli: Path, cluster: Any, tool_env: Callable[..., dict[str, str]], run: Any) -> AwsCli:
    major = cli_major_version(cli)
    assert major is not None, f"{cli} does not run"
    environment = tool_env(
        {
            "AWS_ACCESS_KEY_ID": cluster.access_key,
            "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_PAGER": "",
        }
    )
    return AwsCli(cli, major, cluster.endpoint, environment, run)


def api(aws: AwsCli, *arguments: str) -> Any:
    """`aws s3api ...` with JSON output, parsed."""
    output = aws("s3api", *arguments, "--output", "json").stdout
    return json.loads(output) if output.strip() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def local_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": os.urandom(50_000),
        "sub/deep/c d.txt": b"space in the name\n",
        "sub/e+f.txt": b"plus in the name\n",
        "unicodé/日本語 ☺.txt": b"UTF-8 in the name\n",
        "percent%20not-a-space%.txt": b"percent signs in the name\n",
        "mix & = , ; (1) 'q' @ ~.bin": os.urandom(7),
        "empty": b"",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def keys_of(s3: Any, bucket: str, prefix: str = "") -> set[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


@BOTH_CLIS
def test_s3_cp_sync_mv_rm_ls_recursive(
    aws: AwsCli,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    tree_reader: Callable[[Path], dict[str, bytes]],
) -> None:
    files = local_tree(tmp_path / "up")
    aws("s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/p/")
    for relative, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"p/{relative}")["Body"].read() == data

    # `ls --recursive` lines: 'YYYY-MM-DD HH:MM:SS <size> <key>'.
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout.decode()
    listed = {}
    for line in listing.splitlines():
        match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +(\d+) (.+)", line)
        assert match is not None, f"unexpected ls line {line!r}"
        listed[match.group(2)] = int(match.group(1))
    assert listed == {f"p/{relative}": len(data) for relative, data in files.items()}

    assert (
        "upload:"
        not in aws("s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/p/").stdout.decode()
    )

    aws("s3", "cp", "--recursive", f"s3://{bucket}/p/", str(tmp_path / "down"))
    assert tree_reader(tmp_path / "down") == files

    # The round trip: sync down into an empty folder, then again (nothing to download).
    synced = aws("s3", "sync", f"s3://{bucket}/p/", str(tmp_path / "synced")).stdout.decode()
    assert synced.count("download:") == len(files), synced
    assert tree_reader(tmp_path / "synced") == files
    again = aws("s3", "sync", f"s3://{bucket}/p/", str(tmp_path / "synced")).stdout.decode()
    assert "download:" not in again, again

    aws("s3", "mv", f"s3://{bucket}/p/a.txt", f"s3://{bucket}/q/a.txt")
    assert s3.get_object(Bucket=bucket, Key="q/a.txt")["Body"].read() == files["a.txt"]
    assert "p/a.txt" not in keys_of(s3, bucket)

    (tmp_path / "up" / "sub" / "b.bin").unlink()
    aws("s3", "sync", "--delete", str(tmp_path / "up"), f"s3://{bucket}/p/")
    assert "p/sub/b.bin" not in keys_of(s3, bucket)
    assert "p/a.txt" in keys_of(s3, bucket)  # sync put the local a.txt back

    aws("s3", "rm", "--recursive", f"s3://{bucket}/p/")
    assert keys_of(s3, bucket) == {"q/a.txt"}
    assert aws("s3", "ls", f"s3://{bucket}/p/", check=False).stdout.strip() == b""


@BOTH_CLIS
def test_multipart_100_mib_round_trip(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with open(source, "wb") as stream:
        for _ in range(BIG_FILE_BYTES // MIB):
            stream.write(os.urandom(MIB))
    aws("s3", "cp", str(source), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == BIG_FILE_BYTES
    parts = -(-BIG_FILE_BYTES // CLI_PART_BYTES)
    assert head["ETag"].endswith(f'-{parts}"'), head["ETag"]

    back = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert back.stat().st_size == BIG_FILE_BYTES
    assert sha256_of(back) == sha256_of(source)


def sent_header_names(debug_output: str, method: str, query: str) -> set[str]:
    """The lower-case header names of the request `--debug` shows as sent with `method` to a
    URL ending in `query` (botocore logs 'Sending http request: <AWSPreparedRequest ...>')."""
    pattern = rf"method={method}, url=\S+\?{re.escape(query)}, headers=\{{(.*?)\}}>"
    match = re.search(pattern, debug_output)
    assert match is not None, debug_output[-3000:]
    return {name.lower() for name in re.findall(r"'([^']+)': b'", match.group(1))}


@BOTH_CLIS
def test_s3api_delete_objects_checksums(aws: AwsCli, s3: Any, bucket: str) -> None:
    """DeleteObjects as the CLI sends it. botocore >= 1.36 (CLI v1 here) sends a CRC32 header and
    no Content-MD5 by default; older ones (Debian's CLI v2) send Content-MD5 unless asked for
    another checksum. Either way the gateway must accept it and delete."""
    for checksum in ("default", "CRC32"):
        keys = [f"{checksum}/one", f"{checksum}/two words+plus", f"{checksum}/ünï%20code"]
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        s3.put_object(Bucket=bucket, Key=f"{checksum}/kept", Body=b"kept")
        requested = [*keys, f"{checksum}/never-existed"]
        request = {"Objects": [{"Key": key} for key in requested]}
        options = [] if checksum == "default" else ["--checksum-algorithm", checksum]
        completed = aws(
            "s3api", "delete-objects", "--bucket", bucket, "--delete", json.dumps(request),
            *options, "--output", "json", "--debug",
        )  # fmt: skip
        answer = json.loads(completed.stdout)
        assert "Errors" not in answer, answer
        # S3 reports a key that did not exist as deleted too.
        assert sorted(item["Key"] for item in answer["Deleted"]) == sorted(requested)
        assert keys_of(s3, bucket, f"{checksum}/") == {f"{checksum}/kept"}

        headers = sent_header_names(completed.stderr.decode(errors="replace"), "POST", "delete")
        if checksum != "default" or aws.major == 1:
            assert "content-md5" not in headers, (checksum, headers)
            assert "x-amz-checksum-crc32" in headers, (checksum, headers)
        else:
            assert "content-md5" in headers or "x-amz-checksum-crc32" in headers, headers


@BOTH_CLIS
def test_s3api_bucket_cors(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    """put-bucket-cors from a file (the CLI sends its checksum or Content-MD5), get-bucket-cors
    gives it back, delete-bucket-cors removes it and get-bucket-cors then fails as on S3."""
    rules = {
        "CORSRules": [
            {
                "ID": "browser-uploads",
                "AllowedOrigins": ["https://*.example.com"],
                "AllowedMethods": ["PUT", "POST"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 600,
            },
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
        ]
    }
    (tmp_path / "cors.json").write_text(json.dumps(rules))
    config = f"file://{tmp_path / 'cors.json'}"
    api(aws, "put-bucket-cors", "--bucket", bucket, "--cors-configuration", config)
    assert api(aws, "get-bucket-cors", "--bucket", bucket) == rules
    api(aws, "delete-bucket-cors", "--bucket", bucket)
    missing = aws("s3api", "get-bucket-cors", "--bucket", bucket, check=False)
    assert missing.returncode != 0
    assert b"NoSuchCORSConfiguration" in missing.stderr


@V1_ONLY
def test_s3api_metadata_and_copy_object(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(10_000)
    (tmp_path / "body").write_bytes(data)
    put = api(
        aws, "put-object", "--bucket", bucket, "--key", "m/obj", "--body", str(tmp_path / "body"),
        "--content-type", "application/x-thing", "--cache-control", "max-age=5",
        "--metadata", "color=blue,size=large",
    )  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'

    head = api(aws, "head-object", "--bucket", bucket, "--key", "m/obj")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "application/x-thing"
    assert head["CacheControl"] == "max-age=5"
    assert head["Metadata"] == {"color": "blue", "size": "large"}

    source = f"{bucket}/m/obj"
    api(aws, "copy-object", "--bucket", bucket, "--key", "m/copy", "--copy-source", source)
    copied = api(aws, "head-object", "--bucket", bucket, "--key", "m/copy")
    assert copied["Metadata"] == {"color": "blue", "size": "large"}
    assert copied["ContentType"] == "application/x-thing"
    assert copied["ETag"] == put["ETag"]

    api(
        aws, "copy-object", "--bucket", bucket, "--key", "m/replaced", "--copy-source", source,
        "--metadata-directive", "REPLACE", "--metadata", "color=red",
        "--content-type", "text/plain",
    )  # fmt: skip
    replaced = api(aws, "head-object", "--bucket", bucket, "--key", "m/replaced")
    assert replaced["Metadata"] == {"color": "red"}
    assert replaced["ContentType"] == "text/plain"
    api(aws, "get-object", "--bucket", bucket, "--key", "m/replaced", str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == data


@BOTH_CLIS
def test_s3api_get_object_range(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    # The CLI v1 here carries a current botocore, which asks for checksums
    # (x-amz-checksum-mode: ENABLED) and checks any it gets against the body: a 206 answer must
    # not carry the whole object's checksum.
    data = os.urandom(10_000)
    s3.put_object(Bucket=bucket, Key="r/obj", Body=data)
    ranged = api(
        aws, "get-object", "--bucket", bucket, "--key", "r/obj", "--range", "bytes=100-199",
        str(tmp_path / "range"),
    )  # fmt: skip
    assert (tmp_path / "range").read_bytes() == data[100:200]
    assert ranged["ContentRange"] == f"bytes 100-199/{len(data)}"
    assert ranged["ContentLength"] == 100
    api(
        aws, "get-object", "--bucket", bucket, "--key", "r/obj", "--range", "bytes=-10",
        str(tmp_path / "suffix"),
    )  # fmt: skip
    assert (tmp_path / "suffix").read_bytes() == data[-10:]


@pytest.fixture
def thirty_keys(s3: Any, bucket: str) -> Iterator[list[str]]:
    keys = sorted(f"page/{number:03d}{'+x y' if number % 7 == 0 else ''}" for number in range(30))
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    yield keys


@V1_ONLY
def test_list_objects_v2_pagination(aws: AwsCli, bucket: str, thirty_keys: list[str]) -> None:
    # The CLI follows continuation tokens itself: pages of 7 keys, all 30 in the answer.
    everything = api(aws, "list-objects-v2", "--bucket", bucket, "--page-size", "7")
    assert [item["Key"] for item in everything["Contents"]] == thirty_keys

    first = api(aws, "list-objects-v2", "--bucket", bucket, "--max-items", "12", "--page-size", "5")
    assert [item["Key"] for item in first["Contents"]] == thirty_keys[:12]
    rest = api(
        aws, "list-objects-v2", "--bucket", bucket, "--page-size", "5",
        "--starting-token", first["NextToken"],
    )  # fmt: skip
    assert [item["Key"] for item in rest["Contents"]] == thirty_keys[12:]

    page = api(aws, "list-objects-v2", "--bucket", bucket, "--no-paginate", "--max-keys", "4")
    assert page["IsTruncated"] is True and page["KeyCount"] == 4
    following = api(
        aws, "list-objects-v2", "--bucket", bucket, "--no-paginate", "--max-keys", "4",
        "--continuation-token", page["NextContinuationToken"],
    )  # fmt: skip
    assert [item["Key"] for item in following["Contents"]] == thirty_keys[4:8]


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@BOTH_CLIS
def test_presigned_url_fetched_with_curl(
    aws: AwsCli, s3: Any, bucket: str, tool_env: Callable[..., dict[str, str]], run: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    data = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="shared/file name.bin", Body=data)
    url = aws("s3", "presign", f"s3://{bucket}/shared/file name.bin", "--expires-in", "300")
    url_text = url.stdout.decode().strip()
    assert CURL is not None
    fetched = run(
        [CURL, "-sS", "-o", str(tmp_path / "out"), "-w", "%{http_code}", url_text], tool_env()
    )
    assert fetched.stdout == b"200"
    assert (tmp_path / "out").read_bytes() == data

    # The same URL with one signature digit changed must be refused.
    match = re.search(r"(?:X-Amz-Signature|Signature)=([0-9A-Za-z%+/]+)", url_text)
    assert match is not None, url_text
    digit = match.group(1)[0]
    tampered = (
        url_text[: match.start(1)] + ("1" if digit == "0" else "0") + url_text[match.start(1) + 1 :]
    )
    refused = run([CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", tampered], tool_env())
    assert refused.stdout == b"403"


@BOTH_CLIS
def test_s3api_object_lock_round_trip(aws: AwsCli, s3: Any, tmp_path: Path) -> None:
    """create-bucket --object-lock-enabled-for-bucket, put-object-retention (GOVERNANCE),
    get-object-retention, put/get-object-legal-hold; a delete of the locked version refused,
    then done with --bypass-governance-retention once the hold is off."""
    bucket = f"lock-{os.urandom(6).hex()}"
    api(aws, "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
    (tmp_path / "body").write_bytes(b"kept")
    put = api(aws, "put-object", "--bucket", bucket, "--key", "doc",
              "--body", str(tmp_path / "body"))  # fmt: skip
    version = put["VersionId"]
    until = "2099-01-01T00:00:00Z"
    api(aws, "put-object-retention", "--bucket", bucket, "--key", "doc",
        "--retention", f"Mode=GOVERNANCE,RetainUntilDate={until}")  # fmt: skip
    retention = api(aws, "get-object-retention", "--bucket", bucket, "--key", "doc")
    assert retention["Retention"]["Mode"] == "GOVERNANCE"
    assert retention["Retention"]["RetainUntilDate"].startswith("2099-01-01")
    api(aws, "put-object-legal-hold", "--bucket", bucket, "--key", "doc",
        "--legal-hold", "Status=ON")  # fmt: skip
    assert api(aws, "get-object-legal-hold", "--bucket", bucket, "--key", "doc") == {
        "LegalHold": {"Status": "ON"}
    }
    refused = aws("s3api", "delete-object", "--bucket", bucket, "--key", "doc",
                  "--version-id", version, check=False)  # fmt: skip
    assert refused.returncode != 0 and b"AccessDenied" in refused.stderr, refused.stderr
    api(aws, "put-object-legal-hold", "--bucket", bucket, "--key", "doc",
        "--legal-hold", "Status=OFF")  # fmt: skip
    api(aws, "delete-object", "--bucket", bucket, "--key", "doc", "--version-id", version,
        "--bypass-governance-retention")  # fmt: skip
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


@BOTH_CLIS
def test_s3api_versioning_round_trip(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    """put-bucket-versioning, versions by put-object, list-object-versions, a delete marker,
    get-object of an old version by --version-id, and delete of the marker restoring the key."""
    api(aws, "put-bucket-versioning", "--bucket", bucket,
        "--versioning-configuration", "Status=Enabled")  # fmt: skip
    assert api(aws, "get-bucket-versioning", "--bucket", bucket)["Status"] == "Enabled"
    ids = []
    for n in range(2):
        (tmp_path / "body").write_bytes(f"version {n}".encode())
        put = api(aws, "put-object", "--bucket", bucket, "--key", "doc",
                  "--body", str(tmp_path / "body"))  # fmt: skip
        ids.append(put["VersionId"])
    marker = api(aws, "delete-object", "--bucket", bucket, "--key", "doc")
    assert marker["DeleteMarker"] is True
    listed = api(aws, "list-object-versions", "--bucket", bucket)
    assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        (marker["VersionId"], True)
    ]
    api(aws, "get-object", "--bucket", bucket, "--key", "doc", "--version-id", ids[0],
        str(tmp_path / "old"))  # fmt: skip
    assert (tmp_path / "old").read_bytes() == b"version 0"
    api(aws, "delete-object", "--bucket", bucket, "--key", "doc",
        "--version-id", marker["VersionId"])  # fmt: skip
    api(aws, "get-object", "--bucket", bucket, "--key", "doc", str(tmp_path / "now"))
    assert (tmp_path / "now").read_bytes() == b"version 1"


@BOTH_CLIS
def test_s3_cp_with_sse_s3_and_sse_c(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    """`s3 cp --sse AES256` and `--sse-c` up and down (20 MiB: multipart and ranged GETs),
    a copy between them, and a download without the key refused."""
    source = tmp_path / "file.bin"
    source.write_bytes(os.urandom(20 * MIB + 5))
    key = "0123456789abcdef0123456789ABCDEF"  # 32 bytes, as the CLI takes it
    aws("s3", "cp", str(source), f"s3://{bucket}/s3.bin", "--sse", "AES256")
    assert s3.head_object(Bucket=bucket, Key="s3.bin")["ServerSideEncryption"] == "AES256"
    sse_c = ["--sse-c", "AES256", "--sse-c-key", key]
    aws("s3", "cp", str(source), f"s3://{bucket}/c.bin", *sse_c)
    refused = aws("s3", "cp", f"s3://{bucket}/c.bin", str(tmp_path / "no.bin"), check=False)
    assert refused.returncode != 0 and not (tmp_path / "no.bin").exists()
    for name, extra in (("s3.bin", []), ("c.bin", sse_c)):
        back = tmp_path / f"back-{name}"
        aws("s3", "cp", f"s3://{bucket}/{name}", str(back), *extra)
        assert sha256_of(back) == sha256_of(source)
    copy_source = ["--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", key]
    aws(
        "s3",
        "cp",
        f"s3://{bucket}/c.bin",
        f"s3://{bucket}/copy.bin",
        *copy_source,
        "--sse",
        "AES256",
    )
    assert s3.head_object(Bucket=bucket, Key="copy.bin")["ServerSideEncryption"] == "AES256"
    aws("s3", "cp", f"s3://{bucket}/copy.bin", str(tmp_path / "copy.bin"))
    assert sha256_of(tmp_path / "copy.bin") == sha256_of(source)


@BOTH_CLIS
def test_s3_cp_with_sse_kms(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    """`s3 cp --sse aws:kms --sse-kms-key-id NAME` (20 MiB: multipart), without a key id (the
    cluster's default key), back down, and an unknown key refused."""
    source = tmp_path / "file.bin"
    source.write_bytes(os.urandom(20 * MIB + 5))
    arn = "arn:aws:kms:us-east-1:000000000000:key/s3compat-default"
    kms = ["--sse", "aws:kms"]
    aws(
        "s3",
        "cp",
        str(source),
        f"s3://{bucket}/k.bin",
        *kms,
        "--sse-kms-key-id",
        "s3compat-default",
    )
    aws("s3", "cp", str(source), f"s3://{bucket}/d.bin", *kms)
    for name in ("k.bin", "d.bin"):
        head = s3.head_object(Bucket=bucket, Key=name)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", arn)
        aws("s3", "cp", f"s3://{bucket}/{name}", str(tmp_path / name))
        assert sha256_of(tmp_path / name) == sha256_of(source)
    refused = aws(
        "s3", "cp", str(source), f"s3://{bucket}/no.bin", *kms, "--sse-kms-key-id", "missing",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and b"KMS.NotFoundException" in refused.stderr


@V1_ONLY
def test_s3api_bucket_encryption(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    missing = aws("s3api", "get-bucket-encryption", "--bucket", bucket, check=False)
    assert b"ServerSideEncryptionConfigurationNotFoundError" in missing.stderr
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    api(
        aws,
        "put-bucket-encryption",
        "--bucket",
        bucket,
        "--server-side-encryption-configuration",
        json.dumps(config),
    )
    got = api(aws, "get-bucket-encryption", "--bucket", bucket)
    rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (tmp_path / "f").write_bytes(b"by default")
    aws("s3", "cp", str(tmp_path / "f"), f"s3://{bucket}/f")
    assert api(aws, "head-object", "--bucket", bucket, "--key", "f")["ServerSideEncryption"] == (
        "AES256"
    )
    api(aws, "delete-bucket-encryption", "--bucket", bucket)
    assert aws("s3api", "get-bucket-encryption", "--bucket", bucket, check=False).returncode != 0
