"""Real browser: on the Masked LM page, click a token to mask it and see its prediction chart."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app import ROOT
from explorer.ui import chart
from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def test_click_a_token_to_mask_it_and_see_the_prediction_chart():
    """On the default masked LM (SmolLM2 read both ways): its byte-level pieces carry their space (␣).

    A chart whose blank changes is redrawn in place: the same node in the page, a new drawing."""
    with opened_page("Masked LM (cloze)") as (page, log):
        pills = page.locator('[data-testid="stButtonGroup"]').first
        charts = page.locator(f'[data-testid="{chart.TEST_ID}"]')
        expect(charts).to_have_count(1, timeout=60_000)  # the example's own blank: "capital"
        expect(charts.first).to_contain_text("answer “␣capital”", timeout=60_000)
        charts.first.evaluate("el => { el.__first = true; }")  # a mark that only this very node carries
        pills.get_by_role("button", name="␣France", exact=True).click()  # mask another token: a second chart
        wait_idle(page)
        expect(charts).to_have_count(2, timeout=60_000)
        expect(charts.nth(1)).to_contain_text("answer “␣France”", timeout=60_000)
        assert charts.first.evaluate("el => el.__first === true") and "␣capital" in charts.first.inner_text()
        charts.nth(1).evaluate("el => { el.__second = true; }")
        pills.get_by_role("button", name="␣capital", exact=True).click()  # unmask the first blank
        wait_idle(page)
        expect(charts).to_have_count(1, timeout=60_000)
        # the second chart's place stays in the page, hidden, and its node draws the next second blank
        pills.get_by_role("button", name="␣capital", exact=True).click()
        wait_idle(page)
        expect(charts).to_have_count(2, timeout=60_000)
        expect(charts.nth(1)).to_contain_text("answer “␣France”", timeout=60_000)
        assert charts.nth(1).evaluate("el => el.__second === true")
        pills.get_by_role("button", name="␣capital", exact=True).click()
        wait_idle(page)
        expect(charts).to_have_count(1, timeout=60_000)
        chart_node = charts.first
        expect(chart_node).to_contain_text("answer “␣France”", timeout=60_000)
        assert chart_node.evaluate("el => el.__first === true")  # the same node, updated in place
        assert chart_node.locator(".bars .point").count() >= 10  # top-10 bars (+ the answer if outside them)
        top = chart_node.locator(".bars .point").last.bounding_box()  # the top bar (drawn last)
        page.mouse.move(top["x"] + top["width"] / 2, top["y"] + top["height"] / 2)  # plotly's own hover label
        expect(chart_node.locator(".hoverlayer")).to_contain_text("rank 1", timeout=10_000)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ROOT / ".pytest_cache" / "masked_lm.png"), full_page=True)
        # the CSV is made when the button is clicked (not on every rerun): it holds this blank's candidates
        with page.expect_download() as dl:
            page.get_by_text("Download predictions (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
        assert rows and {r["answer"] for r in rows} == {"␣France"}, rows[:2]
        probs = [float(r["probability"]) for r in rows]
        assert len(rows) == 10 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6, rows[:2]
        pills.get_by_role("button", name="␣France", exact=True).click()  # nothing masked: no chart
        wait_idle(page)
        expect(page.get_by_text("Nothing is masked yet")).to_have_count(1, timeout=60_000)
        expect(charts).to_have_count(0)
        assert log.external == [], log.external  # plotly.js too came from the app


def test_surprise_per_token_on_a_long_text_is_drawn_while_it_is_computed():
    """Surprise per token on ~100 tokens takes tens of seconds with SmolLM2 read both ways: the strip of
    the tokens scored so far and the time left appear first, the whole strip at the end."""
    text = (
        "The children walked to school in the rain, and their teacher gave each of them a warm cup of tea. "
        "After lunch they read a story about a fox who lived in the forest near the river, and every "
        "evening the fox went down to the water to drink before the sun went down behind the hills."
    )
    with opened_page("Masked LM (cloze)") as (page, log):
        box = page.get_by_label("Text", exact=True)
        box.fill(text)
        box.press("Control+Enter")
        wait_idle(page)
        page.get_by_role("tab", name="Surprise per token").click()
        expect(page.get_by_text("The first", exact=False).first).to_be_visible(timeout=60_000)  # a partial strip
        expect(page.get_by_text("s left (change the text to stop)", exact=False)).to_be_visible()
        wait_idle(page, timeout_ms=240_000)
        expect(page.get_by_text("How surprised is the model by each actual token?")).to_be_visible()
        expect(page.get_by_text("s left (change the text to stop)", exact=False)).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == [], log.external


def test_a_chart_whose_plotly_js_cannot_load_says_so_and_the_page_keeps_working():
    from tests.browser import browser, open_from_sidebar, shared_server

    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.route("**/app/static/plotly.min.js", lambda route: route.abort())
        open_from_sidebar(page, shared_server(), "Masked LM (cloze)")
        charts = page.locator(f'[data-testid="{chart.TEST_ID}"]')
        expect(charts.first).to_contain_text("The chart could not be drawn", timeout=60_000)
        page.locator('[data-testid="stButtonGroup"]').first.get_by_role("button", name="␣France", exact=True).click()
        wait_idle(page)
        expect(charts).to_have_count(2, timeout=60_000)  # the page goes on: the table and the second blank
        expect(page.locator('[data-testid="stTable"]')).to_have_count(1)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert charts.first.locator(".ssl-chart-error").count() == 1  # one note, not one per rerun
