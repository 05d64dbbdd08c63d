"""Real browser: an unexpected error shows a plain message, never a traceback or a server path."""

from __future__ import annotations

import os

import pytest

from app import ROOT
from tests.browser import app_server, browser, open_from_sidebar, wait_idle

pytestmark = pytest.mark.browser

FAULTS = ROOT / "tests" / "browser" / "faults"
SECRET = "/srv/secret/models/config.json"


def faulty(fault: str) -> dict:
    path = os.pathsep.join([str(FAULTS), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"SSL_EXPLORER_TEST_FAULT": fault, "PYTHONPATH": path}


def no_details(page) -> str:
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Traceback" not in text and SECRET not in text and 'File "' not in text, text[:800]
    assert page.get_by_text("Ask Google").count() == 0 and page.get_by_text("Ask ChatGPT").count() == 0
    return text


def test_a_page_error_is_a_friendly_message_and_the_app_keeps_working():
    with app_server(faulty("page")) as url, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        open_from_sidebar(page, url, "Masked LM (cloze)")
        text = no_details(page)
        assert "Something went wrong here (RuntimeError)" in text
        assert page.locator('[data-testid="stException"]').count() == 0
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Contrastive embeddings", exact=True).click()
        wait_idle(page)
        assert "Something went wrong" not in page.locator('[data-testid="stMain"]').inner_text()
        assert page.get_by_role("heading", name="Contrastive").count() >= 1


def test_an_error_in_the_app_around_the_pages_is_caught_too():
    with app_server(faulty("app")) as url, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        wait_idle(page)
        assert "Something went wrong here (RuntimeError)" in no_details(page)
        assert "injected failure" not in page.content()


def test_streamlit_itself_shows_no_error_details():
    """What no boundary could catch (Streamlit's own panel) is shown redacted: no message, no traceback."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
