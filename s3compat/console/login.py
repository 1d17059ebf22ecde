"""Logging in with an access key and its secret, and out."""

from __future__ import annotations

import hmac

from aiohttp import web

from s3compat.console import csrf
from s3compat.console.pages import PREFIX, console_of, render, see_other
from s3compat.console.session import clear_session_cookie, set_session_cookie


def _login_page(request: web.Request, message: str | None, status: int = 200) -> web.Response:
    """The form, with a fresh double-submit token in the form and in a cookie."""
    token = console_of(request).login_tokens.issue()
    response = render(request, "login.html", {"message": message, "login_token": token}, status)
    response.set_cookie(
        csrf.LOGIN_COOKIE, token, max_age=csrf.LOGIN_TOKEN_SECONDS, path=PREFIX,
        httponly=True, samesite="Strict", secure=request.secure,
    )  # fmt: skip
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request, None)


async def login(request: web.Request) -> web.StreamResponse:
    """Check the key pair against the user's; a session cookie if it matches."""
    console = console_of(request)
    form = await request.post()
    field = form.get(csrf.CSRF_FIELD)
    if not csrf.same_origin(request) or not console.login_tokens.check(
        request.cookies.get(csrf.LOGIN_COOKIE), field if isinstance(field, str) else None
    ):
        return _login_page(request, "The login form expired: try again.", status=403)
    access_key = str(form.get("access_key", "")).strip()
    secret_key = str(form.get("secret_key", ""))
    user = await console.stores.buckets.user(access_key) if access_key else None
    # One answer for an unknown key and a wrong secret: the form does not say which keys exist.
    if user is None or not hmac.compare_digest(user.secret_key.encode(), secret_key.encode()):
        return _login_page(request, "Wrong access key or secret.", status=403)
    response = see_other(f"{PREFIX}/")
    cookie = console.signer.issue(user.access_key, user.secret_key)
    set_session_cookie(response, request, cookie, console.signer.max_age_seconds)
    response.del_cookie(csrf.LOGIN_COOKIE, path=PREFIX)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = see_other(f"{PREFIX}/login")
    clear_session_cookie(response)
    return response
