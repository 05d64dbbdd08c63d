"""Real browser, the Images page: click a patch to hide it and see the reconstruction drawn again with the
new mask; an upload that is not an image says so and the page keeps working."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser

HIDDEN_IN_CHART = """() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const title = (el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || '';
        if (String(title).includes('the MAE')) {
            const masked = (el._fullData || el.data)[1].z;  // the masked panel: hidden pixels are missing
            let n = 0;
            for (const row of Array.from(masked)) for (const v of Array.from(row)) if (v === null || Number.isNaN(v)) n++;
            return n;
        }
    }
    return -1;
}"""


def test_click_a_patch_and_the_reconstruction_is_drawn_with_it_hidden(tmp_path):
    with opened_page("Images (MAE, SimCLR, CLIP)") as (page, log):
        expect(page.get_by_role("heading", name="Images: masked patches and contrastive views")).to_be_visible()
        page.wait_for_function(f"() => ({HIDDEN_IN_CHART})() > 0", timeout=60_000)
        before = page.evaluate(HIDDEN_IN_CHART)
        assert before == 12 * 16  # 12 hidden patches of 4×4 pixels
        visible = page.get_by_role("button", name=re.compile(r"^□ \d+$")).first
        number = visible.inner_text().split()[-1]
        visible.click()
        wait_idle(page)
        expect(page.get_by_role("button", name=f"■ {number}", exact=True)).to_be_visible()
        page.wait_for_function(f"() => ({HIDDEN_IN_CHART})() === {before + 16}", timeout=30_000)
        not_image = tmp_path / "notes.png"
        not_image.write_bytes(b"this is not a picture at all" * 10)
        page.get_by_text("Upload an image", exact=True).click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(not_image))
        wait_idle(page)
        expect(
            page.get_by_text(re.compile(r"not an image|could not be read|not a picture", re.I)).first
        ).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == [], log.external
