"""Multipart uploads against a real cluster, driven by boto3 with its default configuration.

The module's own cluster lowers the minimum part size to 1 KiB so that the S3 rules can be
exercised with small parts; the rules themselves are the same.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt_checksums
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from support.clients import client_for, error_code, http_status, make_bucket
from support.data import locate, stored_bytes, used_bytes
from support.processes import Cluster, gateway_pid, private_directory, start_cluster, stop_cluster
from support.signing import raw_request, sign
from support.waiting import wait_for

MIN_PART = 1024


@pytest.fixture(scope="module")
def mp_cluster() -> Iterator[Cluster]:
    with private_directory("s3compat-mp-") as base:
        cluster, process = start_cluster(
            base / "data", base / "logs", ["--min-part-size", str(MIN_PART)]
        )
        try:
            yield cluster
        finally:
            stop_cluster(process)


@pytest.fixture(scope="module")
def mp(mp_cluster: Cluster) -> BaseClient:
    return client_for(mp_cluster)


@pytest.fixture
def mp_bucket(mp: BaseClient) -> Iterator[str]:
    yield from make_bucket(mp)


def _upload(
    client: BaseClient, bucket: str, key: str, parts: list[bytes], **create: Any
) -> dict[str, Any]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    return {"UploadId": upload_id, "Parts": done}


def _complete(client: BaseClient, bucket: str, key: str, upload: dict[str, Any]) -> dict[str, Any]:
    return client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": upload["Parts"]},
    )


def _multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_three_parts_round_trip_and_placement(
    mp: BaseClient, mp_cluster: Cluster, mp_bucket: str
) -> None:
    parts = [os.urandom(5000), os.urandom(5003), os.urandom(1234)]
    answer = _complete(mp, mp_bucket, "three", _upload(mp, mp_bucket, "three", parts))
    assert answer["ETag"] == _multipart_etag(parts)
    body = mp.get_object(Bucket=mp_bucket, Key="three")["Body"].read()
    assert body == b"".join(parts)
    located = locate(mp_cluster, mp_bucket, "three")
    assert located["size"] == sum(map(len, parts))
    assert len(located["chunks"]) == 3 * 8  # 6 data and 2 parity pieces per part
    position = 0
    for number, data in enumerate(parts, start=1):
        pieces = [c for c in located["chunks"] if c["part_number"] == number]
        assert len({c["server"] for c in pieces}) == 8
        # A part is one segment, at the part's place in the object.
        assert {c["offset"] for c in pieces} == {position}
        lengths = [c["length"] for c in pieces if c["role"].startswith("data")]
        assert sum(lengths) == len(data) and max(lengths) - min(lengths) <= 1
        assert [c["length"] for c in pieces if c["role"].startswith("parity")] == [max(lengths)] * 2
        position += len(data)
    assert position == located["size"]


def test_part_number_get_and_ranges_across_parts(mp: BaseClient, mp_bucket: str) -> None:
    parts = [os.urandom(2000), os.urandom(3000), os.urandom(700)]
    _complete(mp, mp_bucket, "k", _upload(mp, mp_bucket, "k", parts))
    second = mp.get_object(Bucket=mp_bucket, Key="k", PartNumber=2)
    assert second["Body"].read() == parts[1]
    assert second["PartsCount"] == 3
    assert mp.head_object(Bucket=mp_bucket, Key="k", PartNumber=3)["ContentLength"] == 700
    whole = b"".join(parts)
    ranged = mp.get_object(Bucket=mp_bucket, Key="k", Range="bytes=1990-5010")["Body"].read()
    assert ranged == whole[1990:5011]
    with pytest.raises(ClientError) as caught:
        mp.get_object(Bucket=mp_bucket, Key="k", PartNumber=4)
    assert (http_status(caught.value), error_code(caught.value)) == (416, "InvalidPartNumber")
    error = caught.value.response["Error"]
    assert (error["PartNumberRequested"], error["ActualPartCount"]) == ("4", "3")
    with pytest.raises(ClientError) as caught:
        mp.get_object(Bucket=mp_bucket, Key="k", PartNumber=1, Range="bytes=0-9")
    assert (http_status(caught.value), error_code(caught.value)) == (400, "InvalidRequest")


def test_part_number_of_a_single_put_object(mp: BaseClient, mp_bucket: str) -> None:
    """Part 1 is the whole object, answered 206 with its Content-Range and checksum."""
    mp.put_object(Bucket=mp_bucket, Key="single", Body=b"test-123", ChecksumAlgorithm="CRC32")
    part = mp.get_object(Bucket=mp_bucket, Key="single", PartNumber=1, ChecksumMode="ENABLED")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 0-7/8"
    assert part["ChecksumCRC32"] == "MAPXAg=="
    assert "PartsCount" not in part
    assert part["Body"].read() == b"test-123"
    with pytest.raises(ClientError) as caught:
        mp.get_object(Bucket=mp_bucket, Key="single", PartNumber=2)
    assert (http_status(caught.value), error_code(caught.value)) == (416, "InvalidPartNumber")
    assert caught.value.response["Error"]["ActualPartCount"] == "1"


def test_list_parts_pagination_and_list_uploads(mp: BaseClient, mp_bucket: str) -> None:
    upload = _upload(mp, mp_bucket, "dir/a", [b"x" * MIN_PART] * 5)
    other = mp.create_multipart_upload(Bucket=mp_bucket, Key="dir/sub/b")["UploadId"]
    mp.create_multipart_upload(Bucket=mp_bucket, Key="top")
    page = mp.list_parts(Bucket=mp_bucket, Key="dir/a", UploadId=upload["UploadId"], MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True
    rest = mp.list_parts(
        Bucket=mp_bucket,
        Key="dir/a",
        UploadId=upload["UploadId"],
        PartNumberMarker=page["NextPartNumberMarker"],
    )
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 4, 5]
    assert all(p["Size"] == MIN_PART for p in rest["Parts"])
    listed = mp.list_multipart_uploads(Bucket=mp_bucket, Prefix="dir/", Delimiter="/")
    assert [u["Key"] for u in listed.get("Uploads", [])] == ["dir/a"]
    assert [p["Prefix"] for p in listed.get("CommonPrefixes", [])] == ["dir/sub/"]
    everything = mp.list_multipart_uploads(Bucket=mp_bucket)
    assert sorted(u["Key"] for u in everything["Uploads"]) == ["dir/a", "dir/sub/b", "top"]
    first = mp.list_multipart_uploads(Bucket=mp_bucket, MaxUploads=1)
    assert first["IsTruncated"] is True and len(first["Uploads"]) == 1
    mp.abort_multipart_upload(Bucket=mp_bucket, Key="dir/sub/b", UploadId=other)


def test_list_uploads_pages_through_common_prefixes(s3: BaseClient, bucket: str) -> None:
    """25 uploads under a/ and one under b/, one entry a page: a/ then b/, then the end; and
    the same with no delimiter, every upload once, in (key, upload id) order."""
    created = [
        (key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
        for key in [f"a/{n:02d}" for n in range(25)] + ["b/last", "top"]
    ]
    first = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1)
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/"] and "Uploads" not in first
    assert first["IsTruncated"] is True and first["NextKeyMarker"] == "a/"
    second = s3.list_multipart_uploads(
        Bucket=bucket, Delimiter="/", MaxUploads=1, KeyMarker=first["NextKeyMarker"]
    )
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["b/"]
    assert second["IsTruncated"] is True
    third = s3.list_multipart_uploads(
        Bucket=bucket, Delimiter="/", MaxUploads=1, KeyMarker=second["NextKeyMarker"]
    )
    assert [u["Key"] for u in third["Uploads"]] == ["top"] and third["IsTruncated"] is False
    paginator = s3.get_paginator("list_multipart_uploads")
    pages = list(paginator.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}))
    assert [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])] == ["a/", "b/"]
    listed = [
        (u["Key"], u["UploadId"])
        for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 4})
        for u in page.get("Uploads", [])
    ]
    assert listed == sorted(created)


def _code_of(call: Any, **arguments: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    return error_code(caught.value)


def test_rules_and_errors(mp: BaseClient, mp_bucket: str) -> None:
    upload_id = mp.create_multipart_upload(Bucket=mp_bucket, Key="r")["UploadId"]
    for bad in (0, 10001):
        assert (
            _code_of(
                mp.upload_part,
                Bucket=mp_bucket,
                Key="r",
                UploadId=upload_id,
                PartNumber=bad,
                Body=b"x",
            )
            == "InvalidArgument"
        )
    assert (
        _code_of(
            mp.upload_part, Bucket=mp_bucket, Key="r", UploadId="nope", PartNumber=1, Body=b"x"
        )
        == "NoSuchUpload"
    )
    small = mp.upload_part(
        Bucket=mp_bucket, Key="r", UploadId=upload_id, PartNumber=1, Body=b"s" * 100
    )
    last = mp.upload_part(
        Bucket=mp_bucket, Key="r", UploadId=upload_id, PartNumber=2, Body=b"l" * 10
    )
    parts = [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
    complete = mp.complete_multipart_upload
    assert (
        _code_of(
            complete,
            Bucket=mp_bucket,
            Key="r",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        == "EntityTooSmall"
    )
    assert (
        _code_of(
            complete,
            Bucket=mp_bucket,
            Key="r",
            UploadId=upload_id,
            MultipartUpload={"Parts": [parts[1], parts[0]]},
        )
        == "InvalidPartOrder"
    )
    assert (
        _code_of(
            complete,
            Bucket=mp_bucket,
            Key="r",
            UploadId=upload_id,
            MultipartUpload={"Parts": [parts[0], parts[0], parts[1]]},
        )
        == "InvalidPartOrder"
    )
    wrong = [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]
    assert (
        _code_of(
            complete,
            Bucket=mp_bucket,
            Key="r",
            UploadId=upload_id,
            MultipartUpload={"Parts": wrong},
        )
        == "InvalidPart"
    )
    missing = [{"PartNumber": 7, "ETag": small["ETag"]}]
    assert (
        _code_of(
            complete,
            Bucket=mp_bucket,
            Key="r",
            UploadId=upload_id,
            MultipartUpload={"Parts": missing},
        )
        == "InvalidPart"
    )
    assert (
        _code_of(
            complete, Bucket=mp_bucket, Key="r", UploadId="nope", MultipartUpload={"Parts": parts}
        )
        == "NoSuchUpload"
    )
    assert _code_of(mp.list_parts, Bucket=mp_bucket, Key="r", UploadId="nope") == "NoSuchUpload"
    assert (
        _code_of(mp.abort_multipart_upload, Bucket=mp_bucket, Key="r", UploadId="nope")
        == "NoSuchUpload"
    )
    # None of the refused completions made an object.
    assert _code_of(mp.head_object, Bucket=mp_bucket, Key="r") == "404"
    mp.abort_multipart_upload(Bucket=mp_bucket, Key="r", UploadId=upload_id)


def test_malformed_complete_body(mp_cluster: Cluster, mp: BaseClient, mp_bucket: str) -> None:
    upload_id = mp.create_multipart_upload(Bucket=mp_bucket, Key="m")["UploadId"]
    response = raw_request(
        mp_cluster, "POST", f"/{mp_bucket}/m?uploadId={upload_id}", body=b"<Complete"
    )
    assert response.status == 400 and b"<Code>MalformedXML</Code>" in response.body
    mp.abort_multipart_upload(Bucket=mp_bucket, Key="m", UploadId=upload_id)


def test_reupload_replaces_part_and_complete_is_idempotent(
    mp: BaseClient, mp_cluster: Cluster, mp_bucket: str
) -> None:
    before = settled_used_bytes(mp_cluster)
    upload = _upload(mp, mp_bucket, "re", [os.urandom(4096), os.urandom(100)])
    replacement = os.urandom(3000)
    answer = mp.upload_part(
        Bucket=mp_bucket, Key="re", UploadId=upload["UploadId"], PartNumber=1, Body=replacement
    )
    upload["Parts"][0]["ETag"] = answer["ETag"]
    first = _complete(mp, mp_bucket, "re", upload)
    again = _complete(mp, mp_bucket, "re", upload)  # a client retrying after a timeout
    assert first["ETag"] == again["ETag"]
    body = mp.get_object(Bucket=mp_bucket, Key="re")["Body"].read()
    assert body[:3000] == replacement and len(body) == 3100
    # The replaced part's chunks were freed: only this object's bytes remain in its chunks.
    chunks = locate(mp_cluster, mp_bucket, "re")["chunks"]
    assert sum(c["length"] for c in chunks if c["role"].startswith("data")) == 3100
    assert sum(c["length"] for c in chunks) == stored_bytes(3000) + stored_bytes(100)
    # ...and the daemons hold exactly those pieces once the replaced part's are collected.
    expected = before + stored_bytes(3000) + stored_bytes(100)
    wait_for(lambda: used_bytes(mp_cluster) == expected or None, 15)


def settled_used_bytes(cluster: Cluster, quiet_seconds: float = 2.0) -> int:
    """Used bytes once garbage collection of earlier tests has finished (unchanged for a while)."""
    value = used_bytes(cluster)
    quiet_since = time.monotonic()
    deadline = quiet_since + 30
    while time.monotonic() - quiet_since < quiet_seconds:
        assert time.monotonic() < deadline, "chunk usage never settled"
        time.sleep(0.2)
        current = used_bytes(cluster)
        if current != value:
            value, quiet_since = current, time.monotonic()
    return value


def test_abort_frees_every_byte(mp: BaseClient, mp_cluster: Cluster, mp_bucket: str) -> None:
    before = settled_used_bytes(mp_cluster)
    upload = _upload(mp, mp_bucket, "ab", [os.urandom(200_000), os.urandom(300_000)])
    assert used_bytes(mp_cluster) >= before + 500_000
    mp.abort_multipart_upload(Bucket=mp_bucket, Key="ab", UploadId=upload["UploadId"])
    wait_for(lambda: used_bytes(mp_cluster) == before or None, 15)
    assert mp.list_multipart_uploads(Bucket=mp_bucket).get("Uploads", []) == []


def test_upload_part_copy_with_range(mp: BaseClient, mp_bucket: str) -> None:
    source = os.urandom(10_000)
    mp.put_object(Bucket=mp_bucket, Key="src", Body=source)
    upload_id = mp.create_multipart_upload(Bucket=mp_bucket, Key="dst")["UploadId"]
    first = mp.upload_part_copy(
        Bucket=mp_bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": mp_bucket, "Key": "src"},
        CopySourceRange="bytes=1000-4999",
    )["CopyPartResult"]
    second = mp.upload_part_copy(
        Bucket=mp_bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": mp_bucket, "Key": "src"},
    )["CopyPartResult"]
    parts = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    mp.complete_multipart_upload(
        Bucket=mp_bucket, Key="dst", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert mp.get_object(Bucket=mp_bucket, Key="dst")["Body"].read() == source[1000:5000] + source
    bad = mp.create_multipart_upload(Bucket=mp_bucket, Key="bad")["UploadId"]
    assert (
        _code_of(
            mp.upload_part_copy,
            Bucket=mp_bucket,
            Key="bad",
            UploadId=bad,
            PartNumber=1,
            CopySource={"Bucket": mp_bucket, "Key": "src"},
            CopySourceRange="bytes=9000-20000",
        )
        == "InvalidRange"
    )
    mp.abort_multipart_upload(Bucket=mp_bucket, Key="bad", UploadId=bad)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_checksum(mp: BaseClient, mp_bucket: str, algorithm: str) -> None:
    parts = [os.urandom(3000), os.urandom(2000)]
    upload_id = mp.create_multipart_upload(Bucket=mp_bucket, Key="c", ChecksumAlgorithm=algorithm)[
        "UploadId"
    ]
    done = []
    for number, data in enumerate(parts, start=1):
        answer = mp.upload_part(
            Bucket=mp_bucket,
            Key="c",
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm=algorithm,
        )
        done.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                f"Checksum{algorithm}": answer[f"Checksum{algorithm}"],
            }
        )
    result = mp.complete_multipart_upload(
        Bucket=mp_bucket, Key="c", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    digests = b"".join(base64.b64decode(p[f"Checksum{algorithm}"]) for p in done)
    expected = f"{base64.b64encode(_digest(algorithm, digests)).decode()}-2"
    assert result[f"Checksum{algorithm}"] == expected
    head = mp.head_object(Bucket=mp_bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert head["ChecksumType"] == "COMPOSITE"


def _digest(algorithm: str, data: bytes) -> bytes:
    import zlib

    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt_checksums.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt_checksums.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC64NVME"])
def test_full_object_checksum(mp: BaseClient, mp_bucket: str, algorithm: str) -> None:
    parts = [os.urandom(4000), os.urandom(1500)]
    upload = _upload(
        mp, mp_bucket, "f", parts, ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT"
    )
    result = _complete(mp, mp_bucket, "f", upload)
    expected = base64.b64encode(_digest(algorithm, b"".join(parts))).decode()
    assert result[f"Checksum{algorithm}"] == expected
    head = mp.head_object(Bucket=mp_bucket, Key="f", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected and head["ChecksumType"] == "FULL_OBJECT"


def test_interrupted_part_leaves_upload_resumable(
    mp: BaseClient, mp_cluster: Cluster, mp_bucket: str
) -> None:
    parts = [os.urandom(64 * 1024), os.urandom(2000)]
    upload_id = mp.create_multipart_upload(Bucket=mp_bucket, Key="resume")["UploadId"]
    first = mp.upload_part(
        Bucket=mp_bucket, Key="resume", UploadId=upload_id, PartNumber=1, Body=parts[0]
    )
    # Part 2: declare it whole, send half, hang up.
    path = f"/{mp_bucket}/resume?partNumber=2&uploadId={upload_id}"
    _send_half_and_hang_up(mp_cluster, path, parts[1], 1000)
    listed = wait_for(lambda: mp.list_parts(Bucket=mp_bucket, Key="resume", UploadId=upload_id), 5)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1]
    second = mp.upload_part(
        Bucket=mp_bucket, Key="resume", UploadId=upload_id, PartNumber=2, Body=parts[1]
    )
    done = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    mp.complete_multipart_upload(
        Bucket=mp_bucket, Key="resume", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert mp.get_object(Bucket=mp_bucket, Key="resume")["Body"].read() == b"".join(parts)


def test_expired_uploads_are_aborted() -> None:
    with private_directory("s3compat-expiry-") as tmp_path:
        _check_expiry(tmp_path)


def _check_expiry(tmp_path: Path) -> None:
    cluster, process = start_cluster(
        tmp_path / "data", tmp_path / "logs", ["--upload-expiry", "2", "--min-part-size", "1024"]
    )
    try:
        client = client_for(cluster)
        client.create_bucket(Bucket="expiry")
        before = settled_used_bytes(cluster)
        upload = _upload(client, "expiry", "stale", [os.urandom(100_000)])
        assert used_bytes(cluster) > before
        wait_for(lambda: not client.list_multipart_uploads(Bucket="expiry").get("Uploads"), 20)
        wait_for(lambda: used_bytes(cluster) == before or None, 20)
        with pytest.raises(ClientError) as caught:
            client.list_parts(Bucket="expiry", Key="stale", UploadId=upload["UploadId"])
        assert error_code(caught.value) == "NoSuchUpload"
    finally:
        stop_cluster(process)


def _send_half_and_hang_up(
    cluster: Cluster,
    path: str,
    body: bytes,
    sent: int,
    before_hang_up: Callable[[], None] | None = None,
) -> None:
    """PUT `path` declaring all of `body` but sending only `sent` bytes, then close."""
    headers = sign(
        cluster,
        "PUT",
        path,
        {"Content-Length": str(len(body)), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        b"",
    )
    host, port = cluster.host_port
    headers["Host"] = f"{host}:{port}"
    with socket.create_connection((host, port)) as connection:
        head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        connection.sendall(head.encode() + b"\r\n" + body[:sent])
        time.sleep(0.5)
        if before_hang_up is not None:
            before_hang_up()


def test_gateway_killed_during_upload_restarts_consistent() -> None:
    """SIGKILL the gateway mid-upload: the upload's completed parts survive (resumable), the
    part in flight leaves nothing visible, and after GC no orphan bytes stay on any daemon."""
    with private_directory("s3compat-crash-") as tmp_path:
        _check_gateway_crash(tmp_path)


def _check_gateway_crash(tmp_path: Path) -> None:
    cluster, process = start_cluster(tmp_path / "data", tmp_path / "logs")
    try:
        client = client_for(cluster)
        client.create_bucket(Bucket="crash")
        before = settled_used_bytes(cluster)
        part = os.urandom(8 * 1024 * 1024)
        upload_id = client.create_multipart_upload(Bucket="crash", Key="big")["UploadId"]
        first = client.upload_part(
            Bucket="crash", Key="big", UploadId=upload_id, PartNumber=1, Body=part
        )
        pid = gateway_pid(cluster)
        path = f"/crash/big?partNumber=2&uploadId={upload_id}"
        _send_half_and_hang_up(
            cluster,
            path,
            part,
            5 * 1024 * 1024,
            before_hang_up=lambda: os.kill(pid, signal.SIGKILL),
        )
        # The launcher restarts the gateway; the upload is still there with part 1 only.
        wait_for(lambda: _restarted_gateway(cluster, pid), 20)
        listed = wait_for(lambda: _list_parts_or_none(client, upload_id), 20)
        assert [p["PartNumber"] for p in listed["Parts"]] == [1]
        second = client.upload_part(
            Bucket="crash", Key="big", UploadId=upload_id, PartNumber=2, Body=b"tail"
        )
        done = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
        client.complete_multipart_upload(
            Bucket="crash", Key="big", UploadId=upload_id, MultipartUpload={"Parts": done}
        )
        assert client.get_object(Bucket="crash", Key="big")["Body"].read() == part + b"tail"
        # The interrupted part's chunks (intents of the dead gateway) are collected.
        expected = before + stored_bytes(len(part)) + stored_bytes(4)
        wait_for(lambda: used_bytes(cluster) == expected or None, 30)
    finally:
        stop_cluster(process)


def _restarted_gateway(cluster: Cluster, old_pid: int) -> int | None:
    try:
        pid = gateway_pid(cluster)
    except LookupError:
        return None
    return pid if pid != old_pid else None


def _list_parts_or_none(client: BaseClient, upload_id: str) -> dict[str, Any] | None:
    try:
        return client.list_parts(Bucket="crash", Key="big", UploadId=upload_id)  # type: ignore[no-any-return]
    except Exception:
        return None


def test_uploads_of_one_key_list_in_initiation_order(s3: BaseClient, bucket: str) -> None:
    """S3 lists the uploads of one key oldest first, and pages through them with
    upload-id-marker in that order."""
    started = [s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"] for _ in range(6)]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in listed] == started
    initiated = [u["Initiated"] for u in listed]
    assert initiated == sorted(initiated)
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    assert [u["UploadId"] for page in pages for u in page.get("Uploads", [])] == started
    for upload_id in started:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
