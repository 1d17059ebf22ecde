"""The crash test: 8 clients write, overwrite, delete and read while a controller `kill -9`s a
random chunk daemon or the gateway every few seconds and the cluster's launcher restarts it,
and now and then destroys the disks of 2 (the parity count) daemons at once and heals the
cluster with `admin scrub --repair` (chaos_controller.py).

A journal records what each client attempted and what it was acknowledged (chaos_support.py).
During the run every read is judged against it: a 200 must carry exactly one version some
client wrote for that key (never a mix, a truncation or bytes of nobody's), never older than
the newest version acknowledged before the read began. Afterwards, with everything up again:
every key holds its last acknowledged version or a later attempted one, HEAD and the listing
agree with GET, and once leftover uploads are aborted and the collector has emptied its queue
(plain `admin gc`, no `--orphans`: nothing may depend on the orphan sweep), the chunk daemons
hold exactly the chunks the catalog references (scrub: none missing, corrupt or orphaned),
whose data pieces hold exactly the live objects' bytes; and after `admin scrub --repair`,
scrub finds no degraded or lost object and every segment has its 6+2 pieces on 8 distinct
servers. A 500 from the gateway, or a child process that exits other
than by the test's SIGKILL, counts as a violation too.

It runs ~60 s of chaos by default; `--chaos-seconds N` (with a path under tests/faults) or
S3COMPAT_CHAOS_SECONDS=N runs longer, S3COMPAT_CHAOS_SEED=S replays a seed's choices.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from chaos_controller import PARITY, Controller, admin_json, now
from chaos_support import (
    DEFAULT_CHAOS_SECONDS,
    MIB,
    PART_BYTES,
    Journal,
    Observed,
    Write,
    chaos_seconds,
    header_bytes,
    identify_body,
    make_body,
    multipart_etag,
    single_etag,
    version_id,
)
from faults_support import health
from support.catalog import catalog_rows
from support.clients import REGION, error_code, http_status, unique_bucket_name
from support.data import used_bytes
from support.processes import running_cluster
from support.waiting import wait_for

Cluster = Any
CHAOS_SEED_ENV = "S3COMPAT_CHAOS_SEED"
WORKERS = 8
KEYS_PER_WORKER = 5
SHARED_KEYS = 4
RECOVERY_SECONDS = 60.0
# Weights of the operations a worker picks from.
OPERATIONS = {
    "put": 30,
    "multipart": 5,
    "delete": 8,
    "get": 30,
    "range": 8,
    "head": 8,
    "list": 5,
    "abort": 3,
    "abandon": 1,
}
MAX_ABANDONED_PER_WORKER = 3
READ_BACK_SHARE = 0.3


def chaos_client(cluster: Cluster, attempts: int = 2) -> BaseClient:
    """boto3 with short timeouts and at most one retry: the answer it ends with is the ack.
    Response checksums are not validated by botocore: the test checks every byte itself."""
    session = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name=REGION,
    )
    config = Config(
        connect_timeout=3,
        read_timeout=30,
        retries={"max_attempts": attempts, "mode": "standard"},
        max_pool_connections=2,
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return f"{http_status(error)} {error_code(error)}"
    return type(error).__name__


def is_missing(error: ClientError) -> bool:
    return http_status(error) == 404 and error_code(error) in ("NoSuchKey", "404")


# ---------------------------------------------------------------------------------------------
# The clients


class Worker(threading.Thread):
    """One client: writes its own keys and the shared ones, reads every key."""

    def __init__(
        self,
        number: int,
        cluster: Cluster,
        bucket: str,
        journal: Journal,
        stop: threading.Event,
        seed: str,
    ) -> None:
        super().__init__(name=f"chaos-worker-{number}", daemon=True)
        self.writer = f"w{number}"
        self.s3 = chaos_client(cluster)
        self.bucket = bucket
        self.journal = journal
        self.stop = stop
        self.random = random.Random(f"{seed}/{number}")
        self.own = [f"{self.writer}/k{n}" for n in range(KEYS_PER_WORKER)]
        self.shared = [f"shared/k{n}" for n in range(SHARED_KEYS)]
        self.seq = 0
        self.abandoned = 0
        self.tried: Counter[str] = Counter()
        self.succeeded: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.crash: str | None = None
        self.write_spans: list[tuple[float, float, bool]] = []

    def run(self) -> None:
        names, weights = zip(*OPERATIONS.items(), strict=True)
        try:
            while not self.stop.is_set():
                operation = self.random.choices(names, weights)[0]
                began = now()
                try:
                    label = getattr(self, operation)()
                except (ClientError, BotoCoreError) as error:
                    self.failed[f"{operation}: {describe(error)}"] += 1
                    self.note_write(operation, began, acked=False)
                    self.stop.wait(0.1)
                else:
                    self.succeeded[label] += 1
                    self.note_write(operation, began, acked=True)
        except Exception:  # a bug in the test itself: fail loudly, not as a silent thread
            self.crash = traceback.format_exc()
        finally:
            self.s3.close()

    # --- writes ---------------------------------------------------------------------------

    def note_write(self, operation: str, began: float, *, acked: bool) -> None:
        """Remember when each write operation ran, to count the kills that hit one."""
        if operation in ("put", "multipart", "delete"):
            self.write_spans.append((began, now(), acked))

    def write_key(self) -> str:
        """Mostly the worker's own keys (one writer: the journal's check is exact there), often
        a shared one (eight writers race)."""
        return self.random.choice(self.own if self.random.random() < 0.6 else self.shared)

    def size(self, key: str) -> int:
        header = header_bytes(key, self.writer)
        roll = self.random.random()
        if roll < 0.06:
            return 0
        if roll < 0.5:
            return header + self.random.randrange(0, 4096)
        if roll < 0.8:
            return header + self.random.randrange(4096, 256 * 1024)
        return header + self.random.randrange(256 * 1024, 3 * MIB)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def put(self) -> str:
        key = self.write_key()
        seq = self.next_seq()
        body = make_body(key, self.writer, seq, self.size(key))
        label = "put" if self.journal.latest_acked(key).deletes else "overwrite"
        self.tried[label] += 1
        write = self.journal.attempt(
            key,
            Write(
                version_id(self.writer, seq),
                "put",
                now(),
                etag=single_etag(body),
                size=len(body),
                writer=self.writer,
                seq=seq,
            ),
        )
        answer = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.journal.acknowledge(write, now())
        if answer["ETag"].strip('"') != write.etag:
            self.journal.violation(f"put {key}: acked ETag {answer['ETag']}, sent {write.etag}")
        self.read_back(key)
        return label

    def multipart(self) -> str:
        key = self.write_key()
        seq = self.next_seq()
        size = PART_BYTES + self.random.randrange(1, MIB)
        body = make_body(key, self.writer, seq, size)
        parts = [body[:PART_BYTES], body[PART_BYTES:]]
        self.tried["multipart"] += 1
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        completing = False
        try:
            if self.random.random() < 0.3:
                # A part number uploaded twice: the second upload replaces the first.
                self.upload_part(key, upload_id, 2, self.random.randbytes(1000))
            done = [
                {"PartNumber": number, "ETag": self.upload_part(key, upload_id, number, part)}
                for number, part in enumerate(parts, start=1)
            ]
            write = self.journal.attempt(
                key,
                Write(
                    version_id(self.writer, seq),
                    "multipart",
                    now(),
                    etag=multipart_etag(parts),
                    size=size,
                    writer=self.writer,
                    seq=seq,
                ),
            )
            completing = True
            answer = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
            self.journal.acknowledge(write, now())
            if answer["ETag"].strip('"') != write.etag:
                self.journal.violation(
                    f"multipart {key}: acknowledged ETag {answer['ETag']}, expected {write.etag}"
                )
            self.read_back(key)
        except (ClientError, BotoCoreError):
            if not completing:
                self.abort_quietly(key, upload_id)
            raise
        return "multipart"

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        answer = self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return str(answer["ETag"])

    def abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            pass  # the final clean-up aborts what is left

    def delete(self) -> str:
        key = self.write_key()
        seq = self.next_seq()
        self.tried["delete"] += 1
        write = self.journal.attempt(
            key,
            Write(version_id(self.writer, seq), "delete", now(), writer=self.writer, seq=seq),
        )
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        self.journal.acknowledge(write, now())
        self.read_back(key)
        return "delete"

    def abort(self) -> str:
        """An upload with a part, aborted: no object, and its bytes must go."""
        key = self.write_key()
        self.tried["abort"] += 1
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        try:
            self.upload_part(key, upload_id, 1, self.random.randbytes(20_000))
        finally:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return "abort"

    def abandon(self) -> str:
        """An upload with a part, left open: the final clean-up must find and abort it."""
        if self.abandoned >= MAX_ABANDONED_PER_WORKER:
            return self.get()
        key = self.write_key()
        self.tried["abandon"] += 1
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        self.abandoned += 1
        self.upload_part(key, upload_id, 1, self.random.randbytes(30_000))
        return "abandon"

    # --- reads ----------------------------------------------------------------------------

    def read_key(self) -> str:
        """Any key, half the time a shared one: those are overwritten most often, so reads
        race writes there."""
        return self.random.choice(self.journal.keys if self.random.random() < 0.5 else self.shared)

    def read_back(self, key: str) -> None:
        """Sometimes GET a key right after its write was acknowledged (read-after-write)."""
        if self.random.random() >= READ_BACK_SHARE:
            return
        self.tried["get"] += 1
        started = now()
        try:
            seen = read_whole(self.s3, self.bucket, key, self.journal)
        except (ClientError, BotoCoreError) as error:
            self.failed[f"get: {describe(error)}"] += 1
            return
        if seen is not None:
            self.journal.judge(key, seen, started, now(), "get")
        self.succeeded["get"] += 1

    def get(self) -> str:
        key = self.read_key()
        self.tried["get"] += 1
        started = now()
        seen = read_whole(self.s3, self.bucket, key, self.journal)
        if seen is not None:
            self.journal.judge(key, seen, started, now(), "get")
        return "get"

    def range(self) -> str:
        key = self.read_key()
        latest = self.journal.latest_acked(key)
        if latest.deletes or latest.size < 2:
            return self.get()
        self.tried["range"] += 1
        first = self.random.randrange(0, latest.size)
        last = min(latest.size - 1, first + self.random.randrange(0, 300_000))
        started = now()
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{last}")
        except ClientError as error:
            if is_missing(error):
                self.journal.judge(key, Observed.absent(), started, now(), "range")
                return "range"
            if http_status(error) == 416:
                return "range-beyond-end"  # overwritten by a smaller version meanwhile
            raise
        data = answer["Body"].read()
        ended = now()
        etag = answer["ETag"].strip('"')
        span, _, total_text = answer["ContentRange"].removeprefix("bytes ").partition("/")
        low, _, high = span.partition("-")
        total = int(total_text)
        expected = (first, min(last, total - 1))
        if (int(low), int(high)) != expected or len(data) != expected[1] - first + 1:
            self.journal.violation(
                f"range {key}: asked {first}-{last}, got {answer['ContentRange']} "
                f"with {len(data)} bytes"
            )
            return "range"
        versions = self.journal.find(key, etag, total)
        if versions and not any(v.body(key)[first : last + 1] == data for v in versions):
            self.journal.violation(
                f"range {key} {first}-{last}: bytes are not those of {versions[0].version} "
                f"(ETag {etag})"
            )
            return "range"
        self.journal.judge(key, Observed(etag, total), started, ended, "range")
        return "range"

    def head(self) -> str:
        key = self.read_key()
        self.tried["head"] += 1
        started = now()
        try:
            answer = self.s3.head_object(Bucket=self.bucket, Key=key)
            seen = Observed(answer["ETag"].strip('"'), int(answer["ContentLength"]))
        except ClientError as error:
            if not is_missing(error):
                raise
            seen = Observed.absent()
        self.journal.judge(key, seen, started, now(), "head")
        return "head"

    def list(self) -> str:
        self.tried["list"] += 1
        started = now()
        listed = list_all(self.s3, self.bucket)
        ended = now()
        for key in self.journal.keys:
            seen = Observed(*listed.pop(key)) if key in listed else Observed.absent()
            self.journal.judge(key, seen, started, ended, "list")
        for key in listed:
            self.journal.violation(f"list: {key!r} listed, but no client ever wrote it")
        return "list"


def read_whole(s3: BaseClient, bucket: str, key: str, journal: Journal) -> Observed | None:
    """GET a key: what it holds, or None (and a violation) if a 200 held no one version."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing(error):
            return Observed.absent()
        raise
    body = answer["Body"].read()  # raises if the stream ends before Content-Length
    etag = answer["ETag"].strip('"')
    named = identify_body(key, body)
    if named is None or int(answer["ContentLength"]) != len(body):
        journal.violation(
            f"get {key}: 200 with {len(body)} bytes (Content-Length {answer['ContentLength']}, "
            f"ETag {etag}) that are no whole version: {body[:100]!r}"
        )
        return None
    return Observed(etag, len(body), named)


