"""The ObjectStore: objects, kept by the write and read paths of DESIGN.md.

A write: choose 6 servers, record the intent, stream the pieces, verify every digest the client
sent, then commit in one catalog transaction. Nothing is answered before the commit; anything
that fails before it leaves the previous version untouched and the new chunks queued for
deletion. Who may do what is decided before the store is called (`api/auth/access.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from s3compat.catalog.bucketconfig import BucketConfigCatalog
from s3compat.catalog.chunkrows import IntentsLost
from s3compat.catalog.repairs import SHORT
from s3compat.records import ChunkRecord, ObjectRecord, ServerState
from s3compat.store import errors, listing, segments
from s3compat.store.buckets import BucketStore
from s3compat.store.checksums import MultiHasher, to_b64
from s3compat.store.listing import ListPage
from s3compat.store.pieces import ByteSource
from s3compat.store.placement import Candidate, choose_servers
from s3compat.store.service import ChunkService
from s3compat.store.stripe_write import required_pieces, write_striped
from s3compat.store.stripes import BLOCK_BYTES, LAYOUT_STRIPED, Geometry

log = logging.getLogger(__name__)

# The catalog's meta row holding the cluster's parity count M (absent: 0).
PARITY_META = "parity"
# Server states whose pieces a read does not try.
UNREADABLE_STATES: tuple[ServerState, ...] = ("down", "lost")


@dataclass(frozen=True)
class WriteChecks:
    """What the client claimed about the body, to verify before commit."""

    content_md5: bytes | None = None
    sha256_hex: str | None = None
    # algorithm -> base64 value sent as a header
    checksums: Mapping[str, str] = field(default_factory=dict)
    # the algorithm to compute and store (x-amz-sdk-checksum-algorithm or a trailer's)
    algorithm: str | None = None
    # called after the body ended: algorithm -> base64 value sent in a trailer
    trailer_checksums: Callable[[], Mapping[str, str]] | None = None
    # the algorithms of those trailers, known before the body is read
    trailer_algorithms: tuple[str, ...] = ()

    def hasher(self) -> MultiHasher:
        """A hasher computing everything these checks need."""
        algorithms = {*self.checksums, *self.trailer_algorithms}
        if self.algorithm:
            algorithms.add(self.algorithm)
        return MultiHasher(algorithms, want_sha256_hex=self.sha256_hex is not None)


@dataclass(frozen=True)
class Precondition:
    """Conditions on the current version of a key, checked before a write or delete.

    `if_match` / `if_none_match` hold an ETag (quoted or not, or a comma-separated list) or
    `*`; `last_modified` (whole seconds) and `size` must equal the current version's.
    """

    if_match: str | None = None
    if_none_match: str | None = None
    last_modified: int | None = None
    size: int | None = None

    def check_write(self, current: ObjectRecord | None) -> None:
        """A write's conditions: If-Match needs a current version (else NoSuchKey, as S3
        answers) whose ETag matches; If-None-Match needs none that matches."""
        if self.if_match is not None:
            if current is None:
                raise errors.NoSuchKey()
            if not etag_in(self.if_match, current.etag):
                raise errors.PreconditionFailed("If-Match")
        if (
            self.if_none_match is not None
            and current is not None
            and etag_in(self.if_none_match, current.etag)
        ):
            raise errors.PreconditionFailed("If-None-Match")

    def check_delete(self, current: ObjectRecord) -> None:
        """A delete's conditions on the version it would remove."""
        if self.if_match is not None and not etag_in(self.if_match, current.etag):
            raise errors.PreconditionFailed("If-Match")
        if self.last_modified is not None and int(current.last_modified) != self.last_modified:
            raise errors.PreconditionFailed("x-amz-if-match-last-modified-time")
        if self.size is not None and current.size != self.size:
            raise errors.PreconditionFailed("x-amz-if-match-size")


