"""Browser uploads (POST Object) from a plain HTML form in a real headless Chromium: the form
boto3's generate_presigned_post makes (SigV4 policy, used unchanged), a file chosen in the
page's file input and the form submitted as a user would. The browser, not our encoder, makes
the multipart body: its boundary, its field order, the file part's filename and type. A file
over the policy's content-length-range gets S3's EntityTooLarge page and nothing is stored."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

FILE_BYTES = 300 * 1024


def form_page(post: dict[str, Any]) -> str:
    """The HTML form S3's documentation shows for a presigned POST: every field hidden, the file
    input last."""
    hidden = "\n".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in post["fields"].items()
    )
    return f"""<!doctype html>
<html><body>
<form action="{html.escape(post["url"])}" method="post" enctype="multipart/form-data">
{hidden}
<input type="file" name="file">
<input type="submit" value="Upload">
</form>
</body></html>"""


def submit(browser: Any, post: dict[str, Any], file: Path) -> tuple[int, str]:
    """Open the form, choose `file`, press Upload; the status and text of the page S3 answers."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(form_page(post))
        page.set_input_files('input[name="file"]', str(file))
        with page.expect_navigation() as navigation:
            page.click('input[type="submit"]')
        answer = navigation.value
        assert answer is not None
        return answer.status, page.content()
    finally:
        context.close()


def presigned(s3: BaseClient, bucket: str, largest: int) -> dict[str, Any]:
    return dict(
        s3.generate_presigned_post(
            bucket,
            "from-browser/${filename}",
            Fields={"success_action_status": "201", "x-amz-meta-origin": "html-form"},
            Conditions=[
                {"success_action_status": "201"},
                ["starts-with", "$key", "from-browser/"],
                {"x-amz-meta-origin": "html-form"},
                ["content-length-range", 1, largest],
            ],
            ExpiresIn=600,
        )
    )


def test_a_presigned_post_form_uploads_from_a_real_browser(
    browser: Any, cs3: BaseClient, cbucket: str, tmp_path: Path
) -> None:
    body = os.urandom(FILE_BYTES)
    photo = tmp_path / "holiday photo.jpg"
    photo.write_bytes(body)
    status, text = submit(browser, presigned(cs3, cbucket, 10 * FILE_BYTES), photo)
    assert status == 201, text
    key = "from-browser/holiday photo.jpg"  # ${filename}: the name the browser sent
    assert f"<Key>{key}</Key>" in text and f"<Bucket>{cbucket}</Bucket>" in text, text
    stored = cs3.get_object(Bucket=cbucket, Key=key)
    assert stored["Body"].read() == body
    assert stored["Metadata"] == {"origin": "html-form"}
    assert stored["ETag"] in html.unescape(text)  # the quoted ETag, as S3 answers it


def test_a_file_over_the_policys_range_is_refused_in_the_browser(
    browser: Any, cs3: BaseClient, cbucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(FILE_BYTES))
    status, text = submit(browser, presigned(cs3, cbucket, FILE_BYTES - 1), big)
    assert status == 400, text
    assert "<Code>EntityTooLarge</Code>" in text, text
    assert cs3.list_objects_v2(Bucket=cbucket)["KeyCount"] == 0
