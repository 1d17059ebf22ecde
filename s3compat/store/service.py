"""What the store's services that place, read, move or rebuild chunks hold in common."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from s3compat.catalog.catalog import Catalog
from s3compat.cluster.client import ChunkClient
from s3compat.cluster.membership import Membership


@dataclass(eq=False)
class ChunkService:
    """The catalog that records the chunks, the chunk servers and this gateway's view of them,
    the id of this process (its intents carry it) and how long replaced chunks stay for
    readers. Services are compared by identity, not by what they hold."""

    catalog: Catalog
    client: ChunkClient
    membership: Membership
    _: KW_ONLY
    gateway_id: str
    grace_seconds: float
