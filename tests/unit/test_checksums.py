"""Checksums match the standard vectors, stream like one-shot, and combine like concatenation."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt_checksums
from botocore import httpchecksum  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from s3compat.store.checksums import (
    ALGORITHMS,
    CRC_ALGORITHMS,
    MultiHasher,
    combine_crc,
    composite_checksum,
    from_b64,
    header_name,
    new_checksum,
    to_b64,
)
from s3compat.store.errors import MalformedChecksum

# The "check" values of the CRC catalogue (CRC-32/ISO-HDLC, CRC-32/ISCSI, CRC-64/NVME) and the
# FIPS digests of b"123456789".
CHECK_VALUES = {
    "CRC32": "cbf43926",
    "CRC32C": "e3069283",
    "CRC64NVME": "ae8b14860a799888",
    "SHA1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
    "SHA256": "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
}

BOTOCORE_CLASSES = {
    "CRC32": httpchecksum.Crc32Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
}


def digest_of(algorithm: str, data: bytes) -> bytes:
    checksum = new_checksum(algorithm)
    checksum.update(data)
    return checksum.digest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_check_values(algorithm: str) -> None:
    assert digest_of(algorithm, b"123456789").hex() == CHECK_VALUES[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_base64_matches_what_botocore_sends(algorithm: str) -> None:
    data = b"hello world\n" * 1000
    botocore_checksum = BOTOCORE_CLASSES[algorithm]()
    botocore_checksum.update(data)
    assert to_b64(digest_of(algorithm, data)) == botocore_checksum.b64digest()


def test_empty_digests_and_sizes() -> None:
    sizes = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}
    for algorithm in ALGORITHMS:
        assert len(digest_of(algorithm, b"")) == sizes[algorithm]
    assert to_b64(digest_of("CRC32", b"")) == "AAAAAA=="


@settings(max_examples=50)
@given(algorithm=st.sampled_from(ALGORITHMS), blocks=st.lists(st.binary(max_size=300), max_size=6))
def test_streaming_equals_one_shot(algorithm: str, blocks: list[bytes]) -> None:
    streamed = new_checksum(algorithm)
    for block in blocks:
        streamed.update(block)
    assert streamed.digest() == digest_of(algorithm, b"".join(blocks))


def test_header_names() -> None:
    assert header_name("CRC32") == "x-amz-checksum-crc32"
    assert header_name("crc64nvme") == "x-amz-checksum-crc64nvme"
    with pytest.raises(ValueError):
        header_name("MD5")


def test_from_b64_round_trip() -> None:
    digest = digest_of("SHA256", b"x")
    assert from_b64(to_b64(digest), "SHA256") == digest


@pytest.mark.parametrize(
    ("value", "algorithm"),
    [
        ("not base64!", "CRC32"),
        ("", "CRC32"),
        ("AAAA", "CRC32"),  # 3 bytes
        ("AAAAAAAA", "CRC32"),  # 6 bytes
        ("AAAAAA==", "CRC64NVME"),  # a CRC32-sized value for a 64-bit CRC
        ("AAAAAA=", "CRC32C"),  # bad padding
    ],
)
def test_from_b64_refuses_malformed_values(value: str, algorithm: str) -> None:
    with pytest.raises(MalformedChecksum, match=f"Value for {header_name(algorithm)} header"):
        from_b64(value, algorithm)


def test_multi_hasher_feeds_every_hash() -> None:
    data = [b"abc", b"", b"def" * 1000]
    hasher = MultiHasher(["CRC32", "sha256"], want_sha256_hex=True)
    for block in data:
        hasher.update(block)
    whole = b"".join(data)
    assert hasher.md5_hex == hashlib.md5(whole).hexdigest()
    assert hasher.md5_digest == hashlib.md5(whole).digest()
    assert hasher.checksum("CRC32") == zlib.crc32(whole).to_bytes(4, "big")
    assert hasher.checksum("SHA256") == hashlib.sha256(whole).digest()
    assert hasher.sha256_hex == hashlib.sha256(whole).hexdigest()
    assert hasher.bytes_hashed == len(whole)
    with pytest.raises(KeyError):
        hasher.checksum("CRC32C")


def test_multi_hasher_without_sha256() -> None:
    with pytest.raises(RuntimeError):
        _ = MultiHasher().sha256_hex


def test_composite_checksum_format() -> None:
    parts = [b"a" * 10, b"b" * 7]
    part_digests = [digest_of("CRC32", part) for part in parts]
    expected_hash = zlib.crc32(b"".join(part_digests)).to_bytes(4, "big")
    value = composite_checksum("CRC32", part_digests)
    assert value == base64.b64encode(expected_hash).decode() + "-2"
    # botocore recognises the "-N" suffix and skips validating a composite checksum.
    assert "-" in value
    encoded, _, count = value.rpartition("-")
    assert len(base64.b64decode(encoded, validate=True)) == 4 and count == "2"


def test_composite_sha256() -> None:
    part_digests = [hashlib.sha256(b"p1").digest(), hashlib.sha256(b"p2").digest()]
    expected = to_b64(hashlib.sha256(b"".join(part_digests)).digest()) + "-2"
    assert composite_checksum("SHA256", part_digests) == expected


@settings(max_examples=60)
@given(
    algorithm=st.sampled_from(CRC_ALGORITHMS), a=st.binary(max_size=200), b=st.binary(max_size=200)
)
def test_combine_equals_concatenation(algorithm: str, a: bytes, b: bytes) -> None:
    combined = combine_crc(algorithm, digest_of(algorithm, a), digest_of(algorithm, b), len(b))
    assert combined == digest_of(algorithm, a + b)


@pytest.mark.parametrize("algorithm", CRC_ALGORITHMS)
def test_combine_over_many_parts_and_large_lengths(algorithm: str) -> None:
    parts = [bytes([i]) * (1000 * i + 1) for i in range(1, 8)]
    running = digest_of(algorithm, b"")
    for part in parts:
        running = combine_crc(algorithm, running, digest_of(algorithm, part), len(part))
    assert running == digest_of(algorithm, b"".join(parts))
    # Lengths of real parts (5 GiB) exercise high powers of x; awscrt agrees with our math.
    crt_combine = {
        "CRC32": crt_checksums.combine_crc32,
        "CRC32C": crt_checksums.combine_crc32c,
        "CRC64NVME": crt_checksums.combine_crc64nvme,
    }[algorithm]
    width = 8 if algorithm == "CRC64NVME" else 4
    crc_a, crc_b, len_b = 0x12345678, 0x0BADF00D, 5 * 1024**3 + 17
    ours = combine_crc(algorithm, crc_a.to_bytes(width, "big"), crc_b.to_bytes(width, "big"), len_b)
    assert int.from_bytes(ours, "big") == crt_combine(crc_a, crc_b, len_b)


def test_combine_refuses_non_crc() -> None:
    with pytest.raises(ValueError):
        combine_crc("SHA256", b"", b"", 0)
