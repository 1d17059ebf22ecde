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
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from s3compat.catalog.chunkrows import IntentsLost
from s3compat.catalog.repairs import SHORT
from s3compat.records import ChunkRecord, ObjectRecord, ServerState
from s3compat.store import errors, listing, segments
from s3compat.store.buckets import BucketStore
from s3compat.store.conditions import Precondition
from s3compat.store.encryption import SealingSource, stored_length
from s3compat.store.kms import Keyring
from s3compat.store.listing import ListPage
from s3compat.store.locks import check_removable
from s3compat.store.pieces import ByteSource
from s3compat.store.placement import Candidate, RecentWrites, Reservation, choose_servers
from s3compat.store.reads import OpenReads
from s3compat.store.service import ChunkService
from s3compat.store.sse import MasterKey, Sealing
from s3compat.store.stripe_write import required_pieces, write_striped
from s3compat.store.stripes import BLOCK_BYTES, LAYOUT_STRIPED, Geometry
from s3compat.store.versions import (
    Deleted,
    VersionListing,
    VersionPage,
    found_version,
    list_versions_page,
    missing_object,
    parse_version,
    version_token,
)
from s3compat.store.writechecks import WriteChecks, WrittenBody, verify_body

log = logging.getLogger(__name__)

# The catalog's meta row holding the cluster's parity count M (absent: 0).
PARITY_META = "parity"
# Server states whose pieces a read does not try.
UNREADABLE_STATES: tuple[ServerState, ...] = ("down", "lost")


