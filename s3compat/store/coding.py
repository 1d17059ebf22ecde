"""Reed-Solomon coding of stripes, by pyeclib (liberasurecode with Intel ISA-L's Cauchy code).

pyeclib cuts its input into k fragments and prefixes each fragment it returns with a header of
its own. The store keeps the data pieces as plain bytes of the object, so a stripe is handed
over already cut into 6 blocks of equal length (the shorter blocks of a last stripe padded with
zeros) and only the code blocks' payloads are kept. The headers depend only on the fragment's
index and length, never on the data (no fragment checksums are asked for), so to decode, each
block gets back the header that a stripe of its length would have had; those are made once per
length by coding zeros.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from pyeclib.ec_iface import ECDriver

from s3compat.store.stripes import DATA_PIECES

# Cauchy matrices give a code that recovers from any M losses for every 6+M (ISA-L's
# Vandermonde variant is not guaranteed to for larger M).
EC_TYPE = "isa_l_rs_cauchy"
MAX_PARITY = 4


class StripeCoder:
    """Computes a stripe's code blocks, and rebuilds lost blocks from any 6 of the 6+M."""

    def __init__(self, parity: int) -> None:
        if not 1 <= parity <= MAX_PARITY:
            raise ValueError(f"parity must be 1..{MAX_PARITY}, not {parity}")
        self.parity = parity
        self._driver = _driver(parity)

    def encode(self, blocks: list[bytes], code_bytes: int) -> list[bytes]:
        """The `parity` code blocks (each `code_bytes` long) of a stripe's 6 data blocks."""
        if len(blocks) != DATA_PIECES:
            raise ValueError(f"a stripe has {DATA_PIECES} data blocks, not {len(blocks)}")
        header = self._header_bytes(code_bytes)
        fragments = self._driver.encode(b"".join(_padded(b, code_bytes) for b in blocks))
        return [bytes(fragment[header:]) for fragment in fragments[DATA_PIECES:]]

    def rebuild(
        self, available: dict[int, bytes], code_bytes: int, wanted: list[int]
    ) -> dict[int, bytes]:
        """Blocks of roles `wanted` (data 0..5, parity 6..), from at least 6 blocks of other
        roles of the same stripe, each cut to `code_bytes` (data blocks of a last stripe are
        returned padded: the caller cuts them to their length)."""
        if len(available) < DATA_PIECES:
            raise ValueError(f"{len(available)} blocks cannot rebuild a stripe of {DATA_PIECES}")
        headers = self._headers(code_bytes)
        chosen = sorted(available)[:DATA_PIECES]
        fragments = [headers[role] + _padded(available[role], code_bytes) for role in chosen]
        rebuilt = self._driver.reconstruct(fragments, list(wanted))
        size = len(headers[0])
        return {role: bytes(block[size:]) for role, block in zip(wanted, rebuilt, strict=True)}

    def _header_bytes(self, code_bytes: int) -> int:
        return len(self._headers(code_bytes)[0])

    def _headers(self, code_bytes: int) -> tuple[bytes, ...]:
        return _headers_of(self.parity, code_bytes)


# One pyeclib instance per parity and thread, made at first use: making one costs more than
# coding a small object's stripe (profiled: 1.5 % of the gateway's busy time in 4 KiB PUTs),
# and an instance is not documented as safe to share between threads.
_DRIVERS = threading.local()


def _driver(parity: int) -> ECDriver:
    drivers: dict[int, ECDriver] = _DRIVERS.__dict__.setdefault("by_parity", {})
    driver = drivers.get(parity)
    if driver is None:
        driver = drivers[parity] = ECDriver(k=DATA_PIECES, m=parity, ec_type=EC_TYPE)
    return driver


@lru_cache(maxsize=64)
def _headers_of(parity: int, code_bytes: int) -> tuple[bytes, ...]:
    """pyeclib's header of every fragment of a stripe whose blocks are `code_bytes` long."""
    fragments = _driver(parity).encode(bytes(DATA_PIECES * code_bytes))
    header = len(fragments[0]) - code_bytes
    if header <= 0 or any(len(f) != header + code_bytes for f in fragments):
        raise RuntimeError(f"pyeclib fragments of {code_bytes} bytes are not as expected")
    return tuple(bytes(fragment[:header]) for fragment in fragments)


def _padded(block: bytes, length: int) -> bytes:
    return block if len(block) == length else block.ljust(length, b"\0")
