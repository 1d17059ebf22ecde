"""The stores an S3 request may use, handed to the API as one bundle."""

from __future__ import annotations

from dataclasses import dataclass

from s3compat.store.buckets import BucketStore
from s3compat.store.objects import ObjectStore
from s3compat.store.servers import ServerRegistry
from s3compat.store.uploads import UploadStore


@dataclass(frozen=True)
class Stores:
    objects: ObjectStore
    uploads: UploadStore
    buckets: BucketStore
    servers: ServerRegistry
