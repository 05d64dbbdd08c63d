"""Real browser: every page opens from the sidebar, shows no exception, and nothing leaves 127.0.0.1."""

from __future__ import annotations

import pytest

from app import PAGES, ROOT
from tests.browser import RequestLog, app_server, browser, wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


def test_every_page_opens_from_sidebar_offline(server):
    titles = [t for f, t, _ in PAGES if (ROOT / f).exists()]
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        log = RequestLog(page)
        page.goto(server)
        wait_idle(page)
        assert page.get_by_text("Where do the labels come from?").count() == 1
        page.screenshot(path=str(ROOT / ".pytest_cache" / "home.png"))
        for title in titles if len(titles) > 1 else []:  # one page: Streamlit shows no menu
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            wait_idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, title
        assert log.external == [], log.external
