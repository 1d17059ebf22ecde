"""Reading a request body: which bytes are the payload, and what the client claims about them."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from aiohttp import web

from s3compat.api import errors
from s3compat.api.auth.chunked import AwsChunkedReader
from s3compat.api.auth.model import AuthResult
from s3compat.api.spool import sends_chunked, spool
from s3compat.api.stalls import PacedBody
from s3compat.api.xml import MAX_XML_BYTES
from s3compat.store.checksums import ALGORITHMS, from_b64, header_name
from s3compat.store.pieces import ByteSource
from s3compat.store.writechecks import WriteChecks, verify_body

HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_SINGLE_PUT_BYTES = 5 * 1024**3


async def payload(
    request: web.Request,
    auth: AuthResult,
    *,
    max_bytes: int = MAX_SINGLE_PUT_BYTES,
    object_checksums: bool = False,
) -> tuple[ByteSource, int, WriteChecks]:
    """The decoded body source, its length and the digests to verify, for a PUT of data.

    `object_checksums`: the request's x-amz-checksum-* headers describe an object, not this
    body (CompleteMultipartUpload), so they are not checked against it.
    """
    headers = request.headers
    content_sha256 = auth.content_sha256 or ""
    checks = header_checks(headers, with_checksums=not object_checksums)
    if content_sha256.startswith("STREAMING-"):
        size = _declared_length(headers.get("x-amz-decoded-content-length"))
        trailer_names = [
            name.strip().lower()
            for name in headers.get("x-amz-trailer", "").split(",")
            if name.strip()
        ]
        reader = AwsChunkedReader(
            PacedBody(request.content.read),
            decoded_length=size,
            signing=auth.streaming,
            trailer_names=trailer_names,
        )
        trailer_algorithms = {_algorithm_of_header(name): name for name in trailer_names}
        if trailer_algorithms:
            algorithm = next(iter(trailer_algorithms))
            checks = WriteChecks(
                content_md5=checks.content_md5,
                checksums=checks.checksums,
                algorithm=algorithm,
                trailer_checksums=lambda: _trailer_values(reader, trailer_algorithms),
                trailer_algorithms=tuple(trailer_algorithms),
            )
        source: ByteSource = reader
    else:
        if sends_chunked(request):
            source, size = await spool(request, max_bytes)
        elif request.content_length is None:
            raise errors.MissingContentLength()
        else:
            size = request.content_length
            source = PacedBody(request.content.read)
        if HEX_SHA256.match(content_sha256):
            checks = WriteChecks(
                content_md5=checks.content_md5,
                sha256_hex=content_sha256,
                checksums=checks.checksums,
                algorithm=checks.algorithm,
            )
    if size > max_bytes:
        raise errors.EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(max_bytes))
    return source, size, checks


def _declared_length(value: str | None) -> int:
    if value is None:
        raise errors.MissingContentLength()
    if not value.isdigit():
        raise errors.InvalidArgument("x-amz-decoded-content-length is not a number")
    return int(value)


def _algorithm_of_header(name: str) -> str:
    algorithm = name.removeprefix("x-amz-checksum-").upper()
    if not name.startswith("x-amz-checksum-") or algorithm not in ALGORITHMS:
        raise errors.InvalidRequest(
            f"The value specified in the x-amz-trailer header is not supported: {name}"
        )
    return algorithm


def _trailer_values(reader: AwsChunkedReader, algorithms: dict[str, str]) -> dict[str, str]:
    values = {}
    for algorithm, name in algorithms.items():
        value = reader.trailers.get(name)
        if value is None:
            raise errors.InvalidRequest(f"The trailer {name} was announced but not sent")
        from_b64(value, algorithm)
        values[algorithm] = value.strip()
    return values


def header_checks(headers: Mapping[str, str], *, with_checksums: bool = True) -> WriteChecks:
    """Content-MD5 and x-amz-checksum-* headers (or a form's fields of those names),
    validated for shape (not yet for value)."""
    content_md5 = None
    if "Content-MD5" in headers:
        content_md5 = decode_content_md5(headers["Content-MD5"])
    if not with_checksums:
        return WriteChecks(content_md5=content_md5)
    checksums = {}
    for name in ALGORITHMS:
        value = headers.get(header_name(name))
        if value is not None:
            from_b64(value, name)
            checksums[name] = value.strip()
    if len(checksums) > 1:
        raise errors.InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    requested = headers.get("x-amz-sdk-checksum-algorithm") or headers.get(
        "x-amz-checksum-algorithm"
    )
    algorithm: str | None = None
    if requested is not None:
        algorithm = requested.upper()
        if algorithm not in ALGORITHMS:
            raise errors.InvalidRequest(
                "Checksum algorithm provided is unsupported. Please try again with any of the "
                "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            )
    return WriteChecks(content_md5=content_md5, checksums=checksums, algorithm=algorithm)


def decode_content_md5(value: str) -> bytes:
    """A Content-MD5 header as 16 bytes, or InvalidDigest."""
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


async def read_document(
    request: web.Request,
    auth: AuthResult,
    *,
    limit: int = MAX_XML_BYTES,
    object_checksums: bool = False,
) -> bytes:
    """A small request body (an XML document) read whole, with every digest the client sent
    verified (see `payload` for `object_checksums`). Bodies over `limit` are refused before
    they are read."""
    source, size, checks = await payload(
        request, auth, max_bytes=limit, object_checksums=object_checksums
    )
    blocks = []
    remaining = size
    while remaining:
        block = await source.read(remaining)
        if not block:
            raise errors.IncompleteBody()
        blocks.append(block)
        remaining -= len(block)
    if await source.read(1):
        raise errors.IncompleteBody("the body is longer than its declared length")
    document = b"".join(blocks)
    hasher = checks.hasher()
    hasher.update(document)
    verify_body(checks, hasher)
    return document
