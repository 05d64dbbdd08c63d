"""Real browser, internet blocked: the bertviz views draw their SVG inside the page and from the downloaded file."""

from __future__ import annotations

import re

import pytest

from tests.browser import ROOT, RequestLog, app_server, browser, wait_idle

pytestmark = pytest.mark.browser

OUTSIDE = re.compile(r"^(?!https?://127\.0\.0\.1|wss?://127\.0\.0\.1|data:|blob:|about:|file:).*")


def _offline_page(b):
    page = b.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.route(OUTSIDE, lambda route: route.abort())  # as on a machine with no internet
    return page, RequestLog(page)


def _pick_view(page, view: str) -> None:
    page.get_by_role("radiogroup", name="View").first.get_by_text(view, exact=True).click()
    wait_idle(page)


def _bertviz_frame(page):
    _pick_view(page, "bertviz (interactive)")
    frame = page.frame_locator('iframe[title="st.iframe"]').first
    frame.locator("svg").first.wait_for(timeout=30_000)
    return frame


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


def _open(b, url):
    page, log = _offline_page(b)
    page.goto(url)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Inside the model", exact=True).click()
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page, log


def test_plotly_views_draw_offline(server):
    with browser() as b:
        page, log = _open(b, server)
        page.locator(".js-plotly-plot .hm").first.wait_for(state="attached", timeout=30_000)
        page.screenshot(path=str(ROOT / ".pytest_cache" / "attention-heatmap.png"))
        for view, charts in (("All heads", 2), ("Layer by layer", 1)):
            _pick_view(page, view)
            wait_idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.locator(".js-plotly-plot .hm").nth(charts - 1).wait_for(state="attached", timeout=30_000)
            assert page.locator(".js-plotly-plot").count() == charts, view
            page.locator(".js-plotly-plot").first.screenshot(
                path=str(ROOT / ".pytest_cache" / f"attention-{view.split()[0].lower()}.png")
            )
        assert log.external == [], log.external


def test_bertviz_views_draw_offline_and_download(server, tmp_path):
    with browser() as b:
        page, log = _open(b, server)

        frame = _bertviz_frame(page)
        # head view: one text element per token on each side, and attention lines between them
        texts = frame.locator("svg text").all_text_contents()
        assert "␣France" in texts and "␣Italy" in texts
        lines = frame.locator("svg line").count()
        assert lines > 100, lines
        page.locator('iframe[title="st.iframe"]').screenshot(
            path=str(ROOT / ".pytest_cache" / "attention-head-view.png")
        )

        with page.expect_download() as dl:
            page.get_by_text("Download this view (HTML, works offline)").click()
        saved = tmp_path / "view.html"
        dl.value.save_as(saved)

        page.get_by_text("model view", exact=True).click()
        wait_idle(page)
        frame = page.frame_locator('iframe[title="st.iframe"]').first
        frame.locator("svg text", has_text="Heads").first.wait_for(timeout=30_000)
        # one thumbnail background per drawn (layer, head): 4 default layers x 9 heads of SmolLM2
        assert frame.locator("rect.attn_background").count() == 4 * 9
        page.locator('iframe[title="st.iframe"]').screenshot(
            path=str(ROOT / ".pytest_cache" / "attention-model-view.png")
        )
        assert log.external == [], log.external

        # the downloaded file on its own, still with no internet
        standalone, slog = _offline_page(b)
        standalone.goto(saved.as_uri())
        standalone.locator("svg line").first.wait_for(state="attached", timeout=30_000)
        assert standalone.locator("svg line").count() == lines
        assert [u for u in slog.urls if not u.startswith("file:")] == []
