"""The chunk protocol's names, shared by the daemon (chunkd/wire.py) and its client in the
gateway (s3compat/cluster/client.py): one definition, so the two cannot drift apart."""

from __future__ import annotations

# A chunk's CRC32C (8 lowercase hex digits): sent with a PUT, answered by HEAD.
CRC_HEADER = "X-Chunk-CRC32C"
# A chunk's data length, answered by HEAD.
LENGTH_HEADER = "X-Chunk-Length"
