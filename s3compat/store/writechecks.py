"""What a client claimed about a body it sends (MD5, SHA-256, flexible checksums, in headers
or trailers), and the check of those claims against what was received, before any commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from s3compat.records import ChunkRecord
from s3compat.store import errors
from s3compat.store.checksums import MultiHasher, to_b64


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
class WrittenBody:
    chunks: list[ChunkRecord]
    size: int
    md5_hex: str
    md5_digest: bytes
    # the stored checksum, if any: (algorithm, base64 value)
    checksum: tuple[str, str] | None


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
