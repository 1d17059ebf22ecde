"""CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from s3compat.api import errors
from s3compat.api.aclheaders import write_acl
from s3compat.api.app import Ctx, Handler
from s3compat.api.body import payload, read_document
from s3compat.api.copysource import copy_source_blocks
from s3compat.api.lockheaders import lock_for_write
from s3compat.api.objectmeta import (
    parse_tagging_header,
    stored_headers,
    version_header,
    write_condition,
)
from s3compat.api.operations import Op
from s3compat.api.ops.bucket import owner_xml, xml_response
from s3compat.api.ops.listing import bounded_count, encoder
from s3compat.api.sse import answer_headers, customer_key, seal_write
from s3compat.api.xml import Node, child_text, children, local, parse_xml, to_xml
from s3compat.records import UploadPartRecord, UploadRecord
from s3compat.store.checksums import ALGORITHMS, CRC_ALGORITHMS
from s3compat.store.pieces import IteratorSource
from s3compat.store.sse import Sealing, sealing_for_part
from s3compat.store.uploads import MAX_PART_BYTES, MAX_PART_NUMBER, RequestedPart
from s3compat.store.writechecks import WriteChecks

MAX_LISTED = 1000


def _part_number(ctx: Ctx) -> int:
    text = ctx.query.get("partNumber", "")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise errors.InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=text,
        )
    return int(text)


def _checksum_headers(algorithm: str | None, value: str | None, kind: str | None) -> dict[str, str]:
    if not algorithm or not value:
        return {}
    headers = {f"x-amz-checksum-{algorithm.lower()}": value}
    if kind:
        headers["x-amz-checksum-type"] = kind
    return headers


async def create_multipart_upload(ctx: Ctx) -> web.StreamResponse:
    headers = ctx.request.headers
    algorithm = headers.get("x-amz-checksum-algorithm")
    kind = headers.get("x-amz-checksum-type")
    if algorithm is not None:
        algorithm = algorithm.upper()
        if algorithm not in ALGORITHMS:
            raise errors.InvalidRequest("Checksum algorithm provided is unsupported.")
    if kind is not None:
        kind = kind.upper()
        if kind not in ("COMPOSITE", "FULL_OBJECT") or algorithm is None:
            raise errors.InvalidRequest("The x-amz-checksum-type header is not valid.")
        if kind == "FULL_OBJECT" and algorithm not in CRC_ALGORITHMS:
            raise errors.InvalidRequest(
                f"The FULL_OBJECT checksum type cannot be used with {algorithm}."
            )
    if algorithm is not None and kind is None:
        kind = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    acl, owner = await write_acl(ctx)
    # The upload keeps what its parts are sealed with (an SSE-S3 or SSE-KMS object key,
    # wrapped).
    encryption, _ = await seal_write(headers, ctx.buckets, ctx.bucket, ctx.objects)
    upload = await ctx.uploads.create(
        UploadRecord(
            upload_id="",
            bucket=ctx.bucket,
            key=ctx.key,
            owner=owner,
            initiated_at=0.0,
            headers={
                **stored_headers(headers),
                **await lock_for_write(ctx, headers),
                **encryption,
            },
            checksum_algorithm=algorithm,
            checksum_type=kind,
            acl=acl,
            tags=parse_tagging_header(headers.get("x-amz-tagging")),
        )
    )
    answer = {}
    if algorithm:
        answer = {"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": kind or ""}
    body = to_xml(
        "InitiateMultipartUploadResult",
        [("Bucket", ctx.bucket), ("Key", ctx.key), ("UploadId", upload.upload_id)],
    )
    response = xml_response(body)
    response.headers.update(answer)
    response.headers.update(answer_headers(upload.headers, context=True))
    return response


def _part_sealing(ctx: Ctx, upload: UploadRecord) -> Sealing | None:
    """A part is sealed as its upload: with the SSE-C key the upload began with (the part
    must carry it again), or the upload's SSE-S3 object key."""
    customer = customer_key(ctx.request.headers)
    return sealing_for_part(upload.headers, customer, ctx.objects.master_key, ctx.objects.keyring)


