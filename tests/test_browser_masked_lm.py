"""Real browser: on the Masked LM page, click a token to mask it and see its prediction chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import ROOT
from explorer import ModelUnavailable, load
from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def _default_available() -> bool:
    try:
        load("mlm")
    except ModelUnavailable:
        return False
    return True


def test_click_a_token_to_mask_it_and_see_the_prediction_chart(tiny_mlm_dir):
    with opened_page("Masked LM (cloze)") as (page, log):
        if not _default_available():  # until the project's masked LM is built: a tiny one, picked like a user would
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
            page.get_by_role("option", name="Other model id…").click()
            wait_idle(page)
            box = page.get_by_placeholder("e.g. bert-base-uncased or /path/to/folder")
            box.fill(str(tiny_mlm_dir))
            box.press("Enter")
            wait_idle(page)
        pills = page.locator('[data-testid="stButtonGroup"]').first
        charts = page.locator('[data-testid="stPlotlyChart"]')
        expect(charts).to_have_count(1, timeout=60_000)  # the example's own blank: "capital"
        pills.get_by_role("button", name="capital", exact=True).click()  # unmask it
        wait_idle(page)
        expect(page.get_by_text("Nothing is masked yet")).to_have_count(1, timeout=60_000)
        expect(charts).to_have_count(0)
        pills.get_by_role("button", name="france", exact=True).click()  # mask another token
        wait_idle(page)
        expect(charts).to_have_count(1, timeout=60_000)
        chart = charts.first
        chart.locator(".main-svg").first.wait_for()
        assert "answer “france”" in chart.inner_text()
        assert chart.locator(".bars .point").count() >= 10  # top-10 bars (+ the answer if outside them)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ROOT / ".pytest_cache" / "masked_lm.png"), full_page=True)
        assert log.external == [], log.external
