"""Real browser: shared links reproduce the same predictions, tampered links are handled, presenter mode fits 1280×720."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from app import ROOT
from explorer import clm
from tests.browser import RequestLog, app_server, browser, wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


def _bar_labels(page) -> list[str]:
    texts = page.eval_on_selector_all(".js-plotly-plot .ytick text", "els => els.map(e => e.textContent)")
    return [t.strip() for t in texts if t]


def _wait_for_bar(page, label: str, timeout_ms: int = 60_000) -> None:
    """Wait until a chart's bars include `label` (the page draws several charts, in no fixed order)."""
    page.wait_for_function(
        "label => Array.from(document.querySelectorAll('.js-plotly-plot .ytick text'))"
        ".some(e => e.textContent.trim() === label)",
        arg=label,
        timeout=timeout_ms,
    )


def test_shared_link_opens_the_same_example(server, smollm2):
    prompt = "The capital of Germany is"
    expected = clm.next_token_distribution(smollm2, clm.build_prompt(smollm2.tokenizer, prompt).encoded).top[0].piece
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        log = RequestLog(page)
        page.goto(f"{server}/causal_lm?clm_prompt={quote(prompt)}&clm_top_k=5")
        page.wait_for_function("() => { const t = document.querySelector('textarea'); return t && t.value; }")
        wait_idle(page)
        assert page.locator("textarea").first.input_value() == prompt
        _wait_for_bar(page, expected)
        assert expected in _bar_labels(page)
        # the page's own share link carries the same state: open it in a fresh tab
        page.get_by_text("Share this example").click()
        link = page.locator('[data-testid="stPopoverBody"] code').inner_text().strip()
        assert "clm_prompt=The+capital+of+Germany+is" in link and "clm_top_k=5" in link
        other = b.new_page(viewport={"width": 1280, "height": 900})
        other.goto(link)
        other.wait_for_function("() => { const t = document.querySelector('textarea'); return t && t.value; }")
        wait_idle(other)
        assert other.locator("textarea").first.input_value() == prompt
        _wait_for_bar(other, expected)
        assert expected in _bar_labels(other)
        assert log.external == []


def test_tampered_link_falls_back_with_a_notice(server):
    with browser() as b:
        page = b.new_page()
        page.goto(f"{server}/causal_lm?clm_temperature=banana&clm_top_k=-4&clm_prompt=Hello")
        page.wait_for_function("() => { const t = document.querySelector('textarea'); return t && t.value; }")
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
        assert "clm_temperature" in alerts and "clm_top_k" in alerts
        assert page.locator("textarea").first.input_value() == "Hello"


def test_presenter_mode_fits_a_projector(server):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{server}/compare")
        wait_idle(page)
        main_text = "[data-testid=stMain] [data-testid=stMarkdownContainer] p"  # the sidebar keeps its size
        size_before = page.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{main_text}')).fontSize)")
        page.get_by_text("Presenter mode").click()
        wait_idle(page)
        size_after = page.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{main_text}')).fontSize)")
        assert size_after >= 1.3 * size_before
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ROOT / ".pytest_cache" / "presenter.png"))
