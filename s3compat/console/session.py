"""The console's login session: a signed, expiring cookie naming the user.

The cookie holds the user's access key, a per-session CSRF token and a fingerprint of the
user's secret, signed with a key derived from the cluster secret (so every gateway of a cluster
accepts it and a restart keeps people logged in) and time-stamped: `itsdangerous` refuses a
cookie whose signature does not match or that is older than the session's lifetime. A new
secret for the user (`admin user add NAME` again) changes the fingerprint and ends their
sessions. The secret itself never leaves the server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "s3c_session"
# A session lasts this long after login; then the user logs in again.
SESSION_SECONDS = 8 * 3600
_SALT = "s3compat.console.session"
_KEY_LABEL = b"s3compat console session key v1"


@dataclass(frozen=True)
class Session:
    access_key: str
    csrf_token: str
    secret_fingerprint: str


def secret_fingerprint(signing_key: bytes, secret_key: str) -> str:
    """A short keyed digest of the user's secret: it changes when the secret does."""
    digest = hmac.new(signing_key, secret_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:32]


class SessionSigner:
    """Issues and reads session cookies."""

    def __init__(self, cluster_secret: str, max_age_seconds: int = SESSION_SECONDS) -> None:
        self.key = hmac.new(cluster_secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()
        self.max_age_seconds = max_age_seconds
        self._serializer = URLSafeTimedSerializer(self.key, salt=_SALT)

    def issue(self, access_key: str, secret_key: str) -> str:
        """A new session's cookie value, with a fresh CSRF token."""
        return self._serializer.dumps(
            {
                "k": access_key,
                "c": secrets.token_urlsafe(24),
                "f": secret_fingerprint(self.key, secret_key),
            }
        )

    def read(self, value: str | None) -> Session | None:
        """The session a cookie value holds; None if it is forged, damaged or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if not isinstance(data, dict):
            return None
        fields = (data.get("k"), data.get("c"), data.get("f"))
        if not all(isinstance(item, str) and item for item in fields):
            return None
        access_key, csrf_token, fingerprint = fields
        assert isinstance(access_key, str) and isinstance(csrf_token, str)
        assert isinstance(fingerprint, str)
        return Session(access_key, csrf_token, fingerprint)

    def matches(self, session: Session, secret_key: str) -> bool:
        """Whether the session was issued for the user's current secret."""
        return hmac.compare_digest(
            session.secret_fingerprint, secret_fingerprint(self.key, secret_key)
        )


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, value: str, max_age: int
) -> None:
    """HttpOnly, SameSite=Strict, limited to the console's path; Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/-/console",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/-/console")
