"""Cross-site request forgery: every state-changing console request proves it came from a
console page.

A logged-in form carries the session's token (a hidden `csrf_token` field, or the
`X-CSRF-Token` header for the page's own fetches), compared in constant time with the one in
the signed session cookie. The login form, before there is a session, uses a signed
double-submit token: the same value in a cookie and in the form. Independently, a request
whose `Origin` (or `Sec-Fetch-Site`) says it came from another site is refused. The session
cookie is SameSite=Strict as a third line.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "s3c_login"
LOGIN_TOKEN_SECONDS = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request came from another origin."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


async def submitted_token(request: web.Request) -> str | None:
    """The token a request carries: its header, else its form's field."""
    token = request.headers.get(CSRF_HEADER)
    if token is not None:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def tokens_match(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class LoginTokens:
    """Signed double-submit tokens for the login form."""

    def __init__(self, key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="s3compat.console.login")

    def issue(self) -> str:
        return self._serializer.dumps(secrets.token_urlsafe(16))

    def check(self, cookie: str | None, field: str | None) -> bool:
        """The form's token is the cookie's, and it is one this server signed lately."""
        if not cookie or not tokens_match(cookie, field):
            return False
        try:
            self._serializer.loads(cookie, max_age=LOGIN_TOKEN_SECONDS)
        except BadSignature:
            return False
        return True
