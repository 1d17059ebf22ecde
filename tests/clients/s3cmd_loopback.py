"""Run s3cmd with every `*.localhost` host name resolved to 127.0.0.1, so that virtual-host-style
addressing (`BUCKET.localhost:PORT`) works where the resolver does not map `*.localhost` to
loopback. Only name resolution changes: s3cmd still connects to `BUCKET.localhost:PORT` and
sends that as its Host header.

    PYTHON s3cmd_loopback.py LOG_FILE S3CMD_SCRIPT [s3cmd arguments...]

PYTHON is the interpreter of s3cmd's own `#!` line (it finds its `S3` package). Each name
resolved this way is appended to LOG_FILE, so a test can check that s3cmd really used it.
"""

from __future__ import annotations

import runpy
import socket
import sys
from typing import Any

LOOPBACK = "127.0.0.1"
_system_getaddrinfo = socket.getaddrinfo


def main() -> None:
    log_path, script = sys.argv[1], sys.argv[2]

    def getaddrinfo(host: Any, *arguments: Any, **options: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(name + "\n")
            host = LOOPBACK
        return _system_getaddrinfo(host, *arguments, **options)

    # http.client connects through socket.create_connection, which looks this name up in the
    # socket module each time.
    socket.getaddrinfo = getaddrinfo
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
