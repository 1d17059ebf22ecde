"""One module per operation group; `all_handlers()` is the gateway's operation table."""

from __future__ import annotations

from s3compat.api.app import Handler
from s3compat.api.operations import Op
from s3compat.api.ops import (
    acl,
    attributes,
    bucket,
    controls,
    copy,
    cors,
    delete,
    encryption,
    lifecycle,
    listing,
    multipart,
    object,
    objectlock,
    policy,
    post,
    tagging,
    versions,
)


def all_handlers() -> dict[Op, Handler]:
    """Operation name -> handler. Operations missing here are answered 501 NotImplemented."""
    table: dict[Op, Handler] = {}
    for module in (
        bucket,
        object,
        listing,
        delete,
        multipart,
        copy,
        acl,
        attributes,
        tagging,
        versions,
        lifecycle,
        objectlock,
        cors,
        policy,
        encryption,
        controls,
        post,
    ):
        overlap = table.keys() & module.HANDLERS.keys()
        assert not overlap, f"operations handled twice: {overlap}"
        table.update(module.HANDLERS)
    return table
