"""Requests refused by aiohttp's HTTP parser before the S3 layer sees them.

aiohttp answers a request whose header section breaks its limits (a field over
`MAX_HEADER_BYTES`, more than `MAX_HEADERS` fields) with a plain-text 400 of its own. Invariant:
every error a client gets is an S3 XML document, so those answers become S3's
`RequestHeaderSectionTooLarge`. Other framing errors (a malformed request line, broken chunk
framing) keep aiohttp's bare 400, as S3's front end answers them.

aiohttp has no public hook for this: the gateway's server makes its connection handlers of a
subclass that overrides `handle_error` (see `answer_parser_errors_as_s3`). The bad-input corpus
(tests/security) covers it, so a change in aiohttp shows there.
"""

from __future__ import annotations

import secrets

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from s3compat.api import errors, xml

MAX_HEADER_BYTES = 16 * 1024
# S3 bounds the header section by size (8 KB for a PUT); aiohttp also bounds the number of
# fields. 200 small headers fit in S3's limit, so allow that many here.
MAX_HEADERS = 256


class S3RequestHandler(RequestHandler):
    """A connection handler that answers header-section refusals as S3 XML."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own handling logs the error and refuses (ConnectionError) once part of an
        # answer went out; its plain-text answer is kept only for other errors.
        answer = super().handle_error(request, status, exc, message)
        if not _header_section_too_large(exc):
            return answer
        error = errors.RequestHeaderSectionTooLarge()
        request_id = secrets.token_hex(8).upper()
        body = xml.error_xml(error.code, error.message, None, request_id, {})
        response = web.Response(
            status=error.status,
            body=body,
            content_type="application/xml",
            headers={"x-amz-request-id": request_id, "x-amz-id-2": request_id},
        )
        response.force_close()
        return response


class S3Server(web.Server):
    """The low-level server, making `S3RequestHandler`s."""

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = S3RequestHandler  # same slots: only the methods differ
        return handler


def answer_parser_errors_as_s3(runner: web.BaseRunner) -> None:
    """After `runner.setup()`: its server answers header-section refusals as S3 XML."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up first")
    server.__class__ = S3Server


def _header_section_too_large(exc: BaseException | None) -> bool:
    if isinstance(exc, LineTooLong):
        return True
    return isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc)
