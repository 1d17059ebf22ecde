"""Process trees and their peak resident memory, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
KIB = 1024


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (any thread of it)."""
    found: list[int] = []
    task_dir = PROC / str(pid) / "task"
    try:
        threads = os.listdir(task_dir)
    except OSError:
        return found
    for thread in threads:
        try:
            found += [int(c) for c in (task_dir / thread / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now."""
    pids = [pid]
    index = 0
    while index < len(pids) and len(pids) < 10_000:
        pids += children_of(pids[index])
        index += 1
    return pids


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the peak resident set size since start or since the last `reset_peak`."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reset_peak(pids: list[int]) -> bool:
    """Restart VmHWM from the current RSS (Linux >= 4.0, needs ptrace rights over the pids)."""
    ok = True
    for pid in pids:
        try:
            (PROC / str(pid) / "clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def sum_peak_rss_bytes(pids: list[int]) -> int:
    return sum(peak_rss_bytes(pid) for pid in pids)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes (threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / ticks
