"""Talking to the console as a browser would, without one: a cookie-keeping HTTP client that
reads the CSRF tokens out of the pages it gets."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urlencode

CONSOLE_PATH = "/-/console"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@dataclass(frozen=True)
class ConsoleUser:
    access_key: str
    secret_key: str


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]
    url: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ConsoleClient:
    """One browser's worth of cookies against one console; redirects are not followed."""

    def __init__(self, endpoint: str) -> None:
        self.base = endpoint + CONSOLE_PATH
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )
        self.csrf_token = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = body
        sent = dict(headers or {})
        if form is not None:
            data = urlencode(form).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with self._opener.open(request, timeout=30) as answer:
                found = Answer(answer.status, answer.read().decode(), dict(answer.headers), url)
        except urllib.error.HTTPError as error:
            found = Answer(error.code, error.read().decode(), dict(error.headers), url)
        token = _META_TOKEN.search(found.body)
        if token and token.group(1):
            self.csrf_token = unescape(token.group(1))
        return found

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str], *, token: bool = True) -> Answer:
        fields = {"csrf_token": self.csrf_token, **form} if token else form
        return self.request("POST", path, form=fields)

    def login(self, user: ConsoleUser, secret_key: str | None = None) -> Answer:
        page = self.get("/login")
        match = _TOKEN.search(page.body)
        assert match, page.body
        return self.request(
            "POST",
            "/login",
            form={
                "csrf_token": unescape(match.group(1)),
                "access_key": user.access_key,
                "secret_key": user.secret_key if secret_key is None else secret_key,
            },
        )

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def set_cookie(self, name: str, value: str, host: str = "127.0.0.1") -> None:
        self.cookies.set_cookie(
            http.cookiejar.Cookie(
                0, name, value, None, False, host, False, False, CONSOLE_PATH, True, False,
                None, False, None, None, {},
            )
        )  # fmt: skip


def logged_in(endpoint: str, user: ConsoleUser) -> ConsoleClient:
    client = ConsoleClient(endpoint)
    answer = client.login(user)
    assert answer.status == 303, (answer.status, answer.body)
    client.get("/buckets")  # picks up the session's CSRF token
    assert client.csrf_token
    return client
