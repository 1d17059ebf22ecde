"""Errors of the chunk daemon client: what went wrong, in the gateway's terms, never aiohttp's."""

from __future__ import annotations


class ChunkServerError(Exception):
    """A chunk daemon request failed; ``status`` is the HTTP status when there was an answer."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(f"{message} ({url}" + (f", HTTP {status})" if status else ")"))
        self.message = message
        self.url = url
        self.status = status


class ChunkServerUnavailable(ChunkServerError):
    """The daemon could not be reached or stopped answering (refused, reset, timed out)."""


class ChunkNotFound(ChunkServerError):
    """The daemon holds no chunk with this id (404)."""


class ChunkConflict(ChunkServerError):
    """A chunk with this id exists with different content (409)."""


class ChunkServerFull(ChunkServerError):
    """The daemon has no room for the chunk (507)."""


class ChunkCorrupt(ChunkServerError):
    """The data failed its checksum on upload (400) or the stored chunk is corrupt (422)."""


class ChunkRequestRejected(ChunkServerError):
    """The daemon refused the request for another reason (other 4xx, e.g. 401, 416)."""


CHECKSUM_MISMATCH_MESSAGE = "checksum mismatch"


def error_for_status(status: int, message: str, url: str) -> ChunkServerError:
    """The error matching an HTTP error answer of a chunk daemon."""
    error_type: type[ChunkServerError]
    if status == 404:
        error_type = ChunkNotFound
    elif status == 409:
        error_type = ChunkConflict
    elif status == 507:
        error_type = ChunkServerFull
    elif status == 422 or (status == 400 and message == CHECKSUM_MISMATCH_MESSAGE):
        error_type = ChunkCorrupt
    elif 400 <= status < 500:
        error_type = ChunkRequestRejected
    elif status in (502, 503, 504):
        error_type = ChunkServerUnavailable
    else:
        error_type = ChunkServerError
    return error_type(message, url=url, status=status)
