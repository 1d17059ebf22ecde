"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright with that
executable; Playwright never downloads a browser here) against a real cluster: the whole flow
an operator and a user go through. Skipped, saying why, when no Chromium is installed.

`S3COMPAT_SCREENSHOTS=DIR` saves the pages it passes through as DIR/console-*.png (the
README's pictures: `S3COMPAT_SCREENSHOTS=docs scripts/test tests/console -k browser`).
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path
from typing import Any

from botocore.client import BaseClient
from console_support import CONSOLE_PATH
from support.clients import empty_and_delete_bucket, unique_bucket_name
from support.processes import Cluster, chunkd_pid
from support.waiting import wait_for

UPLOAD_BYTES = 20 * 1024 * 1024
PART_BYTES = 8 * 1024 * 1024
SERVERS = 8
PARITY = 2


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("S3COMPAT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"console-{name}.png"), full_page=True)


def server_state(page: Any, server_id: str) -> str:
    cell = page.locator(f'#servers tr[data-server="{server_id}"] [data-state]')
    return str(cell.get_attribute("data-state"))


def test_operator_flow_in_a_real_browser(
    browser: Any, console_cluster: Cluster, cs3: BaseClient, tmp_path: Path
) -> None:
    base = console_cluster.endpoint + CONSOLE_PATH
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    bucket = unique_bucket_name("console")
    try:
        # A wrong secret is refused; the right one lets us in.
        page.goto(base + "/buckets")
        assert page.url.endswith("/-/console/login")
        page.fill("#access_key", console_cluster.access_key)
        page.fill("#secret_key", "not the secret")
        page.click("#login")
        assert "Wrong access key or secret" in page.inner_text("#login-error")
        page.fill("#access_key", console_cluster.access_key)
        page.fill("#secret_key", console_cluster.secret_key)
        page.click("#login")
        page.wait_for_url("**/-/console/buckets")

        # Every server, up.
        page.click("#nav-cluster")
        page.wait_for_selector("#servers")
        rows = page.locator("#servers tbody tr")
        assert rows.count() == SERVERS
        server_ids = [str(rows.nth(n).get_attribute("data-server")) for n in range(SERVERS)]
        wait_for(lambda: all(server_state(page, s) == "up" for s in server_ids), timeout=20)

        # Kill a daemon (its supervisor paused, so that it stays dead) and watch the page,
        # which updates itself, turn it down; let the supervisor restart it, and see it up.
        victim_url = console_cluster.chunk_urls[-1]
        victim = next(
            s
            for s in server_ids
            if victim_url in page.inner_text(f'#servers tr[data-server="{s}"]')
        )
        os.kill(console_cluster.pid, signal.SIGSTOP)
        try:
            os.kill(chunkd_pid(console_cluster, victim_url), signal.SIGKILL)
            wait_for(lambda: server_state(page, victim) == "down", timeout=30, interval=0.5)
            assert "1 down" in page.inner_text("#state-summary")
            screenshot(page, "cluster-down")
        finally:
            os.kill(console_cluster.pid, signal.SIGCONT)
        wait_for(lambda: server_state(page, victim) == "up", timeout=30, interval=0.5)

        # A bucket, and a 20 MiB file uploaded into a folder of it with a progress bar.
        page.click("#nav-buckets")
        page.fill("#new-bucket", bucket)
        page.click("#create-bucket")
        page.wait_for_url(f"**/buckets/{bucket}")
        body = os.urandom(UPLOAD_BYTES)
        upload = tmp_path / "twenty mebibytes ü.bin"
        upload.write_bytes(body)
        page.set_input_files("#upload-file", str(upload))
        page.wait_for_selector('#upload-status[data-done="true"]', timeout=120_000)
        events = int(page.get_attribute("#upload-progress", "data-events") or 0)
        assert events > 2, f"only {events} progress events"
        assert float(page.eval_on_selector("#upload-progress", "bar => bar.value")) == 100
        assert not errors, errors

        # The page reloads with the file listed; its details page lists every piece.
        page.wait_for_selector(f'a.object:text-is("{upload.name}")')
        screenshot(page, "browser")
        page.click(f'a.object:text-is("{upload.name}")')
        page.wait_for_selector("#pieces")
        assert page.inner_text("#object-key") == upload.name
        assert page.get_attribute("#object-size", "data-bytes") == str(UPLOAD_BYTES)
        parts = -(-UPLOAD_BYTES // PART_BYTES)
        assert page.inner_text("#object-etag").strip('"').endswith(f"-{parts}")
        pieces = page.locator("#pieces tbody tr")
        assert pieces.count() == parts * (6 + PARITY)
        for part in range(1, parts + 1):
            holders = {
                pieces.nth(n).locator("td.server").inner_text()
                for n in range(pieces.count())
                if pieces.nth(n).locator("td").first.inner_text() == str(part)
            }
            assert len(holders) == 6 + PARITY, (part, holders)
        screenshot(page, "object")

        # The download is byte-exact.
        with page.expect_download() as download_info:
            page.click("#download")
        saved = tmp_path / "downloaded"
        download_info.value.save_as(saved)
        assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(body).digest()

        # The cluster page counts the object (its totals are recounted every 5 s).
        page.click("#nav-cluster")
        wait_for(lambda: page.inner_text("#total-objects") != "0", timeout=20, interval=0.5)
        screenshot(page, "cluster")

        # Logging out ends the session: the next page is the login form.
        page.click("#logout")
        page.wait_for_url("**/-/console/login")
        page.goto(base + f"/buckets/{bucket}")
        assert page.url.endswith("/-/console/login")
    finally:
        context.close()
        empty_and_delete_bucket(cs3, bucket)
