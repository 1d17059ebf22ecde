"""The console's routes, as data: (method, path, handler, name). Names ending in `_json`
answer JSON to the page's scripts; `login` and `login_form` are the only public ones."""

from __future__ import annotations

from aiohttp import web

from s3compat.console import buckets, cluster, login, objects

ROUTES = (
    ("GET", "/login", login.login_form, "login_form"),
    ("POST", "/login", login.login, "login"),
    ("POST", "/logout", login.logout, "logout"),
    ("GET", "", buckets.index, "index"),
    ("GET", "/", buckets.index, "index_slash"),
    ("GET", "/buckets", buckets.bucket_list, "buckets"),
    ("POST", "/buckets", buckets.create_bucket, "create_bucket"),
    ("GET", "/buckets/{bucket}", buckets.bucket_page, "bucket"),
    ("POST", "/buckets/{bucket}/delete", buckets.delete_bucket, "delete_bucket"),
    ("GET", "/buckets/{bucket}/object", objects.object_page, "object"),
    ("POST", "/buckets/{bucket}/object/delete", objects.delete_object, "delete_object"),
    ("POST", "/buckets/{bucket}/uploads", objects.upload_start_json, "upload_start_json"),
    ("POST", "/buckets/{bucket}/uploads/parts", objects.upload_parts_json, "upload_parts_json"),
    ("GET", "/cluster", cluster.cluster_page, "cluster"),
    ("GET", "/cluster/live", cluster.cluster_live, "cluster_live"),
    ("GET", "/cluster/status", cluster.cluster_status_json, "cluster_status_json"),
)


def add_routes(app: web.Application) -> None:
    for method, path, handler, name in ROUTES:
        app.router.add_route(method, path, handler, name=name)