async def upload_part(ctx: Ctx) -> web.StreamResponse:
    number = _part_number(ctx)
    upload = await ctx.uploads.upload(ctx.bucket, ctx.key, ctx.query.get("uploadId", ""))
    sealing = _part_sealing(ctx, upload)
    source, size, checks = await payload(ctx.request, ctx.auth, max_bytes=MAX_PART_BYTES)
    part = await ctx.uploads.upload_part(upload, number, source, size, checks, sealing=sealing)
    headers = {"ETag": part.etag, **answer_headers(upload.headers)}
    headers.update(_checksum_headers(upload.checksum_algorithm, part.checksum, None))
    return web.Response(status=200, headers=headers)


async def upload_part_copy(ctx: Ctx) -> web.StreamResponse:
    number = _part_number(ctx)
    upload = await ctx.uploads.upload(ctx.bucket, ctx.key, ctx.query.get("uploadId", ""))
    sealing = _part_sealing(ctx, upload)
    copy = await copy_source_blocks(ctx, range_header="x-amz-copy-source-range")
    if copy.size > MAX_PART_BYTES:
        raise errors.EntityTooLarge()
    source = IteratorSource(copy.blocks)
    try:
        part = await ctx.uploads.upload_part(
            upload, number, source, copy.size, WriteChecks(), sealing=sealing
        )
    finally:
        await source.aclose()
    body: list[tuple[str, Node]] = [
        ("LastModified", datetime.fromtimestamp(part.last_modified, UTC)),
        ("ETag", part.etag),
    ]
    if upload.checksum_algorithm and part.checksum:
        body.append((f"Checksum{upload.checksum_algorithm}", part.checksum))
    response = xml_response(to_xml("CopyPartResult", body))
    response.headers.update(answer_headers(upload.headers))
    return response


