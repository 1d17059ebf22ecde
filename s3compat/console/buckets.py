"""The browser's bucket pages: your buckets, creating and deleting one, and one bucket's keys
by prefix, a page at a time (the ListObjects code of the S3 API, never a whole bucket)."""

from __future__ import annotations

from aiohttp import web

from s3compat.api import errors
from s3compat.api.operations import Op
from s3compat.api.router import validate_bucket_name
from s3compat.console.gate import allowed_bucket
from s3compat.console.pages import console_of, link, render, see_other, user_of

# Keys (and common prefixes) on one page of a bucket.
PAGE_KEYS = 100
DELIMITER = "/"
# No key is longer than this many bytes, so no longer prefix can match one.
MAX_KEY_BYTES = 1024


async def index(request: web.Request) -> web.StreamResponse:
    return see_other(link("/buckets"))


async def bucket_list(request: web.Request) -> web.StreamResponse:
    """The user's own buckets (ListBuckets: a user sees only the buckets it owns)."""
    owned = await console_of(request).stores.buckets.owned_by(user_of(request).access_key)
    return render(request, "buckets.html", {"buckets": sorted(owned, key=lambda b: b.name)})


async def create_bucket(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    validate_bucket_name(name)
    await console_of(request).stores.buckets.create(name, user_of(request).access_key, None)
    return see_other(link(f"/buckets/{name}"))


async def delete_bucket(request: web.Request) -> web.StreamResponse:
    """Delete an empty bucket (BucketNotEmpty otherwise, as S3 answers)."""
    name = request.match_info["bucket"]
    await allowed_bucket(request, Op.DeleteBucket, name)
    await console_of(request).stores.buckets.delete(name)
    return see_other(link("/buckets"))


def crumbs(prefix: str) -> list[tuple[str, str]]:
    """(label, prefix) of each folder level of `prefix`, outermost first."""
    found = []
    start = 0
    while (end := prefix.find(DELIMITER, start)) >= 0:
        found.append((prefix[start:end] or DELIMITER, prefix[: end + 1]))
        start = end + 1
    return found


async def bucket_page(request: web.Request) -> web.StreamResponse:
    """One page of keys and folders under `prefix`, after `after` (the last one shown)."""
    name = request.match_info["bucket"]
    prefix = request.query.get("prefix", "")
    after = request.query.get("after", "")
    if "\x00" in prefix or "\x00" in after:
        raise errors.InvalidArgument("Query parameters must not contain NUL characters.")
    query = {"prefix": prefix, "delimiter": DELIMITER}
    bucket, _ = await allowed_bucket(request, Op.ListObjectsV2, name, query=query)
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        page = None  # longer than any key: nothing to list
    else:
        page = await console_of(request).stores.objects.list_page(
            name, prefix=prefix, delimiter=DELIMITER, marker=after,
            max_keys=PAGE_KEYS,
        )  # fmt: skip
    entries: list[tuple[str, object]] = []
    if page is not None:
        entries = [(p, None) for p in page.common_prefixes] + [(o.key, o) for o in page.objects]
        entries.sort(key=lambda entry: entry[0].encode("utf-8", "surrogatepass"))
    return render(
        request,
        "bucket.html",
        {
            "bucket": bucket,
            "bucket_prefix": prefix,
            "crumbs": crumbs(prefix),
            "entries": entries,
            "next_after": page.last if page is not None and page.truncated else None,
            "after": after,
            "part_bytes": upload_part_bytes(console_of(request).config.min_part_bytes),
        },
    )


def upload_part_bytes(min_part_bytes: int) -> int:
    """Multipart parts of browser uploads: 8 MiB (as the aws CLI), or the store's minimum."""
    return max(8 * 1024 * 1024, min_part_bytes)
