"""Real browser: a run belongs to the browser (a cookie), not to the page's session. A reload or a second
tab finds the training run, its chart still growing, with Stop working; a participant's new run on
another page pauses the old one (which says why) and gets the slot at once; DPO's scoring of the pairs
by the reference model goes on while the participant visits another page, with its progress shown and
Stop enabled; presenter mode survives a reload and a Home link (which opens in the same tab); a quiz
score survives a reload."""

from __future__ import annotations

import contextlib
import re
import time

import pytest
from playwright.sync_api import expect

from explorer.models.made import gguf_cache
from tests.browser import app_server, browser, choose_setting, shared_server, wait_idle

pytestmark = pytest.mark.browser

POINTS = """(name) => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.data || []).find(d => (d.name || '').startsWith(name));
        if (t) return t.x.length;
    }
    return 0;
}"""


def points(page, name: str) -> int:
    return page.evaluate(POINTS, name)


def grows(page, name: str, timeout_ms: int = 120_000) -> int:
    """Wait until the chart's curve `name` gains a point; returns its points."""
    n = points(page, name)
    try:
        page.wait_for_function(f"() => ({POINTS})({name!r}) > {n}", timeout=timeout_ms)
    except Exception as exc:  # noqa: BLE001 - say what the page showed
        raise AssertionError(
            f"'{name}' did not grow past {n}; the page says: " + page.evaluate("document.body.innerText")[-1500:]
        ) from exc
    return points(page, name)


def reload(page) -> None:
    page.reload()
    wait_idle(page)


def test_a_reload_and_a_second_tab_find_the_run_and_a_new_run_elsewhere_takes_its_slot():
    with app_server(env={"SSL_EXPLORER_MAX_TRAININGS": "1"}) as url, browser() as b:
        context = b.new_context(viewport={"width": 1280, "height": 1100})
        page = context.new_page()
        page.goto(url + "/training")
        wait_idle(page)
        choose_setting(page, "Steps", "2000")
        page.get_by_role("button", name="Start training").click()
        grows(page, "train loss")
        for _ in range(2):  # reloaded twice: the same run, still training, still in its one slot
            reload(page)
            expect(page.get_by_role("button", name="Training…")).to_be_disabled()
            expect(page.get_by_role("button", name="Stop", exact=True)).to_be_enabled()
            grows(page, "train loss")
        second = context.new_page()  # another tab of the same browser
        second.goto(url + "/training")
        wait_idle(second)
        expect(second.get_by_role("button", name="Training…")).to_be_disabled()
        grows(second, "train loss")
        # a new run on another page: the old one pauses and the new one trains at once in the only slot
        second.locator('[data-testid="stSidebarNav"]').get_by_text(
            "Images (MAE, SimCLR, CLIP, DINO)", exact=True
        ).click()
        wait_idle(second)
        second.get_by_role("button", name="Start training").click()
        expect(second.get_by_text(re.compile(r"Step [1-9]\d* of \d+"))).to_be_visible(timeout=60_000)
        assert second.get_by_text("Please wait").count() == 0
        reload(page)
        expect(
            page.get_by_text(re.compile(r"Stopped at step \d+ of 2000: you started another training \("))
        ).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^Resume \(step \d+ of 2000\)"))).to_be_enabled()
        second.get_by_role("button", name="Stop", exact=True).click()
        expect(second.get_by_text("Stop was pressed", exact=False)).to_be_visible(timeout=30_000)
        for p in (page, second):
            assert p.locator('[data-testid="stException"]').count() == 0


ORPHAN_PAUSE_S = 4


def test_a_run_whose_browser_has_no_tab_open_pauses_itself_and_frees_its_slot():
    """The real check (ui.session_alive through the browser's sessions) with a short pause time
    (SSL_EXPLORER_ORPHAN_PAUSE_S) on a server with one training slot."""
    env = {"SSL_EXPLORER_MAX_TRAININGS": "1", "SSL_EXPLORER_ORPHAN_PAUSE_S": str(ORPHAN_PAUSE_S)}
    with app_server(env=env) as url, browser() as b:
        context = b.new_context(viewport={"width": 1280, "height": 1100})
        page = context.new_page()
        page.goto(url + "/training")
        wait_idle(page)
        choose_setting(page, "Steps", "2000")
        page.get_by_role("button", name="Start training").click()
        grows(page, "train loss")
        page.wait_for_timeout(2 * ORPHAN_PAUSE_S * 1000)  # longer than the pause time, the tab open
        expect(page.get_by_role("button", name="Training…")).to_be_disabled()  # so it trains on
        grows(page, "train loss")
        page.close()  # the browser's only tab: nothing of it is connected any more
        time.sleep(ORPHAN_PAUSE_S + 8)

        page = context.new_page()  # the same browser opens the page again: it says why the run stopped
        page.goto(url + "/training")
        wait_idle(page)
        expect(
            page.get_by_text(
                re.compile(
                    rf"Training paused at step \d+: the page was closed for {ORPHAN_PAUSE_S} seconds\. Resume continues"
                )
            )
        ).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name=re.compile(r"^Resume \(step \d+ of 2000\)"))).to_be_enabled()

        # its slot is free: another participant's run trains at once on this one-slot server
        other = b.new_context(viewport={"width": 1280, "height": 1100}).new_page()
        other.goto(url + "/training")
        wait_idle(other)
        other.get_by_role("button", name="Start training").click()
        wait_idle(other)
        assert other.get_by_text("Please wait").count() == 0 and other.get_by_text("busy").count() == 0
        grows(other, "train loss")
        other.get_by_role("button", name="Stop", exact=True).click()
        expect(other.get_by_text("Stop was pressed", exact=False)).to_be_visible(timeout=30_000)
        for p in (page, other):
            assert p.locator('[data-testid="stException"]').count() == 0


