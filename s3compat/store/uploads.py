"""Multipart uploads: parts written like single PUTs (6 pieces each), completed atomically.

Invariants:
- a part is durable once UploadPart answers; re-uploading its number replaces it and queues
  the old part's chunks for deletion;
- Complete checks the requested parts against the stored ones inside the commit transaction,
  so the object it makes is exactly the parts it names, and nothing is visible before;
- abort and expiry free every byte of every part.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from s3compat.catalog.chunkrows import IntentsLost
from s3compat.catalog.uploads import CompletionPlan, UploadCatalog
from s3compat.records import ObjectRecord, PartInfo, UploadPartRecord, UploadRecord
from s3compat.store import errors
from s3compat.store.checksums import (
    CRC_ALGORITHMS,
    combine_crc,
    composite_checksum,
    from_b64,
    to_b64,
)
from s3compat.store.conditions import Precondition
from s3compat.store.listing import Walked, prefix_end, walk
from s3compat.store.objects import ObjectStore
from s3compat.store.pieces import ByteSource
from s3compat.store.sse import CustomerKey, Sealing, sealing_for_part
from s3compat.store.writechecks import WriteChecks

MAX_PART_NUMBER = 10_000
MAX_PART_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class RequestedPart:
    """A part as CompleteMultipartUpload names it."""

    part_number: int
    etag: str
    checksums: dict[str, str]


# Sorts after every upload id: a key marker without an upload-id marker skips the whole key.
LAST_UPLOAD_ID = "\U0010ffff"


class UploadStore:
    """Multipart uploads on top of the object store's write path."""

    def __init__(
        self, objects: ObjectStore, catalog: UploadCatalog, *, min_part_bytes: int
    ) -> None:
        self.objects = objects
        self.catalog = catalog
        self.min_part_bytes = min_part_bytes

    async def create(self, upload: UploadRecord) -> UploadRecord:
        await self.objects.buckets.get(upload.bucket)
        # The id starts with the initiation time (16 hex digits of nanoseconds), so that the
        # uploads of one key list in initiation order, as S3 lists them, by the id alone.
        now = time.time_ns()
        upload_id = f"{now:016x}{secrets.token_urlsafe(24)}"
        created = replace(upload, upload_id=upload_id, initiated_at=now / 1e9)
        await self.catalog.create(created)
        return created

    async def list_page(
        self,
        bucket: str,
        *,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        limit: int,
    ) -> Walked[UploadRecord]:
        """ListMultipartUploads: up to `limit` uploads and common prefixes, in (key, upload
        id) order, after the markers (a key marker alone: after every upload of that key)."""
        end = prefix_end(prefix) if prefix else None

        async def fetch(start: tuple[str, str], inclusive: bool, n: int) -> list[UploadRecord]:
            return await self.catalog.list_uploads(
                bucket, start=start, inclusive=inclusive, end=end, limit=n
            )

        after = (key_marker, upload_id_marker if upload_id_marker else LAST_UPLOAD_ID)
        return await walk(
            fetch,
            key_of=lambda upload: upload.key,
            position_of=lambda upload: (upload.key, upload.upload_id),
            position_at=lambda key: (key, ""),
            prefix=prefix,
            delimiter=delimiter,
            marker=(key_marker, after),
            limit=limit,
        )

    async def upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        """The open upload `upload_id` of bucket/key."""
        upload = await self.catalog.get(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise errors.NoSuchUpload(upload_id)
        return upload

    async def upload_part(
        self,
        upload: UploadRecord,
        part_number: int,
        source: ByteSource,
        size: int,
        checks: WriteChecks,
        *,
        sealing: Sealing | None = None,
    ) -> UploadPartRecord:
        """Store one part durably; it replaces an earlier part of the same number."""
        if upload.checksum_algorithm:
            # The part's stored checksum is always of the upload's algorithm (what Complete
            # combines); whatever else the request claims is verified too.
            checks = replace(checks, algorithm=upload.checksum_algorithm)
        body = await self.objects.write_body(
            source, size, checks, part_number=part_number, sealing=sealing
        )
        checksum = None
        if (
            upload.checksum_algorithm
            and body.checksum
            and body.checksum[0] == upload.checksum_algorithm
        ):
            checksum = body.checksum[1]
        part = UploadPartRecord(part_number, size, f'"{body.md5_hex}"', time.time(), checksum)
        try:
            committed = await self.catalog.commit_part(
                upload.upload_id, part, body.chunks, grace_seconds=self.objects.grace_seconds
            )
        except IntentsLost as lost:
            raise errors.WriteLost(str(lost)) from lost
        if not committed:
            await self.objects.catalog.abandon_chunks(c.chunk_id for c in body.chunks)
            raise errors.NoSuchUpload(upload.upload_id)
        return part

    async def list_parts(
        self, upload: UploadRecord, *, after: int, limit: int
    ) -> list[UploadPartRecord]:
        return await self.catalog.list_parts(upload.upload_id, after=after, limit=limit)

    async def complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        requested: Sequence[RequestedPart],
        *,
        full_object_checksum: str | None = None,
        condition: Precondition | None = None,
        customer: CustomerKey | None = None,
    ) -> ObjectRecord:
        """Make the upload the key's current version.

        A `condition` (If-Match / If-None-Match) is checked against the key's current version
        inside the commit transaction, so no write can land between the check and the commit.
        A retried Complete of an upload that is already complete is not checked again: it
        answers what it answered.
        """
        digest = hashlib.sha256(
            repr([(p.part_number, p.etag.strip('"')) for p in requested]).encode()
        ).hexdigest()

        def plan(upload: UploadRecord, stored: list[UploadPartRecord]) -> CompletionPlan:
            if upload.bucket != bucket or upload.key != key:
                raise errors.NoSuchUpload(upload_id)
            if customer is not None:  # S3 needs no key here, but one sent must be the upload's
                sealing_for_part(upload.headers, customer, None)
            return plan_completion(
                upload, stored, requested, self.min_part_bytes, digest, full_object_checksum
            )

        record = await self.catalog.complete(
            upload_id,
            plan,
            request_digest=digest,
            grace_seconds=self.objects.grace_seconds,
            check_current=None if condition is None else condition.check_write,
        )
        if record is None:
            raise errors.NoSuchUpload(upload_id)
        return record

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        await self.upload(bucket, key, upload_id)
        if not await self.catalog.abort(upload_id):
            raise errors.NoSuchUpload(upload_id)

    async def expire(self, idle_seconds: float) -> int:
        """Abort uploads idle longer than `idle_seconds`; return how many."""
        stale = await self.catalog.idle_since(time.time() - idle_seconds)
        for upload_id in stale:
            await self.catalog.abort(upload_id)
        return len(stale)