def list_all(s3: BaseClient, bucket: str) -> dict[str, tuple[str, int]]:
    """Every listed key: (ETag, size)."""
    listed: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            listed[item["Key"]] = (item["ETag"].strip('"'), int(item["Size"]))
    return listed


# ---------------------------------------------------------------------------------------------
# After the chaos


def chunks_on(cluster: Cluster, url: str) -> dict[str, tuple[int, float]]:
    """Every chunk a daemon holds: id -> (data bytes, mtime)."""
    held: dict[str, tuple[int, float]] = {}
    after = ""
    while True:
        request = urllib.request.Request(
            f"{url}/chunks?limit=10000&after={after}",
            headers={"Authorization": f"Bearer {cluster.cluster_secret}"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = json.loads(answer.read())
        held.update({c["chunk_id"]: (int(c["length"]), float(c["mtime"])) for c in page["chunks"]})
        if not page["truncated"] or not page["chunks"]:
            return held
        after = page["chunks"][-1]["chunk_id"]


def logged_trouble(cluster: Cluster) -> tuple[Counter[str], Counter[str]]:
    """From the cluster's log: (exceptions and ERROR lines, child exits by name and status)."""
    log = cluster.data_dir.parent / "cluster.stderr.log"
    errors: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        exited = re.match(r"(\S+?)(-\d+)? exited with status (-?\d+)", line)
        if exited:
            exits[f"{exited[1]} {exited[3]}"] += 1
        elif re.match(r"\w+(\.\w+)*(Error|Exception)\b", line) or " ERROR " in line:
            errors[re.sub(r"^[\d\- :,]+", "", line)[:160]] += 1
    return errors, exits


def final_state(s3: BaseClient, bucket: str, journal: Journal) -> dict[str, Observed]:
    """Read every key once the cluster is healthy; judge it as a read that began after every
    acknowledgement. A key that cannot be read at all is a violation too."""
    found: dict[str, Observed] = {}
    for key in journal.keys:
        for attempt in range(6):
            try:
                seen = read_whole(s3, bucket, key, journal)
                break
            except (ClientError, BotoCoreError) as error:
                if attempt == 5:
                    journal.violation(f"final get {key}: unreadable ({describe(error)})")
                    seen = None
                    break
                time.sleep(1.0)
        if seen is None:
            continue
        started = now()
        journal.judge(key, seen, started, started, "final")
        found[key] = seen
    return found


def abort_leftover_uploads(s3: BaseClient, bucket: str) -> int:
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted += 1
    return aborted


def collect_garbage(cluster: Cluster) -> dict[str, int]:
    """Run the collector until nothing is pending (the gateway's own sweeper runs too)."""
    report: dict[str, int] = {}

    def settled() -> bool:
        report.update(admin_json(cluster, "gc"))
        return report["pending_intents"] == 0 and report["pending_deletions"] == 0

    wait_for(settled, timeout=60, interval=1.0)
    return report


# ---------------------------------------------------------------------------------------------
# The test


@pytest.fixture(scope="module")
def chaos_cluster() -> Iterator[Cluster]:
    with running_cluster("s3compat-chaos-") as running:
        yield running


def run_chaos(
    cluster: Cluster, bucket: str, journal: Journal, seconds: float, seed: str
) -> tuple[list[Worker], Controller]:
    """The workers and the controller for `seconds`; returns them once all have stopped."""
    stop = threading.Event()
    workers = [Worker(n, cluster, bucket, journal, stop, seed) for n in range(WORKERS)]
    controller = Controller(cluster, stop, seed)
    for thread in [*workers, controller]:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in [*workers, controller]:
        thread.join(timeout=120)
        assert not thread.is_alive(), f"{thread.name} did not stop"
    crashes = [w.crash for w in workers if w.crash] + [controller.failure or ""]
    assert not any(crashes), "\n".join(c for c in crashes if c)
    return workers, controller


def check_store(cluster: Cluster, s3: BaseClient, bucket: str, journal: Journal) -> dict[str, Any]:
    """With everything up again, the store holds what the journal allows and nothing else:
    each key's content, HEAD and the listing agree, no upload is left once all are aborted,
    and after GC the daemons hold exactly the catalog's chunks and the live objects' bytes."""
    final = final_state(s3, bucket, journal)
    present = {key: (seen.etag, seen.size) for key, seen in final.items() if seen.etag}
    for key, seen in final.items():
        headed: tuple[str, int] | None
        try:
            answer = s3.head_object(Bucket=bucket, Key=key)
            headed = (answer["ETag"].strip('"'), int(answer["ContentLength"]))
        except ClientError as error:
            headed = None if is_missing(error) else (describe(error), -1)
        if headed != present.get(key):
            journal.violation(f"final head {key}: {headed}, GET found {seen.describe()}")
    listed = list_all(s3, bucket)
    if listed != present:
        journal.violation(f"listing {listed} differs from what GET finds {present}")
    aborted = abort_leftover_uploads(s3, bucket)
    if s3.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        journal.violation("uploads are still listed after aborting them all")
    gc_report = collect_garbage(cluster)
    scrub = admin_json(cluster, "scrub")["servers"]
    held = {url: chunks_on(cluster, url) for url in cluster.chunk_urls}
    every_chunk = {chunk_id: meta for chunks in held.values() for chunk_id, meta in chunks.items()}
    for server, found in scrub.items():
        for problem in ("missing", "corrupt"):
            if found[problem]:
                journal.violation(f"scrub {server}: {len(found[problem])} {problem} chunks")
        if found["unreachable"]:
            journal.violation(f"scrub {server}: unreachable after recovery")
        for chunk_id in found["orphans"]:
            length, mtime = every_chunk.get(chunk_id, (-1, 0.0))
            journal.violation(
                f"scrub {server}: orphan chunk {chunk_id} ({length} bytes, written "
                f"{time.time() - mtime:.0f} s ago) survived GC"
            )
    # Parity pieces count on the daemons: they hold exactly the catalog's pieces, and the
    # catalog's data pieces (roles 0-5) of current versions add up to the live objects' bytes.
    live_bytes = sum(size for _, size in present.values())
    stored_bytes = sum(length for length, _ in every_chunk.values())
    catalog_bytes, data_bytes = catalog_rows(
        cluster,
        "SELECT coalesce(sum(length), 0), coalesce(sum(CASE WHEN piece < 6 THEN length END), 0) "
        "FROM chunks WHERE version_id IS NOT NULL",
    )[0]
    if stored_bytes != catalog_bytes:
        journal.violation(
            f"daemons hold {stored_bytes} bytes, the catalog's pieces {catalog_bytes}"
        )
    if data_bytes != live_bytes:
        journal.violation(f"the catalog's data pieces hold {data_bytes} bytes, live {live_bytes}")
    reported_bytes = used_bytes(cluster)
    if reported_bytes != stored_bytes:
        journal.violation(f"daemons report {reported_bytes} used bytes, hold {stored_bytes}")
    healed = heal(cluster, journal)
    return {
        **healed,
        "keys": len(final),
        "present": len(present),
        "uploads_aborted": aborted,
        "chunks": len(every_chunk),
        "live_bytes": live_bytes,
        "stored_bytes": stored_bytes,
        "orphans": sum(len(found["orphans"]) for found in scrub.values()),
        "gc_deleted_chunks": gc_report["deleted_chunks"],
    }


def heal(cluster: Cluster, journal: Journal) -> dict[str, Any]:
    """`admin scrub --repair` after the chaos: then scrub finds no damaged object, and every
    segment of every object has its 6 + PARITY pieces on as many distinct servers."""
    healing = admin_json(cluster, "scrub", "--repair", timeout=300)
    scrubbed = admin_json(cluster, "scrub")
    objects = scrubbed["objects"]
    if scrubbed["damaged"] or objects["degraded"] or objects["lost"]:
        journal.violation(
            f"scrub after repair: degraded {objects['degraded'][:5]}, lost {objects['lost'][:5]}"
        )
    segments = catalog_rows(
        cluster,
        "SELECT count(*), count(DISTINCT server_id) FROM chunks "
        "WHERE version_id IS NOT NULL GROUP BY version_id, part_number",
    )
    roles = 6 + PARITY
    thin = [row for row in segments if row != (roles, roles)]
    if thin:
        journal.violation(
            f"{len(thin)} segments lack {roles} pieces on distinct servers: {thin[:5]}"
        )
    return {
        "healthy_objects": objects["healthy"],
        "segments": len(segments),
        "healed": {k: v for k, v in healing.get("repair", {}).items() if v},
    }


def test_crash_chaos(chaos_cluster: Cluster, request: pytest.FixtureRequest) -> None:
    cluster = chaos_cluster
    seconds = chaos_seconds(request.config)
    seed = os.environ.get(CHAOS_SEED_ENV) or f"{random.randrange(10**6):06d}"
    print(f"\nchaos: {seconds:.0f} s, seed {seed} (replay: {CHAOS_SEED_ENV}={seed})")
    s3 = chaos_client(cluster, attempts=5)
    bucket = unique_bucket_name("chaos")
    s3.create_bucket(Bucket=bucket)
    keys = [f"w{n}/k{k}" for n in range(WORKERS) for k in range(KEYS_PER_WORKER)]
    journal = Journal(keys + [f"shared/k{n}" for n in range(SHARED_KEYS)])

    started = now()
    workers, controller = run_chaos(cluster, bucket, journal, seconds, seed)
    chaos_took = now() - started
    wait_for(lambda: health(cluster) == 200, timeout=RECOVERY_SECONDS, interval=0.5)
    final = check_store(cluster, s3, bucket, journal)
    s3.close()

    tried = sum((w.tried for w in workers), Counter())
    succeeded = sum((w.succeeded for w in workers), Counter())
    failed = sum((w.failed for w in workers), Counter())
    for reason, count in failed.items():
        if " 500 " in f" {reason.partition(': ')[2]} ":
            journal.violation(f"{count} x {reason}: the gateway answered 500")
    faults = controller.faults
    kills = faults.kills
    logged, exits = logged_trouble(cluster)
    expected_exits = Counter({"chunkd -9": kills["chunkd"], "gateway -9": kills["gateway"]})
    if +exits != +expected_exits:
        journal.violation(f"children exited {dict(exits)}; the test killed {dict(kills)}")
    recovery = faults.recovery_seconds
    heals = [(round(h.seconds), h.rebuilt) for h in faults.heals]
    checks = journal.checks
    spans = [span for worker in workers for span in worker.write_spans]
    hit = [
        (began, ended, acked)
        for began, ended, acked in spans
        if any(began <= at <= ended for at in faults.kill_times)
    ]
    kills_during_writes = sum(
        any(began <= at <= ended for began, ended, _ in spans) for at in faults.kill_times
    )
    print(
        f"chaos: {chaos_took:.0f} s; operations {sum(tried.values())} "
        f"(tried {dict(sorted(tried.items()))}; succeeded {dict(sorted(succeeded.items()))}); "
        f"failed {sum(failed.values())}; acknowledged writes {journal.acked_writes()}; "
        f"kills {sum(kills.values())} ({dict(kills)}; {kills_during_writes} while writes ran, "
        f"hitting {len(hit)} writes of which {sum(a for *_, a in hit)} were still acknowledged; "
        f"back and healthy after {min(recovery, default=0):.1f}-{max(recovery, default=0):.1f} s); "
        f"disks wiped {faults.wipes} ({faults.destroyed} pieces), heals (s, pieces) {heals}; "
        f"reads checked {sum(v for k, v in checks.items() if k != 'final')} "
        f"({dict(sorted(checks.items()))}); after recovery {final}; "
        f"violations {len(journal.violations)}"
    )
    for reason, count in failed.most_common():
        print(f"  failed: {count:4d} {reason}")
    for line, count in logged.most_common(15):
        print(f"  logged: {count:4d} {line}")
    for number, healed in enumerate(faults.heals):
        if healed.left["lost"]:
            journal.violation(f"heal {number} after a wipe: lost {healed.left['lost'][:5]}")
    for text in journal.violations[:30]:
        print(f"  VIOLATION {text}")
    assert not journal.violations, f"{len(journal.violations)} violations: {journal.violations[:5]}"
    # The test must be able to fail: enough of everything happened.
    scale = seconds / DEFAULT_CHAOS_SECONDS
    assert kills["chunkd"] >= 4 * scale and kills["gateway"] >= 2 * scale, kills
    assert kills_during_writes >= 3 * scale, "too few kills landed while writes were running"
    assert faults.wipes >= PARITY, "no disks were wiped"
    # The wipes destroyed pieces (rebuilt since: the final checks found every segment whole).
    assert faults.destroyed > 0, faults
    for label, minimum in (("overwrite", 20), ("multipart", 1), ("delete", 5), ("get", 30)):
        assert succeeded[label] >= minimum * scale, (label, succeeded)
    assert checks["get"] + checks["range"] + checks["head"] >= 60 * scale, checks
    assert checks["list"] >= len(journal.keys) * 3, checks
