"""Request ids: 16 hex digits, the first 4 naming the process that answered."""

from __future__ import annotations

import os
import secrets

_PROCESS_TAGS: dict[int, str] = {}


def new_request_id() -> str:
    """A fresh request id. Its first 4 hex digits are this process's own: with several gateway
    workers on one port, request ids tell which one answered. Made per pid, so that a forked
    worker gets a tag of its own."""
    pid = os.getpid()
    tag = _PROCESS_TAGS.get(pid)
    if tag is None:
        tag = _PROCESS_TAGS[pid] = secrets.token_hex(2).upper()
    return tag + secrets.token_hex(6).upper()