@contextlib.contextmanager
def empty_reference_cache(tmp_path):
    """A cache folder with the converted SmolLM2 and no reference scores: DPO scores the pairs afresh."""
    tmp_path.joinpath(gguf_cache.smollm2_cache_path().name).symlink_to(gguf_cache.smollm2_cache_path())
    yield {"SSL_EXPLORER_CACHE": str(tmp_path)}


def _dpo_tab(page) -> None:
    page.get_by_role("tab", name="Train with DPO").click()
    wait_idle(page)


def test_dpo_scoring_goes_on_while_another_page_is_open_and_stop_works_meanwhile(tmp_path):
    with empty_reference_cache(tmp_path) as env, app_server(env=env) as url, browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url + "/alignment")
        wait_idle(page)
        _dpo_tab(page)
        page.get_by_role("button", name="Start DPO training").click()
        expect(page.get_by_text("Scoring the pairs with the reference model", exact=False).first).to_be_visible(
            timeout=60_000
        )
        expect(page.get_by_role("button", name="Stop", exact=True)).to_be_enabled()
        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Home", exact=True).click()  # another page while the pairs are scored
        wait_idle(page)
        page.wait_for_timeout(1500)
        nav.get_by_text("Alignment (preferences)", exact=True).click()
        wait_idle(page)
        _dpo_tab(page)
        expect(page.get_by_role("button", name="Training…")).to_be_disabled()  # the same run, going on
        grows(page, "margin (train)", timeout_ms=240_000)  # scored, then trained
        started = time.monotonic()
        page.get_by_role("button", name="Stop", exact=True).click()
        expect(page.get_by_text(re.compile(r"Stopped at step \d+ of \d+: Stop was pressed"))).to_be_visible(
            timeout=30_000
        )
        assert time.monotonic() - started < 30
        assert page.locator('[data-testid="stException"]').count() == 0


def _presenter(page):
    return page.locator('[data-testid="stSidebar"] [data-testid="stCheckbox"] input[type="checkbox"]')


def test_presenter_mode_survives_a_reload_and_a_home_link_in_the_same_tab():
    url = shared_server()
    with browser() as b:
        context = b.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.goto(url + "/")
        wait_idle(page)
        page.get_by_text("Presenter mode", exact=True).click()
        wait_idle(page)
        page.wait_for_function("() => location.search.includes('presenter=1')")
        reload(page)
        expect(_presenter(page)).to_be_checked()
        page.locator('[data-testid="stMarkdownContainer"] a', has_text="Alignment").first.click()
        page.wait_for_url(re.compile(r"/alignment\?presenter=1$"))
        wait_idle(page)
        assert len(context.pages) == 1  # the same tab
        expect(page.get_by_role("heading", name="Alignment: learning from preferences")).to_be_visible()
        expect(_presenter(page)).to_be_checked()
        page.get_by_text("Presenter mode", exact=True).click()  # off again: the link says so too
        wait_idle(page)
        page.wait_for_function("() => !location.search.includes('presenter')")
        reload(page)
        expect(_presenter(page)).not_to_be_checked()


def test_a_quiz_score_survives_a_reload():
    url = shared_server()
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url + "/lessons?lesson=1")
        wait_idle(page)
        page.locator(".st-key-quiz_02-cloze-0 [role=radiogroup] label").first.click()
        wait_idle(page)
        page.locator(".st-key-quiz_btn_02-cloze-0 button").click()
        wait_idle(page)
        metric = page.locator('[data-testid="stSidebar"] [data-testid="stMetricValue"]')
        expect(metric).to_have_text(re.compile(r"^[01] / 1$"))
        score = metric.inner_text()
        reload(page)
        expect(metric).to_have_text(score)
        expect(page.get_by_text("Answered: the first answer counts.")).to_have_count(1)
