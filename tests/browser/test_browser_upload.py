"""Real browser: an upload the browser refuses (over the size limit) says why without hovering; the limits
are written next to the uploader. (What the server refuses is shown under it too: test_page_limits.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from explorer import training
from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def choose_upload(page) -> object:
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Training text")
    box.click()
    page.get_by_role("option", name="Upload a .txt file").click()
    wait_idle(page)
    return page.locator('[data-testid="stFileUploader"]').first


def test_a_file_over_the_limit_says_why_on_the_screen(tmp_path):
    too_big = tmp_path / "big.txt"  # just over: the browser's limit is the server's (1,000,000 bytes)
    too_big.write_bytes(b"word " * ((training.MAX_UPLOAD_BYTES + 20_000) // 5))
    with opened_page("Live training") as (page, _):
        uploader = choose_upload(page)
        expect(page.get_by_text(training.upload_limits("text"))).to_have_count(1)
        expect(uploader.get_by_text(f"{training.UPLOAD_WIDGET_MB}MB per file", exact=True)).to_have_count(1)
        uploader.locator('input[type="file"]').set_input_files(str(too_big))
        alert = uploader.locator('[data-testid="stFileChip"] [role="alert"]')
        expect(alert).to_have_text(f"Error: File must be {training.UPLOAD_WIDGET_MB}.0MB or smaller.")
        box = alert.bounding_box()
        assert box and box["height"] >= 10 and box["width"] >= 150  # shown, not only to screen readers
        assert alert.evaluate("e => getComputedStyle(e).clip") in ("auto", "")
        assert page.locator('[data-testid="stException"]').count() == 0
