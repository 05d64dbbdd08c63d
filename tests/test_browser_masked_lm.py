"""Real browser: on the Masked LM page, click a token to mask it and see its prediction chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import ROOT
from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def test_click_a_token_to_mask_it_and_see_the_prediction_chart():
    """On the default masked LM (SmolLM2 read both ways): its byte-level pieces carry their space (␣)."""
    with opened_page("Masked LM (cloze)") as (page, log):
        pills = page.locator('[data-testid="stButtonGroup"]').first
        charts = page.locator('[data-testid="stPlotlyChart"]')
        expect(charts).to_have_count(1, timeout=60_000)  # the example's own blank: "capital"
        pills.get_by_role("button", name="␣capital", exact=True).click()  # unmask it
        wait_idle(page)
        expect(page.get_by_text("Nothing is masked yet")).to_have_count(1, timeout=60_000)
        expect(charts).to_have_count(0)
        pills.get_by_role("button", name="␣France", exact=True).click()  # mask another token
        wait_idle(page)
        expect(charts).to_have_count(1, timeout=60_000)
        chart = charts.first
        chart.locator(".main-svg").first.wait_for()
        assert "answer “␣France”" in chart.inner_text()
        assert chart.locator(".bars .point").count() >= 10  # top-10 bars (+ the answer if outside them)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ROOT / ".pytest_cache" / "masked_lm.png"), full_page=True)
        assert log.external == [], log.external
