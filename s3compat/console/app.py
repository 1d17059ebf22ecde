"""The web console: an aiohttp sub-application at `/-/console` of the gateway.

Server-rendered pages (Jinja2 through aiohttp-jinja2) and a little plain JavaScript (uploads,
live cluster figures); no build step. Every page but the login needs a session (`session.py`);
every state-changing request needs its CSRF token (`csrf.py`). What a page shows or changes
goes through the store and the access rules of S3 requests (`gate.py`); bytes go through the
S3 API itself, by presigned URLs (`presign.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource

from s3compat.api.errormap import to_s3_error
from s3compat.api.errors import S3Error
from s3compat.config import GatewayConfig
from s3compat.console import csrf, routes
from s3compat.console.pages import (
    CONSOLE_KEY,
    PREFIX,
    SESSION,
    USER,
    Console,
    console_of,
    link,
    render,
    see_other,
    size_text,
    when_text,
)
from s3compat.console.session import SESSION_COOKIE, SessionSigner, clear_session_cookie
from s3compat.store.errors import StoreError
from s3compat.store.status import ClusterStatus
from s3compat.store.stores import Stores

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
# Routes anyone may reach: the login form and its post (static files are public too).
PUBLIC_ROUTES = frozenset({"login", "login_form"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Pages hold presigned links: never hand them on to another site in a Referer. (Not
    # no-referrer: with it, browsers send `Origin: null`, which the CSRF check refuses.)
    "Referrer-Policy": "same-origin",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LOGGED_OUT = {"code": "LoggedOut", "message": "Your session has ended: log in again."}
_BROKEN = {"code": "InternalError", "message": "Something went wrong; it has been logged."}
_FORGED = {
    "code": "InvalidCsrfToken",
    "message": "This form did not come from a console page of this session.",
}


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; errors as console pages, never as S3 XML."""
    try:
        response = await handler(request)
    except web.HTTPException as http_error:
        response = web.Response(
            status=http_error.status, text=http_error.text or http_error.reason,
            headers={k: v for k, v in http_error.headers.items() if k == "Location"},
        )  # fmt: skip
    except (S3Error, StoreError) as error:
        s3_error = to_s3_error(error) if isinstance(error, StoreError) else error
        response = render(
            request, "error.html", {"code": s3_error.code, "message": s3_error.message},
            status=s3_error.status if s3_error.status < 500 else 500,
        )  # fmt: skip
    except Exception:
        log.exception("console request %s %s failed", request.method, request.path)
        response = render(request, "error.html", _BROKEN, status=500)
    response.headers.update(SECURITY_HEADERS)
    return response


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login needs a valid session; every change its CSRF token."""
    route = request.match_info.route
    public = route.name in PUBLIC_ROUTES or isinstance(route.resource, StaticResource)
    if public or request.match_info.http_exception is not None:
        return await handler(request)  # not found answers 404 to anyone
    console = console_of(request)
    session = console.signer.read(request.cookies.get(SESSION_COOKIE))
    user = None if session is None else await console.stores.buckets.user(session.access_key)
    if session is None or user is None or not console.signer.matches(session, user.secret_key):
        if request.method in csrf.SAFE_METHODS and not (route.name or "").endswith("_json"):
            response = see_other(f"{PREFIX}/login")
        else:
            response = render(request, "error.html", _LOGGED_OUT, status=401)
        if SESSION_COOKIE in request.cookies:
            clear_session_cookie(response)
        return response
    request[USER] = user
    request[SESSION] = session
    if request.method not in csrf.SAFE_METHODS:
        token = await csrf.submitted_token(request)
        if not csrf.same_origin(request) or not csrf.tokens_match(session.csrf_token, token):
            return render(request, "error.html", _FORGED, status=403)
    return await handler(request)


def console_app(
    stores: Stores, status: ClusterStatus, config: GatewayConfig, cluster_secret: str
) -> web.Application:
    """The console's sub-application (mounted at PREFIX by `add_console`)."""
    app = web.Application(middlewares=[guard, require_session], client_max_size=64 * 1024)
    signer = SessionSigner(cluster_secret)
    app[CONSOLE_KEY] = Console(stores, status, config, signer, csrf.LoginTokens(signer.key))
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("s3compat.console", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["size"] = size_text
    environment.filters["when"] = when_text
    environment.globals["link"] = link
    routes.add_routes(app)
    app.router.add_static("/static", PACKAGE_DIR / "static")
    return app


def add_console(
    app: web.Application,
    stores: Stores,
    status: ClusterStatus,
    config: GatewayConfig,
    cluster_secret: str,
) -> None:
    """Serve the console at /-/console of the gateway `app` (its S3 catch-all is indexed
    under "/", and aiohttp resolves the longest matching prefix first)."""
    app.add_subapp(PREFIX, console_app(stores, status, config, cluster_secret))