def plan_completion(
    upload: UploadRecord,
    stored: Sequence[UploadPartRecord],
    requested: Sequence[RequestedPart],
    min_part_bytes: int,
    request_digest: str,
    full_object_checksum: str | None,
) -> CompletionPlan:
    """Check a Complete request against the stored parts; the object it makes. Pure."""
    if not requested:
        raise errors.InvalidPart("the request names no parts")
    numbers = [p.part_number for p in requested]
    # Strictly ascending, as S3 requires: a part number listed twice is InvalidPartOrder too
    # (which of the two would count is not something to guess).
    if any(b <= a for a, b in pairwise(numbers)):
        raise errors.InvalidPartOrder()
    by_number = {p.part_number: p for p in stored}
    chosen: list[UploadPartRecord] = []
    for wanted in requested:
        part = by_number.get(wanted.part_number)
        if part is None or part.etag.strip('"') != wanted.etag.strip().strip('"'):
            raise errors.InvalidPart(f"part {wanted.part_number}")
        for algorithm, value in wanted.checksums.items():
            if algorithm != upload.checksum_algorithm or (part.checksum and part.checksum != value):
                raise errors.InvalidPart(f"part {wanted.part_number}: checksum")
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < min_part_bytes:
            raise errors.EntityTooSmall(f"part {part.part_number} is {part.size} bytes")
    md5s = b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen)
    etag = f'"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(chosen)}"'
    checksum_value = _object_checksum(upload, chosen)
    if full_object_checksum is not None and checksum_value != full_object_checksum:
        raise errors.ChecksumMismatch(upload.checksum_algorithm or "checksum")
    record = ObjectRecord(
        bucket=upload.bucket,
        key=upload.key,
        size=sum(p.size for p in chosen),
        etag=etag,
        last_modified=time.time(),
        owner=upload.owner,
        headers=upload.headers,
        checksum_algorithm=upload.checksum_algorithm if checksum_value else None,
        checksum_value=checksum_value,
        checksum_type=(upload.checksum_type or "COMPOSITE") if checksum_value else None,
        parts=[PartInfo(p.part_number, p.size, p.etag, p.checksum) for p in chosen],
        acl=upload.acl,
        tags=upload.tags,
    )
    return CompletionPlan(record, [p.part_number for p in chosen], request_digest)


def _object_checksum(upload: UploadRecord, parts: Sequence[UploadPartRecord]) -> str | None:
    """The object's checksum from its parts': COMPOSITE (hash of part digests, "-N") or
    FULL_OBJECT (the parts' CRCs combined into the CRC of the whole)."""
    algorithm = upload.checksum_algorithm
    if algorithm is None or any(p.checksum is None for p in parts):
        return None
    digests = [from_b64(p.checksum or "", algorithm) for p in parts]
    if upload.checksum_type == "FULL_OBJECT" and algorithm in CRC_ALGORITHMS:
        combined = digests[0]
        for part, digest in zip(parts[1:], digests[1:], strict=True):
            combined = combine_crc(algorithm, combined, digest, part.size)
        return to_b64(combined)
    return composite_checksum(algorithm, digests)
