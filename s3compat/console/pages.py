"""What every console page uses: the console's services, who is logged in, rendering, links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from s3compat.config import GatewayConfig
from s3compat.console import csrf
from s3compat.console.session import Session, SessionSigner
from s3compat.records import ROOT_USER, UserRecord
from s3compat.store.status import ClusterStatus
from s3compat.store.stores import Stores

PREFIX = "/-/console"
USER = "s3compat.console.user"
SESSION = "s3compat.console.session"


@dataclass(frozen=True)
class Console:
    """What the console's handlers use."""

    stores: Stores
    status: ClusterStatus
    config: GatewayConfig
    signer: SessionSigner
    login_tokens: csrf.LoginTokens


CONSOLE_KEY = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def user_of(request: web.Request) -> UserRecord:
    user = request.get(USER)
    assert isinstance(user, UserRecord)
    return user


def session_of(request: web.Request) -> Session:
    session = request.get(SESSION)
    assert isinstance(session, Session)
    return session


def is_admin(user: UserRecord) -> bool:
    """The cluster's administrator: the root user `s3compat cluster` made."""
    return user.name == ROOT_USER


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A page, with what every page shows (who is logged in, the CSRF token)."""
    user = request.get(USER)
    session = request.get(SESSION)
    page = {
        "user": user,
        "admin": isinstance(user, UserRecord) and is_admin(user),
        "csrf_token": session.csrf_token if isinstance(session, Session) else "",
        "prefix": PREFIX,
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def see_other(location: str) -> web.Response:
    """A redirect after a form post (returned, not raised: the gateway's S3 middleware
    would render a raised one as an S3 error)."""
    return web.Response(status=303, headers={"Location": location})


def link(path: str, **query: str) -> str:
    """A console URL with its query encoded (keys may hold any character)."""
    wanted = {name: value for name, value in query.items() if value}
    return f"{PREFIX}{path}" + (f"?{urlencode(wanted)}" if wanted else "")


def size_text(value: int) -> str:
    """Bytes for a person: 1.5 MiB."""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def when_text(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