def etag_in(condition: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match value names `etag` (or is `*`)."""
    wanted = etag.strip('"')
    for candidate in condition.split(","):
        candidate = candidate.strip().removeprefix("W/").strip('"')
        if candidate == "*" or candidate == wanted:
            return True
    return False


@dataclass(frozen=True)
class WrittenBody:
    chunks: list[ChunkRecord]
    size: int
    md5_hex: str
    md5_digest: bytes
    # the stored checksum, if any: (algorithm, base64 value)
    checksum: tuple[str, str] | None


@dataclass(eq=False)
class ObjectStore(ChunkService):
    """Objects and where their bytes live. No HTTP, no XML, no SQL."""

    buckets: BucketStore
    # Parity pieces of new writes (the catalog's setting, see `load_settings`).
    parity: int = 0
    _reserved: Counter[str] = field(default_factory=Counter, init=False)
    # chunk id -> number of readers streaming it now; the collector skips these
    reading: Counter[str] = field(default_factory=Counter, init=False)
    # Set when a read or write left a segment short of pieces: wakes the repairer.
    repair_wanted: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def load_settings(self) -> None:
        """Take the cluster's settings (the parity count) from the catalog."""
        self.parity = int(await self.catalog.get_meta(PARITY_META) or 0)

    # --- writes ---------------------------------------------------------------------------

    async def write_body(
        self, source: ByteSource, size: int, checks: WriteChecks, *, part_number: int = 1
    ) -> WrittenBody:
        """Store `size` bytes of `source` as 6 data pieces and the parity pieces; verify them;
        return the uncommitted chunks.

        The chunks stay intents until the caller commits them; on any error here they are
        handed to the collector before the error propagates. Pieces that could not be stored
        (their servers failed, but enough others did) are handed to the collector at once and
        left out: the segment is under-protected until the repairer rebuilds them.
        """
        geometry = Geometry(size, BLOCK_BYTES, self.parity)
        chunks = self._place(geometry, part_number)
        await self.catalog.record_intents(chunks, self.gateway_id)
        hasher = checks.hasher()
        try:
            with self._reservation(chunks):
                stored = await write_striped(
                    self.client, self.membership, source, chunks, geometry, hasher
                )
            if len(stored) < len(chunks):
                kept = {c.chunk_id for c in stored}
                await self.catalog.abandon_chunks(
                    c.chunk_id for c in chunks if c.chunk_id not in kept
                )
                chunks = stored
            if len(stored) < geometry.roles:
                # Too few servers, or some failed: the repairer's next pass (in whichever
                # gateway runs it) finds this note once the write commits; if it does not,
                # the note is dropped as stale.
                await self.catalog.note_damaged(stored[0].chunk_id, SHORT)
                self.repair_wanted.set()
            if await source.read(1):
                # More bytes than declared (an aws-chunked body whose chunks outgrow its
                # x-amz-decoded-content-length); reading to the end also makes the chunked
                # reader check the final chunk and the trailers.
                raise errors.IncompleteBody("the body is longer than its declared length")
            checksum = verify_body(checks, hasher)
        except BaseException:
            await asyncio.shield(self.catalog.abandon_chunks(c.chunk_id for c in chunks))
            raise
        return WrittenBody(stored, size, hasher.md5_hex, hasher.md5_digest, checksum)

    async def put_object(
        self,
        record: ObjectRecord,
        source: ByteSource,
        checks: WriteChecks,
        *,
        condition: Precondition | None = None,
    ) -> ObjectRecord:
        """Write and commit a single-PUT object; `record`'s etag and checksum are filled in.

        A `condition` is checked before the body is read, and made to hold at the commit: the
        commit goes through only if the key still has the version (or still has none) that
        the condition was checked against, else PreconditionFailed.
        """
        if_none_match, if_match = False, None
        if condition is not None:
            current = await self.catalog.head_object(record.bucket, record.key)
            condition.check_write(current)
            if current is None:
                if_none_match = True
            else:
                if_match = current.etag
        body = await self.write_body(source, record.size, checks)
        committed = replace(
            record,
            etag=f'"{body.md5_hex}"',
            last_modified=time.time(),
            checksum_algorithm=body.checksum[0] if body.checksum else None,
            checksum_value=body.checksum[1] if body.checksum else None,
            checksum_type="FULL_OBJECT" if body.checksum else None,
        )
        await self.commit(committed, body.chunks, if_none_match=if_none_match, if_match=if_match)
        return committed

    async def commit(
        self,
        record: ObjectRecord,
        chunks: Sequence[ChunkRecord],
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> None:
        """Make `record` current (one transaction); on refusal its chunks go to the collector."""
        try:
            outcome = await asyncio.shield(
                self.catalog.commit_object(
                    record,
                    chunks,
                    grace_seconds=self.grace_seconds,
                    if_none_match=if_none_match,
                    if_match=if_match,
                )
            )
        except IntentsLost as lost:
            raise errors.WriteLost(str(lost)) from lost
        if outcome == "committed":
            return
        await self.catalog.abandon_chunks(c.chunk_id for c in chunks)
        if outcome == "no-bucket":
            raise errors.NoSuchBucket(record.bucket)
        raise errors.PreconditionFailed(record.key)

    def _place(self, geometry: Geometry, part_number: int) -> list[ChunkRecord]:
        """Choose distinct servers for the segment's 6+M pieces. With fewer writable servers
        than that, the pieces there is room for (never fewer than `required_pieces`)."""
        servers = self.membership.writable()
        candidates = [
            Candidate(s.server_id, s.capacity_bytes, s.used_bytes, s.free_bytes) for s in servers
        ]
        required = required_pieces(geometry.parity)
        if len(candidates) < required:
            raise errors.NotEnoughServers(
                f"{len(candidates)} chunk servers are up, {required} needed"
            )
        count = min(geometry.roles, len(candidates))
        chosen = choose_servers(candidates, count, reserved_bytes=self._reserved)
        return [
            ChunkRecord(
                uuid.uuid4().hex,
                server.server_id,
                part_number,
                role,
                0,
                geometry.piece_length(role),
                "",
                layout=LAYOUT_STRIPED,
                segment_length=geometry.length,
                block_bytes=geometry.block_bytes,
                parity=geometry.parity,
            )
            for role, server in enumerate(chosen)
        ]

    def _reservation(self, chunks: Sequence[ChunkRecord]) -> _Reservation:
        return _Reservation(self._reserved, chunks)

    # --- reads ----------------------------------------------------------------------------

    async def head_object(self, bucket: str, key: str) -> ObjectRecord:
        record = await self.catalog.head_object(bucket, key)
        if record is None:
            await self.buckets.get(bucket)
            raise errors.NoSuchKey(key)
        return record

    async def find_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """The key's current version, or None (whether or not the bucket exists)."""
        return await self.catalog.head_object(bucket, key)

    async def set_acl(self, bucket: str, key: str, acl: str | None) -> None:
        """Replace the current version's ACL in place (its bytes stay)."""
        if not await self.catalog.update_object(bucket, key, acl=acl):
            raise errors.NoSuchKey(key)

    async def set_tags(self, bucket: str, key: str, tags: str | None) -> None:
        """Replace the current version's tags (a JSON object, None for none) in place."""
        if not await self.catalog.update_object(bucket, key, tags=tags, set_tags=True):
            raise errors.NoSuchKey(key)

    async def list_page(
        self, bucket: str, *, prefix: str, delimiter: str, marker: str, max_keys: int
    ) -> ListPage:
        """Up to `max_keys` keys and common prefixes after `marker`, in S3's order."""
        return await listing.list_page(
            self.catalog,
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            marker=marker,
            max_keys=max_keys,
        )

    async def open_object(self, bucket: str, key: str) -> tuple[ObjectRecord, list[ChunkRecord]]:
        """The current version and its chunks, looked up once for a whole read."""
        found = await self.catalog.get_object(bucket, key)
        if found is None:
            await self.buckets.get(bucket)
            raise errors.NoSuchKey(key)
        return found

    def unavailable_servers(self) -> set[str]:
        return {s.server_id for s in self.membership.servers() if s.state in UNREADABLE_STATES}

    def check_readable(self, chunks: Sequence[ChunkRecord], start: int, end: int) -> None:
        """Refuse up front (before any byte is sent) a read that needs more pieces on servers
        known down than parity makes up for."""
        segments.check_readable(chunks, start, end, self.unavailable_servers())

    async def stream(
        self, chunks: Sequence[ChunkRecord], start: int, end: int
    ) -> AsyncGenerator[bytes, None]:
        """Bytes [start, end) of an opened object. Its chunks are not collected meanwhile;
        pieces found missing or corrupt on the way are read around and noted for repair."""
        ids = [c.chunk_id for c in chunks]
        self.reading.update(ids)
        try:
            async for block in segments.read_range(
                self.client,
                self.membership,
                chunks,
                start,
                end,
                unavailable=self.unavailable_servers(),
                on_damage=self._note_damage,
            ):
                yield block
        finally:
            self.reading.subtract(ids)
            for chunk_id in ids:
                if self.reading[chunk_id] <= 0:
                    del self.reading[chunk_id]

    async def _note_damage(self, chunk: ChunkRecord, reason: str) -> None:
        log.warning("piece %s on %s is %s: read around it", chunk.chunk_id, chunk.server_id, reason)
        try:
            await self.catalog.note_damaged(chunk.chunk_id, reason)
            self.repair_wanted.set()
        except Exception:  # the read goes on; scrub finds the piece again
            log.exception("could not queue piece %s for repair", chunk.chunk_id)

    # --- deletes --------------------------------------------------------------------------

    async def delete_object(
        self, bucket: str, key: str, condition: Precondition | None = None
    ) -> None:
        """Delete the key's current version; deleting a missing key is no error.

        With a `condition`, the version it holds for is the one deleted, or none at all: a
        version written meanwhile survives, and the delete is PreconditionFailed.
        """
        if condition is None:
            await self.catalog.delete_object(bucket, key, grace_seconds=self.grace_seconds)
            return
        current = await self.catalog.head_object(bucket, key)
        if current is None:
            return
        condition.check_delete(current)
        deleted = await BucketConfigCatalog(self.catalog.db).delete_version(
            bucket, key, current.version_id, grace_seconds=self.grace_seconds
        )
        if not deleted and await self.catalog.head_object(bucket, key) is not None:
            raise errors.PreconditionFailed(key)


class _Reservation:
    """Counts bytes being written to each server, so concurrent writes spread out."""

    def __init__(self, reserved: Counter[str], chunks: Sequence[ChunkRecord]) -> None:
        self._reserved = reserved
        self._amounts = Counter({c.server_id: c.length for c in chunks})

    def __enter__(self) -> None:
        self._reserved.update(self._amounts)

    def __exit__(self, *exc: object) -> None:
        self._reserved.subtract(self._amounts)


def verify_body(checks: WriteChecks, hasher: MultiHasher) -> tuple[str, str] | None:
    """Compare every digest the client sent with what was received; return the checksum to store."""
    if checks.content_md5 is not None and checks.content_md5 != hasher.md5_digest:
        raise errors.BadDigest()
    if checks.sha256_hex is not None and checks.sha256_hex != hasher.sha256_hex:
        raise errors.PayloadHashMismatch()
    claimed = dict(checks.checksums)
    if checks.trailer_checksums is not None:
        claimed.update(checks.trailer_checksums())
    for algorithm, value in claimed.items():
        if to_b64(hasher.checksum(algorithm)) != value:
            raise errors.ChecksumMismatch(algorithm)
    chosen = checks.algorithm or next(iter(claimed), None)
    if chosen is None:
        return None
    algorithm = chosen
    return algorithm, to_b64(hasher.checksum(algorithm))
