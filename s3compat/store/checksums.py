"""Streaming checksums of object data: MD5 (the ETag) and S3's flexible checksums.

The five algorithms S3 accepts in ``x-amz-checksum-*`` are computed incrementally so a body can
be hashed while it streams to the chunk daemons. Digests are big-endian bytes, which is how S3
(and botocore) base64-encode them. The CRC helpers at the end serve multipart uploads:
COMPOSITE checksums hash the part digests, FULL_OBJECT checksums combine the part CRCs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from awscrt import checksums as crt_checksums

from s3compat.store.errors import MalformedChecksum

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")
DIGEST_BYTES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}

# Reflected (LSB-first) generator polynomials; all three CRCs start at and finish with all ones.
_REFLECTED_POLYNOMIALS = {
    "CRC32": 0xEDB88320,
    "CRC32C": 0x82F63B78,
    "CRC64NVME": 0x9A6C9329AC4BC9B5,
}


class Checksum(Protocol):
    """An incremental hash: feed bytes, then read the digest."""

    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC over a ``(data, previous) -> crc`` function."""

    def __init__(self, algorithm: str, compute: Callable[[bytes, int], int]) -> None:
        self._compute = compute
        self._width_bytes = DIGEST_BYTES[algorithm]
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._compute(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width_bytes, "big")


class _Hashlib:
    """A hashlib hash behind the ``Checksum`` protocol."""

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()


def _crc_function(algorithm: str) -> Callable[[bytes, int], int]:
    if algorithm == "CRC32":
        return zlib.crc32
    if algorithm == "CRC32C":
        return crt_checksums.crc32c  # type: ignore[no-any-return]
    return crt_checksums.crc64nvme  # type: ignore[no-any-return]


def new_checksum(algorithm: str) -> Checksum:
    """A fresh incremental checksum for one of ``ALGORITHMS`` (upper case, as S3 names them)."""
    algorithm = _known(algorithm)
    if algorithm in CRC_ALGORITHMS:
        return _Crc(algorithm, _crc_function(algorithm))
    return _Hashlib(algorithm.lower())


def _known(algorithm: str) -> str:
    name = algorithm.upper()
    if name not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    return name


def header_name(algorithm: str) -> str:
    """The request/response header carrying ``algorithm``'s value: ``x-amz-checksum-crc32``."""
    return f"x-amz-checksum-{_known(algorithm).lower()}"


def to_b64(digest: bytes) -> str:
    """Base64 text of a digest, as it travels in ``x-amz-checksum-*`` and XML."""
    return base64.b64encode(digest).decode("ascii")


def from_b64(value: str, algorithm: str) -> bytes:
    """Decode a client's ``x-amz-checksum-*`` value, checking it is a digest of the right size.

    Raises MalformedChecksum, which S3 answers with ``400 InvalidRequest``
    "Value for x-amz-checksum-crc32 header is invalid."
    """
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != DIGEST_BYTES[_known(algorithm)]:
        raise MalformedChecksum(f"Value for {header_name(algorithm)} header is invalid.")
    return digest


class MultiHasher:
    """MD5 (for the ETag), requested checksums and optionally SHA-256, fed from one stream.

    ``update`` may run in a worker thread for large blocks: hashlib releases the GIL there.
    """

    def __init__(self, algorithms: Iterable[str] = (), *, want_sha256_hex: bool = False) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._checksums = {_known(name): new_checksum(name) for name in algorithms}
        self._sha256 = hashlib.sha256() if want_sha256_hex else None
        self.bytes_hashed = 0

    def update(self, data: bytes) -> None:
        """Feed the next block of the body to every hash."""
        self._md5.update(data)
        for checksum in self._checksums.values():
            checksum.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        self.bytes_hashed += len(data)

    @property
    def md5_digest(self) -> bytes:
        return self._md5.digest()

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def checksum(self, algorithm: str) -> bytes:
        """The digest of a checksum requested at construction (KeyError if it was not)."""
        return self._checksums[_known(algorithm)].digest()

    @property
    def sha256_hex(self) -> str:
        if self._sha256 is None:
            raise RuntimeError("MultiHasher was created without want_sha256_hex=True")
        return self._sha256.hexdigest()


def composite_checksum(algorithm: str, part_digests: Sequence[bytes]) -> str:
    """A multipart COMPOSITE checksum: ``base64(hash(part digests concatenated))-<parts>``."""
    checksum = new_checksum(algorithm)
    checksum.update(b"".join(part_digests))
    return f"{to_b64(checksum.digest())}-{len(part_digests)}"


def combine_crc(algorithm: str, crc_a: bytes, crc_b: bytes, len_b: int) -> bytes:
    """The CRC of ``a + b`` from the CRCs of ``a`` and ``b`` and the length of ``b``.

    For FULL_OBJECT checksums of multipart uploads. CRCs are linear over GF(2): shifting ``a``'s
    CRC by ``len_b`` zero bytes is a multiplication by ``x^(8*len_b)`` modulo the polynomial,
    and the all-ones initial and final values cancel out (the zlib ``crc32_combine`` method).
    """
    algorithm = _known(algorithm)
    if algorithm not in CRC_ALGORITHMS:
        raise ValueError(f"{algorithm} is not a CRC")
    width_bits = DIGEST_BYTES[algorithm] * 8
    poly = _REFLECTED_POLYNOMIALS[algorithm]
    shift = _x_pow_8n_mod_p(len_b, poly, width_bits)
    combined = _multiply_mod_p(shift, int.from_bytes(crc_a, "big"), poly, width_bits)
    combined ^= int.from_bytes(crc_b, "big")
    return combined.to_bytes(DIGEST_BYTES[algorithm], "big")


def _multiply_mod_p(a: int, b: int, poly: int, width_bits: int) -> int:
    """``a * b`` modulo the polynomial, both in reflected bit order (x^0 is the top bit)."""
    product = 0
    bit = 1 << (width_bits - 1)
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


@functools.cache
def _x_pow_2k_mod_p(k: int, poly: int, width_bits: int) -> int:
    """``x^(2^k)`` modulo the polynomial, by repeated squaring of ``x``."""
    if k == 0:
        return 1 << (width_bits - 2)  # x^1 in reflected order
    half = _x_pow_2k_mod_p(k - 1, poly, width_bits)
    return _multiply_mod_p(half, half, poly, width_bits)


def _x_pow_8n_mod_p(byte_count: int, poly: int, width_bits: int) -> int:
    """``x^(8*byte_count)`` modulo the polynomial: the shift past ``byte_count`` zero bytes."""
    result = 1 << (width_bits - 1)  # x^0
    k = 3  # 8 = 2^3
    while byte_count:
        if byte_count & 1:
            result = _multiply_mod_p(_x_pow_2k_mod_p(k, poly, width_bits), result, poly, width_bits)
        byte_count >>= 1
        k += 1
    return result
