"""Process-wide allocator tuning for the gateway's large, short-lived buffers.

glibc serves allocations above its mmap threshold (128 KiB at start, then raised as such blocks
are freed) with fresh mmaps: every stripe buffer (1.5 MiB at 256 KiB blocks) is then page
faulted and zeroed anew. Measured on this project's 2-core machine: pyeclib encode of 6+2
stripes 0.4 GB/s that way, 5.4 GB/s with a fixed threshold of 64 MiB, so that such buffers are
reused from the heap. Not glibc (musl, macOS): nothing to do.

glibc also gives each thread that allocates while another holds the lock an arena of its own
(up to 8 per core), and each keeps the big buffers freed into it: the threads that hash and code
a stream's blocks made the gateway's peak RSS during 1 GiB boto3 transfers (10 parts in flight)
252-262 MiB. One arena for the process: 166 MiB, at the same throughput (two runs each; the
loop holds the GIL for most allocations anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 1
MMAP_THRESHOLD_BYTES = 64 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def tune_malloc() -> bool:
    """Fix glibc's mmap threshold (and keep freed heap for reuse) and its arenas to one; True
    if it was set. Call it before any thread is started."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = (
        bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        and bool(mallopt(M_ARENA_MAX, ARENAS))
    )
    if not done:
        log.info("could not tune malloc: stripe coding may be slower")
    return done
