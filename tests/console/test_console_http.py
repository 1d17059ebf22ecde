"""The console over plain HTTP against a real cluster: who gets in, which requests are
refused, what a user sees, and that odd keys, long prefixes and many keys render right.
(The browser flow itself is test_console_browser.py.)"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.request
from urllib.parse import quote

import itsdangerous.timed
import pytest
from botocore.client import BaseClient
from console_support import CONSOLE_PATH, ConsoleClient, ConsoleUser, logged_in
from support.clients import client_for, unique_bucket_name
from support.processes import Cluster

from s3compat.console.session import SESSION_COOKIE, SESSION_SECONDS, SessionSigner


def test_a_wrong_secret_or_unknown_key_gets_no_session(
    console_cluster: Cluster, root_user: ConsoleUser
) -> None:
    client = ConsoleClient(console_cluster.endpoint)
    wrong = client.login(root_user, secret_key=root_user.secret_key + "x")
    assert wrong.status == 403
    assert "Wrong access key or secret" in wrong.body
    assert client.cookie(SESSION_COOKIE) is None
    unknown = client.login(ConsoleUser("S3CNOSUCHKEY00000000", root_user.secret_key))
    assert unknown.status == 403 and client.cookie(SESSION_COOKIE) is None
    page = client.get("/buckets")
    assert page.status == 303 and page.headers["Location"].endswith("/-/console/login")


def test_a_login_form_without_its_token_is_refused(
    console_cluster: Cluster, root_user: ConsoleUser
) -> None:
    client = ConsoleClient(console_cluster.endpoint)
    client.get("/login")
    answer = client.request(
        "POST",
        "/login",
        form={"access_key": root_user.access_key, "secret_key": root_user.secret_key},
    )
    assert answer.status == 403 and client.cookie(SESSION_COOKIE) is None


def test_the_session_cookie_is_signed_httponly_strict_and_expires(
    console_cluster: Cluster, root_user: ConsoleUser
) -> None:
    client = ConsoleClient(console_cluster.endpoint)
    answer = client.login(root_user)
    assert answer.status == 303
    cookie = answer.headers["Set-Cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    for attribute in (
        "HttpOnly",
        "SameSite=Strict",
        f"Max-Age={SESSION_SECONDS}",
        "Path=/-/console",
    ):
        assert attribute in cookie, cookie
    assert root_user.secret_key not in cookie
    assert client.get("/buckets").status == 200


def test_a_forged_or_expired_cookie_is_refused(
    console_cluster: Cluster, root_user: ConsoleUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    genuine = SessionSigner(console_cluster.cluster_secret)
    forged_key = SessionSigner("not the cluster secret").issue(
        root_user.access_key, root_user.secret_key
    )
    payload, _, signature = genuine.issue(root_user.access_key, root_user.secret_key).rpartition(
        "."
    )
    tampered = payload.replace(payload[2], "A" if payload[2] != "A" else "B", 1) + "." + signature
    with monkeypatch.context() as patched:
        # Issued as if nine hours ago: past the 8 h a session lasts.
        past = time.time() - 9 * 3600
        patched.setattr(itsdangerous.timed.time, "time", lambda: past)
        expired = genuine.issue(root_user.access_key, root_user.secret_key)
    fresh = genuine.issue(root_user.access_key, root_user.secret_key)
    for value in (forged_key, tampered, expired, "garbage", ""):
        client = ConsoleClient(console_cluster.endpoint)
        client.set_cookie(SESSION_COOKIE, value)
        page = client.get("/buckets")
        assert page.status == 303, (value, page.status)
        assert page.headers["Location"].endswith("/login")
        assert client.get("/cluster/status").status == 401
    # The same signer's fresh cookie is accepted: the refusals above are about the cookies.
    client = ConsoleClient(console_cluster.endpoint)
    client.set_cookie(SESSION_COOKIE, fresh)
    assert client.get("/buckets").status == 200


def test_a_form_post_without_its_csrf_token_is_refused(
    console_cluster: Cluster, root_user: ConsoleUser, cs3: BaseClient
) -> None:
    client = logged_in(console_cluster.endpoint, root_user)
    name = f"csrf-{time.time_ns()}"
    for answer in (
        client.post("/buckets", {"name": name}, token=False),
        client.post("/buckets", {"name": name, "csrf_token": "wrong"}, token=False),
        client.request(
            "POST",
            "/buckets",
            form={"name": name, "csrf_token": client.csrf_token},
            headers={"Origin": "http://evil.example"},
        ),
    ):
        assert answer.status == 403, answer.body
        assert "InvalidCsrfToken" in answer.body
    assert name not in [b["Name"] for b in cs3.list_buckets()["Buckets"]]
    # The same form with its token works.
    made = client.post("/buckets", {"name": name})
    assert made.status == 303
    cs3.delete_bucket(Bucket=name)


def test_logout_ends_the_session_in_the_browser(
    console_cluster: Cluster, root_user: ConsoleUser
) -> None:
    client = logged_in(console_cluster.endpoint, root_user)
    out = client.post("/logout", {})
    assert out.status == 303 and out.headers["Location"].endswith("/login")
    assert client.cookie(SESSION_COOKIE) is None
    assert client.get("/buckets").status == 303


def test_a_user_sees_only_its_own_buckets_and_no_admin_page(
    console_cluster: Cluster, alice: ConsoleUser, cs3: BaseClient, cbucket: str
) -> None:
    cs3.put_object(Bucket=cbucket, Key="secret.txt", Body=b"root's")
    alices_s3 = client_for(console_cluster, alice.access_key, alice.secret_key)
    mine = unique_bucket_name("alice")
    alices_s3.create_bucket(Bucket=mine)
    try:
        client = logged_in(console_cluster.endpoint, alice)
        listing = client.get("/buckets")
        assert mine in listing.body and cbucket not in listing.body
        assert 'id="nav-cluster"' not in listing.body
        for path in (
            f"/buckets/{cbucket}",
            f"/buckets/{cbucket}/object?key=secret.txt",
        ):
            answer = client.get(path)
            assert answer.status == 403 and "AccessDenied" in answer.body, path
            assert "secret.txt" not in answer.body or path.endswith("secret.txt")
        start = client.request(
            "POST",
            f"/buckets/{cbucket}/uploads",
            body=json.dumps({"key": "x", "size": 1}).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": client.csrf_token},
        )
        assert start.status == 403
        deleted = client.post(f"/buckets/{cbucket}/object/delete", {"key": "secret.txt"})
        assert deleted.status == 403
        assert cs3.get_object(Bucket=cbucket, Key="secret.txt")["Body"].read() == b"root's"
        assert client.get("/cluster").status == 403
        assert client.get("/cluster/status").status == 403
        # Pieces are the operator's business: alice sees how many, not where.
        alices_s3.put_object(Bucket=mine, Key="mine.txt", Body=b"alice's")
        details = client.get(f"/buckets/{mine}/object?key=mine.txt")
        assert details.status == 200 and 'id="pieces"' not in details.body
        assert "8 pieces on 8 servers" in details.body
    finally:
        alices_s3.delete_object(Bucket=mine, Key="mine.txt")
        alices_s3.delete_bucket(Bucket=mine)
        alices_s3.close()


ODD_KEYS = [
    "with space.txt",
    "100% sure.txt",
    "plus+and&amp=eq.txt",
    "ünïcødé/日本語 ファイル.txt",
    "<script>alert(1)</script>.html",
    "quote\"and'apostrophe",
    "question?mark#hash",
    "a//double/slash",
    "trailing/",
]


def test_odd_keys_list_open_and_download_byte_exact(
    console_cluster: Cluster, root_user: ConsoleUser, cs3: BaseClient, cbucket: str
) -> None:
    bodies = {key: hashlib.sha256(key.encode()).digest() * 3 for key in ODD_KEYS}
    for key, body in bodies.items():
        cs3.put_object(Bucket=cbucket, Key=key, Body=body)
    client = logged_in(console_cluster.endpoint, root_user)
    top = client.get(f"/buckets/{cbucket}")
    assert top.status == 200
    assert "<script>alert(1)" not in top.body and "&lt;script&gt;alert(1)" in top.body
    folder = client.get(f"/buckets/{cbucket}?prefix={quote('ünïcødé/')}")
    assert "日本語 ファイル.txt" in folder.body
    for key, body in bodies.items():
        page = client.get(f"/buckets/{cbucket}/object?key={quote(key, safe='')}")
        assert page.status == 200, (key, page.body[:500])
        link = page.body.split('id="download" href="', 1)[1].split('"', 1)[0]
        url = console_cluster.endpoint + link.replace("&amp;", "&")
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.read() == body, key
            assert "attachment" in answer.headers["Content-Disposition"]


def test_a_prefix_longer_than_any_key_renders_an_empty_page_fast(
    console_cluster: Cluster, root_user: ConsoleUser, cbucket: str
) -> None:
    client = logged_in(console_cluster.endpoint, root_user)
    for prefix in ("x" * 1025, "é" * 600, "%" * 900):
        started = time.monotonic()
        page = client.get(f"/buckets/{cbucket}?prefix={quote(prefix)}")
        assert page.status == 200 and 'id="no-objects"' in page.body
        assert time.monotonic() - started < 2.0


def test_pages_of_a_big_folder_list_every_key_once(
    console_cluster: Cluster, root_user: ConsoleUser, cs3: BaseClient, cbucket: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"many/{number:04d}" for number in range(230)] + ["many/sub/a", "many/sub/b"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: cs3.put_object(Bucket=cbucket, Key=key, Body=b""), keys))
    client = logged_in(console_cluster.endpoint, root_user)
    seen: list[str] = []
    path = f"/buckets/{cbucket}?prefix=many/"
    pages = 0
    while path:
        page = client.get(path)
        assert page.status == 200
        pages += 1
        seen += [
            chunk.split('">', 1)[1].split("<", 1)[0]
            for chunk in page.body.split('class="object" href="')[1:]
        ]
        seen += ["sub/"] if 'class="folder"' in page.body else []
        following = re.search(r'href="([^"]*)" id="next-page"', page.body)
        path = (
            following.group(1).replace("&amp;", "&").removeprefix(CONSOLE_PATH) if following else ""
        )
    assert pages == 3
    assert sorted(seen) == sorted([key.removeprefix("many/") for key in keys[:230]] + ["sub/"])


def test_an_upload_through_the_presigned_multipart_steps_is_stored_whole(
    console_cluster: Cluster, root_user: ConsoleUser, cs3: BaseClient, cbucket: str
) -> None:
    """What the page's script does, step by step, without a browser."""
    client = logged_in(console_cluster.endpoint, root_user)
    body = hashlib.sha256(b"seed").digest() * (9 * 1024 * 1024 // 32 + 5)  # > 8 MiB: 2 parts
    key = "up/a file ü%.bin"

    def ask(path: str, request: dict[str, object]) -> dict[str, object]:
        answer = client.request(
            "POST",
            path,
            body=json.dumps(request).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": client.csrf_token},
        )
        assert answer.status == 200, answer.body
        found = json.loads(answer.body)
        assert isinstance(found, dict)
        return found

    plan = ask(f"/buckets/{cbucket}/uploads", {"key": key, "size": len(body)})
    assert plan["mode"] == "multipart" and plan["parts"] == 2
    part_bytes = int(str(plan["part_bytes"]))

    def s3(method: str, url: str, data: bytes | None = None) -> tuple[str, dict[str, str]]:
        request = urllib.request.Request(console_cluster.endpoint + url, data=data, method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.read().decode(), dict(answer.headers)

    created, _ = s3("POST", str(plan["create"]))
    upload_id = created.split("<UploadId>", 1)[1].split("<", 1)[0]
    urls = ask(
        f"/buckets/{cbucket}/uploads/parts", {"key": key, "upload_id": upload_id, "count": 2}
    )
    parts = urls["parts"]
    assert isinstance(parts, list)
    etags = [
        s3("PUT", parts[number], body[number * part_bytes : (number + 1) * part_bytes])[1]["ETag"]
        for number in range(2)
    ]
    document = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{n + 1}</PartNumber><ETag>{etag}</ETag></Part>"
            for n, etag in enumerate(etags)
        )
        + "</CompleteMultipartUpload>"
    )
    s3("POST", str(urls["complete"]), document.encode())
    assert cs3.get_object(Bucket=cbucket, Key=key)["Body"].read() == body
    single = ask(f"/buckets/{cbucket}/uploads", {"key": "small", "size": 3})
    assert single["mode"] == "single"
    s3("PUT", str(single["put"]), b"abc")
    assert cs3.get_object(Bucket=cbucket, Key="small")["Body"].read() == b"abc"


def test_the_s3_api_still_answers_beside_the_console(
    console_cluster: Cluster, cs3: BaseClient
) -> None:
    """/-/console is the console's; S3 paths, and unknown console paths, are not swallowed."""
    assert "Buckets" in cs3.list_buckets()
    client = ConsoleClient(console_cluster.endpoint)
    assert client.get("/no-such-page").status == 404
    assert client.get("/static/console.js").status == 200
