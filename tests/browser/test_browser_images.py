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
    with opened_page("Images (MAE, SimCLR, CLIP, DINO)") as (page, log):
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


ZERO_SHOT_DIAGONAL = """() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const title = (el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || '';
        if (String(title).includes('Zero-shot on the held-out digits')) {
            const z = Array.from((el._fullData || el.data)[0].z, row => Array.from(row));
            return z.map((row, i) => row[i]);
        }
    }
    return null;
}"""


def test_clip_trains_then_names_digits_from_typed_prompts():
    """The CLIP tab in a browser: Start CLIP training, the run ends, zero-shot's accuracy and confusion matrix are
    drawn; line 8 typed as "the number after six" takes the sevens away from the diagonal; an emptied line gets a
    message, and the page keeps working."""
    with opened_page("Images (MAE, SimCLR, CLIP, DINO)") as (page, log):
        page.get_by_role("tab", name="Images and words (CLIP)").click()
        wait_idle(page)
        page.get_by_role("button", name="Start CLIP training").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(m => "
            "m.innerText.includes('Zero-shot accuracy') && parseFloat(m.innerText.split('\\n').pop()) > 80)",
            timeout=180_000,
        )
        page.get_by_role("heading", name="Zero-shot: the classes as words").scroll_into_view_if_needed()
        page.mouse.wheel(0, 600)  # the charts below the fold are drawn when they come into view
        page.wait_for_function(f"() => ({ZERO_SHOT_DIAGONAL})() !== null", timeout=60_000)
        diagonal = page.evaluate(ZERO_SHOT_DIAGONAL)
        assert min(diagonal) > 0.6, diagonal
        box = page.get_by_role("textbox", name="The ten prompts")
        lines = box.input_value().splitlines()
        assert lines[7] == "the digit 7"
        lines[7] = "the number after six"
        box.fill("\n".join(lines))
        box.press("Control+Enter")
        wait_idle(page)
        page.wait_for_function(
            f"() => {{ const d = ({ZERO_SHOT_DIAGONAL})(); return d && d[7] < 0.5; }}", timeout=60_000
        )
        assert page.evaluate(ZERO_SHOT_DIAGONAL)[3] > 0.6  # the other classes keep theirs
        lines[0] = ""
        box.fill("\n".join(lines))
        box.press("Control+Enter")
        wait_idle(page)
        expect(page.get_by_text("The prompt for 0 is empty.")).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == [], log.external


def test_dino_with_centering_off_collapses_to_one_dimension_on_screen():
    """The DINO tab in a browser: centering switched off, a 100-step run started from the page ends with the collapse drawn
    (the top dimension's share of the batch over 90%) and named; the probe's bars follow."""
    with opened_page("Images (MAE, SimCLR, CLIP, DINO)") as (page, log):
        page.get_by_role("tab", name="Its own teacher (DINO)").click()
        wait_idle(page)
        page.get_by_text("Centering", exact=True).click()
        wait_idle(page)
        page.get_by_role("combobox", name="Steps").click()
        page.get_by_role("option", name="100", exact=True).click()  # it collapses within the first 60 steps
        wait_idle(page)
        page.get_by_role("button", name="Start DINO training").click()
        expect(page.get_by_text("Collapsed to one dimension", exact=False)).to_be_visible(timeout=240_000)
        page.get_by_text("Is it collapsing?").first.scroll_into_view_if_needed()
        share = page.evaluate(
            """() => {
                for (const el of document.querySelectorAll('.js-plotly-plot')) {
                    const t = (el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || '';
                    if (String(t).includes('Is it collapsing?')) {
                        const y = Array.from((el._fullData || el.data)[1].y);
                        return y[y.length - 1];
                    }
                }
                return null;
            }"""
        )
        assert share is not None and share > 0.9, share
        expect(page.get_by_text("Linear probe", exact=False).first).to_be_visible(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == [], log.external