@dataclass(eq=False)
class ObjectStore(ChunkService):
    """Objects and where their bytes live. No HTTP, no XML, no SQL."""

    buckets: BucketStore
    # Parity pieces of new writes (the catalog's setting, see `load_settings`).
    parity: int = 0
    # Wraps the object keys of SSE-S3 (None: SSE-S3 is refused).
    master_key: MasterKey | None = None
    # The named keys of SSE-KMS (None: SSE-KMS is refused).
    keyring: Keyring | None = None
    _reserved: Counter[str] = field(default_factory=Counter, init=False)
    _recent: RecentWrites = field(default_factory=RecentWrites, init=False)
    # The reads streaming now: the collectors skip their chunks (store/reads.py).
    reads: OpenReads = field(default_factory=OpenReads, init=False)
    # Set when a read or write left a segment short of pieces: wakes the repairer.
    repair_wanted: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def load_settings(self) -> None:
        """Take the cluster's settings (the parity count) from the catalog."""
        self.parity = int(await self.catalog.get_meta(PARITY_META) or 0)

    # --- writes ---------------------------------------------------------------------------

    async def write_body(
        self,
        source: ByteSource,
        size: int,
        checks: WriteChecks,
        *,
        part_number: int = 1,
        sealing: Sealing | None = None,
    ) -> WrittenBody:
        """Store `size` bytes of `source` as 6 data pieces and the parity pieces; verify them;
        return the uncommitted chunks. With a `sealing`, the pieces hold the segment encrypted
        (`encryption.py`); sizes, digests and the ETag are still of the plaintext.

        The chunks stay intents until the caller commits them; on any error here they are
        handed to the collector before the error propagates. Pieces that could not be stored
        (their servers failed, but enough others did) are handed to the collector at once and
        left out: the segment is under-protected until the repairer rebuilds them.
        """
        stored_size = size if sealing is None else stored_length(size)
        geometry = Geometry(stored_size, BLOCK_BYTES, self.parity)
        chunks = self._place(geometry, part_number)
        await self.catalog.record_intents(chunks, self.gateway_id)
        hasher = checks.hasher()
        # Sealed, the plaintext is hashed as it is encrypted; the pieces' bytes are not.
        pieces: ByteSource = source
        if sealing is not None:
            pieces, hasher_of_pieces = SealingSource(source, sealing.key, size, hasher), None
        else:
            hasher_of_pieces = hasher
        try:
            with self._reservation(chunks):
                stored = await write_striped(
                    self.client, self.membership, pieces, chunks, geometry, hasher_of_pieces
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
        md5_hex = hasher.md5_hex if sealing is None else sealing.etag_hex(hasher.md5_digest)
        return WrittenBody(stored, size, md5_hex, hasher.md5_digest, checksum)

    async def put_object(
        self,
        record: ObjectRecord,
        source: ByteSource,
        checks: WriteChecks,
        *,
        condition: Precondition | None = None,
        sealing: Sealing | None = None,
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
        body = await self.write_body(source, record.size, checks, sealing=sealing)
        committed = replace(
            record,
            etag=f'"{body.md5_hex}"',
            last_modified=time.time(),
            checksum_algorithm=body.checksum[0] if body.checksum else None,
            checksum_value=body.checksum[1] if body.checksum else None,
            checksum_type="FULL_OBJECT" if body.checksum else None,
        )
        return await self.commit(
            committed, body.chunks, if_none_match=if_none_match, if_match=if_match
        )

    async def commit(
        self,
        record: ObjectRecord,
        chunks: Sequence[ChunkRecord],
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> ObjectRecord:
        """Make `record` current (one transaction) and return it as committed (its version
        id set); on refusal its chunks go to the collector."""
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
        if isinstance(outcome, ObjectRecord):
            return outcome
        await self.catalog.abandon_chunks(c.chunk_id for c in chunks)
        if outcome == "no-bucket":
            raise errors.NoSuchBucket(record.bucket)
        raise errors.PreconditionFailed(record.key)

    def _place(self, geometry: Geometry, part_number: int) -> list[ChunkRecord]:
        """Choose distinct servers for the segment's 6+M pieces. With fewer writable servers
        than that, the pieces there is room for (never fewer than `required_pieces`)."""
        servers = self.membership.writable()
        candidates = []
        for s in servers:
            unreported = self._recent.unreported(s.server_id, s.last_seen)
            used, free = s.used_bytes + unreported, max(s.free_bytes - unreported, 0)
            candidates.append(Candidate(s.server_id, s.capacity_bytes, used, free))
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

    def _reservation(self, chunks: Sequence[ChunkRecord]) -> Reservation:
        return Reservation(self._reserved, chunks, self._recent)

    # --- reads ----------------------------------------------------------------------------

    async def head_object(self, bucket: str, key: str, version: str | None = None) -> ObjectRecord:
        """The key's current version, or (`version`: an S3 version id) that version."""
        if version is not None:
            record = await self.catalog.head_version(bucket, key, parse_version(version))
            return await found_version(self.buckets, bucket, key, version, record)
        found = await self.catalog.head_object(bucket, key)
        if found is None:
            await missing_object(self.catalog, self.buckets, bucket, key)
        assert found is not None
        return found

    async def find_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """The key's current version, or None (whether or not the bucket exists)."""
        return await self.catalog.head_object(bucket, key)

    async def set_acl(
        self, bucket: str, key: str, acl: str | None, version: str | None = None
    ) -> None:
        """Replace the ACL of the current version (or of `version`) in place."""
        await self._update(bucket, key, version, "acl", acl)

    async def set_tags(
        self, bucket: str, key: str, tags: str | None, version: str | None = None
    ) -> None:
        """Replace the tags (a JSON object, None for none) of the current version (or of
        `version`) in place."""
        await self._update(bucket, key, version, "tags", tags)

    async def _update(
        self, bucket: str, key: str, version: str | None, column: str, value: str | None
    ) -> None:
        if version is None:
            if column == "acl":
                changed = await self.catalog.update_object(bucket, key, acl=value)
            else:
                changed = await self.catalog.update_object(bucket, key, tags=value, set_tags=True)
            if not changed:
                raise errors.NoSuchKey(key)
        elif not await self.catalog.update_version(
            bucket, key, parse_version(version), column, value
        ):
            await self.head_object(bucket, key, version)  # says why: no version, or a marker
            raise errors.NoSuchVersion(key, version)

    async def change_headers(
        self,
        bucket: str,
        key: str,
        version: str | None,
        change: Callable[[ObjectRecord], dict[str, str]],
    ) -> ObjectRecord:
        """Replace the stored headers of the current version (or of `version`) by
        `change(version)`, in one transaction (an Object Lock retention or legal hold)."""
        record = await self.head_object(bucket, key, version)
        changed = await self.catalog.rewrite_headers(bucket, key, record.version_id, change)
        if changed is None:
            raise errors.NoSuchVersion(key, version_token(record))
        return changed

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

    async def list_versions(self, bucket: str, asked: VersionListing) -> VersionPage:
        """One page of versions, delete markers and common prefixes."""
        return await list_versions_page(self.catalog, bucket, asked)

    async def open_object(
        self, bucket: str, key: str, version: str | None = None
    ) -> tuple[ObjectRecord, list[ChunkRecord]]:
        """The current version (or `version`) and its chunks, looked up once for a read."""
        if version is not None:
            found = await self.catalog.get_version(bucket, key, parse_version(version))
            record = await found_version(self.buckets, bucket, key, version, found and found[0])
            assert found is not None
            return record, found[1]
        current = await self.catalog.get_object(bucket, key)
        if current is None:
            await missing_object(self.catalog, self.buckets, bucket, key)
        assert current is not None
        return current

    def unavailable_servers(self) -> set[str]:
        return {s.server_id for s in self.membership.servers() if s.state in UNREADABLE_STATES}

    def check_readable(self, chunks: Sequence[ChunkRecord], start: int, end: int) -> None:
        """Refuse up front (before any byte is sent) a read that needs more pieces on servers
        known down than parity makes up for."""
        segments.check_readable(chunks, start, end, self.unavailable_servers())

    async def stream(
        self,
        chunks: Sequence[ChunkRecord],
        start: int,
        end: int,
        sealing: Sealing | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Bytes [start, end) of an opened object (of its plaintext, with the `sealing` of an
        encrypted one). Its chunks are not collected meanwhile; pieces found missing or
        corrupt on the way are read around and noted for repair."""
        with self.reads.streaming(c.chunk_id for c in chunks):
            read = segments.read_range
            if sealing is not None:
                read = partial(segments.read_sealed_range, object_key=sealing.key)
            blocks = read(
                self.client,
                self.membership,
                chunks,
                start,
                end,
                unavailable=self.unavailable_servers(),
                on_damage=self._note_damage,
            )
            async with aclosing(blocks):
                async for block in blocks:
                    yield block

    async def _note_damage(self, chunk: ChunkRecord, reason: str) -> None:
        log.warning("piece %s on %s is %s: read around it", chunk.chunk_id, chunk.server_id, reason)
        try:
            await self.catalog.note_damaged(chunk.chunk_id, reason)
            self.repair_wanted.set()
        except Exception:  # the read goes on; scrub finds the piece again
            log.exception("could not queue piece %s for repair", chunk.chunk_id)

    # --- deletes --------------------------------------------------------------------------

    async def delete_object(
        self,
        bucket: str,
        key: str,
        condition: Precondition | None = None,
        *,
        owner: str = "",
        version: str | None = None,
        bypass_governance: bool = False,
    ) -> Deleted:
        """Delete the key as S3 does; deleting a missing key is no error.

        Without `version`: in a bucket never versioned the current version goes, otherwise a
        delete marker (owned by `owner`) becomes the latest version. With `version`, that
        version goes for good. With a `condition`, the version it holds for is the one
        deleted, or none at all: a version written meanwhile survives, and the delete is
        PreconditionFailed.
        """
        if version is not None:
            number = parse_version(version)
            if condition is not None:
                found = await self.catalog.head_version(bucket, key, number)
                if found is None:
                    return Deleted(version)
                condition.check_delete(found)  # a version never changes: no race here
            removed = await self.catalog.delete_version(
                bucket,
                key,
                number,
                grace_seconds=self.grace_seconds,
                check=partial(
                    check_removable, bypass_governance=bypass_governance, now=datetime.now(UTC)
                ),
            )
            return Deleted(version, removed is not None and removed.delete_marker)
        expected = None
        if condition is not None:
            current = await self.catalog.head_object(bucket, key)
            if current is None:
                latest = await self.catalog.latest_version(bucket, key)
                if latest is not None and latest.delete_marker:
                    condition.check_delete_marker()
                return Deleted()
            condition.check_delete(current)
            expected = current.version_id
        done = await self.catalog.delete_key(
            bucket, key, owner=owner, grace_seconds=self.grace_seconds, expected=expected
        )
        if done.outcome == "no-bucket":
            raise errors.NoSuchBucket(bucket)
        if done.outcome == "changed":
            if await self.catalog.head_object(bucket, key) is None:
                return Deleted()  # gone meanwhile: what was asked for holds
            raise errors.PreconditionFailed(key)
        if done.marker is None:
            return Deleted()
        return Deleted(version_token(done.marker), delete_marker=True)
