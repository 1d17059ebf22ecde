"""Free loopback ports for the processes the tests start."""

from __future__ import annotations

import random
import socket


def _ports_free(first: int, count: int) -> bool:
    sockets: list[socket.socket] = []
    try:
        for port in range(first, first + count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(probe)
            probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for probe in sockets:
            probe.close()


def free_port_block(count: int) -> int:
    """First port of `count` consecutive loopback ports that nobody listens on right now."""
    chooser = random.Random()
    for _ in range(200):
        first = chooser.randrange(20_000, 32_000)  # below the ephemeral range
        if _ports_free(first, count):
            return first
    raise RuntimeError(f"no block of {count} free loopback ports found")
