"""Real browser: the charts drawn in place (explorer.ui.chart) on a page that hides and shows them."""

from __future__ import annotations

import pytest

from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser

HOST = '[data-testid="sslPlotlyChart"]'
WIDTH_JS = """() => { const h = document.querySelector('.ssl-chart');
  return [h.getBoundingClientRect().width, h._fullLayout ? h._fullLayout.width : null]; }"""


def test_resizing_the_window_with_hidden_charts_raises_no_page_error():
    """A chart hidden the way a tab not selected hides it (an ancestor not displayed), and one whose place
    emptied (the chart itself not displayed, as a second blank's chart once its word is unmasked), while the
    window is resized: no 'Resize must be passed a displayed plot div element', and each is redrawn at its
    place's width once shown again."""
    with opened_page("Causal LM (next token)", width=1280, height=720) as (page, _):
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.locator(f"{HOST} .main-svg").first.wait_for(timeout=60_000)
        page.evaluate("""() => document.querySelector('.ssl-chart')
                                       .closest('[data-testid=stElementContainer]').style.display = 'none'""")
        for width in (900, 1100, 1280):
            page.set_viewport_size({"width": width, "height": 720})
            page.wait_for_timeout(300)
        page.evaluate("""() => document.querySelector('.ssl-chart')
                                       .closest('[data-testid=stElementContainer]').style.display = ''""")
        page.evaluate("() => document.querySelector('.ssl-chart').style.display = 'none'")  # a place that emptied
        for width in (1000, 1280):
            page.set_viewport_size({"width": width, "height": 720})
            page.wait_for_timeout(300)
        page.evaluate("() => document.querySelector('.ssl-chart').style.display = ''")
        page.wait_for_timeout(1_000)  # plotly redraws a resized chart after a short delay
        wait_idle(page)
        assert errors == []
        shown, drawn = page.evaluate(WIDTH_JS)
        assert drawn == pytest.approx(shown, abs=2)  # resized to its place once shown again
