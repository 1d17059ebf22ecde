"""The records every layer hands on: the catalog's rows as typed values (the catalog makes them,
the store and the API read them; none of them reaches back into the catalog)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

# Why committing a new version was refused (the catalog cannot say it with an exception: the
# transaction is retried on conflicts, and these are answers, not failures).
CommitRefusal = Literal["no-bucket", "precondition"]
# What deleting a bucket came to.
BucketDeletion = Literal["deleted", "missing", "not-empty"]

# A chunk server's state: up (polled, takes writes), down (missed its polls), draining (read,
# no new writes), lost (its pieces are gone for good), removed (forgotten).
ServerState = Literal["up", "down", "draining", "lost", "removed"]


# The user `s3compat cluster` and `admin init` create (names are unique: `admin user add root`
# gives root new keys). It is the cluster's administrator, in the console too.
ROOT_USER = "root"


@dataclass(frozen=True)
class UserRecord:
    access_key: str
    secret_key: str
    name: str


@dataclass(frozen=True)
class ServerRecord:
    server_id: str
    url: str
    state: ServerState
    capacity_bytes: int
    used_bytes: int
    free_bytes: int
    chunk_count: int
    last_seen: float | None


@dataclass(frozen=True)
class BucketRecord:
    name: str
    owner: str
    created_at: float
    region: str
    acl: str | None = None
    # None while versioning was never enabled, else "Enabled" or "Suspended"
    versioning: str | None = None
    # The bucket's policy document (JSON text), read with the row so that access control
    # needs no second query; None when it has none.
    policy: str | None = None
    # Its public access block (JSON of the four flags) and object ownership (the setting's
    # name), read with the row for the same reason; None when unset.
    public_access_block: str | None = None
    ownership: str | None = None


@dataclass(frozen=True)
class ChunkRecord:
    """One stored piece of a segment (a single PUT's body, or one multipart part).

    Layout 1 (contiguous): `offset` is the piece's place within the object (or within its
    upload part) and `piece` its index. Layout 2 (striped, `store/stripes.py`): `offset` is the
    segment's place, `piece` the role (0..5 data, 6.. parity), and the segment's length, block
    size and parity count are repeated on each of its pieces.
    """

    chunk_id: str
    server_id: str
    part_number: int
    piece: int
    offset: int
    length: int
    crc32c: str
    layout: int = 1
    segment_length: int = 0
    block_bytes: int = 0
    parity: int = 0


@dataclass(frozen=True)
class PartInfo:
    """A part of a completed multipart object, as GET ?partNumber= and checksums need it."""

    part_number: int
    size: int
    etag: str
    checksum: str | None = None


@dataclass(frozen=True)
class ObjectRecord:
    """A version of a key (the current one unless read by version id). `headers` holds
    Content-Type, user metadata etc. A `delete_marker` has no bytes; a `null_version`'s S3
    version id is "null" (see store/versions.py for how the others are spelt)."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    owner: str
    headers: dict[str, str]
    checksum_algorithm: str | None = None
    checksum_value: str | None = None
    checksum_type: str | None = None
    parts: list[PartInfo] | None = None
    acl: str | None = None
    tags: dict[str, str] | None = None
    version_id: int = 0
    null_version: bool = True
    delete_marker: bool = False

    def to_row(self) -> tuple[Any, ...]:
        parts = None if self.parts is None else json.dumps([p.__dict__ for p in self.parts])
        tags = None if self.tags is None else json.dumps(self.tags)
        return (
            self.bucket,
            self.key,
            self.size,
            self.etag,
            self.last_modified,
            self.owner,
            json.dumps(self.headers),
            self.checksum_algorithm,
            self.checksum_value,
            self.checksum_type,
            parts,
            self.acl,
            tags,
            int(self.null_version),
        )

    @classmethod
    def from_row(cls, row: Any) -> ObjectRecord:
        parts = None if row["parts"] is None else [PartInfo(**p) for p in json.loads(row["parts"])]
        return cls(
            version_id=row["version_id"],
            bucket=row["bucket"],
            key=row["key"],
            size=row["size"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            owner=row["owner"],
            headers=json.loads(row["headers"]),
            checksum_algorithm=row["checksum_algorithm"],
            checksum_value=row["checksum_value"],
            checksum_type=row["checksum_type"],
            parts=parts,
            acl=row["acl"],
            tags=None if row["tags"] is None else json.loads(row["tags"]),
            null_version=bool(row["null_version"]),
            delete_marker="delete_marker" in row.keys() and bool(row["delete_marker"]),
        )


OBJECT_COLUMNS = (
    "bucket, key, size, etag, last_modified, owner, headers, checksum_algorithm, "
    "checksum_value, checksum_type, parts, acl, tags, null_version"
)
INSERT_OBJECT = (
    f"INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ({', '.join(['?'] * 14)}) RETURNING version_id"
)


@dataclass(frozen=True)
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    owner: str
    initiated_at: float
    headers: dict[str, str]
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    acl: str | None = None
    tags: dict[str, str] | None = field(default=None)


@dataclass(frozen=True)
class UploadPartRecord:
    part_number: int
    size: int
    etag: str
    last_modified: float
    checksum: str | None = None