def _requested_parts(document: bytes) -> list[RequestedPart]:
    root = parse_xml(document)
    if local(root) != "CompleteMultipartUpload":
        raise errors.MalformedXML()
    parts = []
    for element in children(root, "Part"):
        number = child_text(element, "PartNumber")
        etag = child_text(element, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise errors.MalformedXML()
        checksums = {}
        for algorithm in ALGORITHMS:
            value = child_text(element, f"Checksum{algorithm}")
            if value is not None:
                checksums[algorithm] = value.strip()
        parts.append(RequestedPart(int(number), etag, checksums))
    if not parts:
        raise errors.MalformedXML()
    return parts


async def complete_multipart_upload(ctx: Ctx) -> web.StreamResponse:
    condition = write_condition(ctx.request.headers)
    # x-amz-checksum-* here is the checksum of the object being completed, not of this body.
    requested = _requested_parts(await read_document(ctx.request, ctx.auth, object_checksums=True))
    upload_id = ctx.query.get("uploadId", "")
    full_object = None
    for algorithm in ALGORITHMS:
        value = ctx.request.headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value is not None:
            full_object = value.strip()
    record = await ctx.uploads.complete(
        ctx.bucket,
        ctx.key,
        upload_id,
        requested,
        full_object_checksum=full_object,
        condition=condition,
        customer=customer_key(ctx.request.headers),
    )
    scheme = "https" if ctx.config.tls_cert else "http"
    body: list[tuple[str, Node]] = [
        ("Location", f"{scheme}://{ctx.request.host}/{ctx.bucket}/{ctx.key}"),
        ("Bucket", ctx.bucket),
        ("Key", ctx.key),
        ("ETag", record.etag),
    ]
    if record.checksum_algorithm and record.checksum_value:
        body.append((f"Checksum{record.checksum_algorithm}", record.checksum_value))
        body.append(("ChecksumType", record.checksum_type))
    response = xml_response(to_xml("CompleteMultipartUploadResult", body))
    response.headers.update(version_header(record))
    response.headers.update(answer_headers(record.headers, customer=False))
    return response


async def abort_multipart_upload(ctx: Ctx) -> web.StreamResponse:
    await ctx.uploads.abort(ctx.bucket, ctx.key, ctx.query.get("uploadId", ""))
    return web.Response(status=204)


async def list_parts(ctx: Ctx) -> web.StreamResponse:
    upload = await ctx.uploads.upload(ctx.bucket, ctx.key, ctx.query.get("uploadId", ""))
    max_parts = bounded_count(ctx, "max-parts", MAX_LISTED)
    marker_text = ctx.query.get("part-number-marker", "0") or "0"
    if not marker_text.isdigit():
        raise errors.InvalidArgument(
            "Invalid part-number-marker",
            ArgumentName="part-number-marker",
            ArgumentValue=marker_text,
        )
    marker = int(marker_text)
    parts = await ctx.uploads.list_parts(upload, after=marker, limit=max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    names = await ctx.buckets.display_names([upload.owner])
    owner = owner_xml(upload.owner, names[upload.owner])
    body: list[tuple[str, Node]] = [
        ("Bucket", ctx.bucket),
        ("Key", ctx.key),
        ("UploadId", upload.upload_id),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", parts[-1].part_number if parts else marker),
        ("MaxParts", max_parts),
        ("IsTruncated", truncated),
        ("Initiator", owner),
        ("Owner", owner),
        ("StorageClass", "STANDARD"),
        ("ChecksumAlgorithm", upload.checksum_algorithm),
        ("ChecksumType", upload.checksum_type),
    ]
    body += [("Part", _part_xml(part, upload.checksum_algorithm)) for part in parts]
    return xml_response(to_xml("ListPartsResult", body))


def _part_xml(part: UploadPartRecord, algorithm: str | None) -> list[tuple[str, Node]]:
    entry: list[tuple[str, Node]] = [
        ("PartNumber", part.part_number),
        ("LastModified", datetime.fromtimestamp(part.last_modified, UTC)),
        ("ETag", part.etag),
        ("Size", part.size),
    ]
    if algorithm and part.checksum:
        entry.append((f"Checksum{algorithm}", part.checksum))
    return entry


async def list_multipart_uploads(ctx: Ctx) -> web.StreamResponse:
    encode = encoder(ctx)
    prefix = ctx.query.get("prefix", "")
    delimiter = ctx.query.get("delimiter", "")
    key_marker = ctx.query.get("key-marker", "")
    upload_id_marker = ctx.query.get("upload-id-marker", "") if key_marker else ""
    max_uploads = bounded_count(ctx, "max-uploads", MAX_LISTED)
    page = await ctx.uploads.list_page(
        ctx.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        limit=max_uploads,
    )
    uploads = [entry for entry in page.entries if not isinstance(entry, str)]
    names = await ctx.buckets.display_names(upload.owner for upload in uploads)
    entries: list[tuple[str, Node]] = []
    last_key, last_upload = "", ""
    for entry in page.entries:
        if isinstance(entry, str):
            entries.append(("CommonPrefixes", [("Prefix", encode(entry))]))
            last_key, last_upload = entry, ""
            continue
        owner = owner_xml(entry.owner, names[entry.owner])
        entries.append(
            (
                "Upload",
                [
                    ("Key", encode(entry.key)),
                    ("UploadId", entry.upload_id),
                    ("Initiator", owner),
                    ("Owner", owner),
                    ("StorageClass", "STANDARD"),
                    ("Initiated", datetime.fromtimestamp(entry.initiated_at, UTC)),
                    ("ChecksumAlgorithm", entry.checksum_algorithm),
                    ("ChecksumType", entry.checksum_type),
                ],
            )
        )
        last_key, last_upload = entry.key, entry.upload_id
    truncated = page.truncated
    body: list[tuple[str, Node]] = [
        ("Bucket", ctx.bucket),
        ("KeyMarker", encode(key_marker)),
        ("UploadIdMarker", upload_id_marker),
        ("NextKeyMarker", encode(last_key) if truncated else None),
        ("NextUploadIdMarker", last_upload if truncated else None),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("Prefix", encode(prefix)),
        ("MaxUploads", max_uploads),
        ("IsTruncated", truncated),
        ("EncodingType", ctx.query.get("encoding-type")),
    ]
    return xml_response(to_xml("ListMultipartUploadsResult", body + entries))


HANDLERS: dict[Op, Handler] = {
    Op.CreateMultipartUpload: create_multipart_upload,
    Op.UploadPart: upload_part,
    Op.UploadPartCopy: upload_part_copy,
    Op.CompleteMultipartUpload: complete_multipart_upload,
    Op.AbortMultipartUpload: abort_multipart_upload,
    Op.ListParts: list_parts,
    Op.ListMultipartUploads: list_multipart_uploads,
}
