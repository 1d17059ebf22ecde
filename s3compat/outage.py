"""What any layer raises when something beneath it cannot be reached just now.

The catalog raises `Unavailable` when its database is down, restarting, out of room or locked
past its busy timeout; the API answers it 503 ServiceUnavailable, which S3 clients retry, instead
of a 500 for a fault that is not the request's. It is raised below the store and answered above
it, so it lives beside neither.
"""

from __future__ import annotations


class Unavailable(Exception):
    """A service the request needs cannot be reached now: nothing was done, or (a write cut off
    at its commit) its outcome is unknown, as with any request whose answer is lost."""
