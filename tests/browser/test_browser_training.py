"""Real browser: start a training, watch the loss chart grow, use the page while it trains (the chart
keeps growing), Stop it, Resume it."""

from __future__ import annotations

import re

import pytest

from app import ROOT
from tests.browser import CHARTS, RequestLog, app_server, browser, choose, choose_setting, wait_idle

pytestmark = pytest.mark.browser

LOSS_PLOT = (
    "[...document.querySelectorAll('.js-plotly-plot')]"
    ".find(el => (el.data || []).some(d => (d.name || '').startsWith('train loss')))"
)
POINTS = """() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.data || []).find(d => (d.name || '').startsWith('train loss'));
        if (t) return t.x.length;
    }
    return 0;
}"""


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


def _points(page) -> int:
    return page.evaluate(POINTS)


def _wait_points_above(page, n: int, timeout_ms: int = 120_000) -> int:
    try:
        page.wait_for_function(f"() => ({POINTS})() > {n}", timeout=timeout_ms)
    except Exception as exc:  # noqa: BLE001 - say what the page showed
        text = page.evaluate("document.body.innerText")
        raise AssertionError(
            f"the chart did not grow past {n} points (it has {_points(page)}); the page says: {text[-1500:]}"
        ) from exc
    return _points(page)


def _resume_step(page) -> int:
    label = page.get_by_role("button", name=re.compile(r"^Resume \(step")).inner_text(timeout=30_000)
    return int(re.search(r"step (\d+) of", label).group(1))


def _screenshot(page, name: str) -> None:
    """Scroll the loss chart into view (it is redrawn all the time, so by script) and take a screenshot."""
    page.evaluate(f"document.querySelector('{CHARTS}').scrollIntoView()")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ROOT / ".pytest_cache" / name))


def test_training_chart_grows_stop_keeps_progress_and_resume_continues(server):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1100})
        log = RequestLog(page)
        page.goto(server + "/training")
        wait_idle(page)
        assert page.get_by_text("Live training").first.is_visible()
        # 2000 steps, so that the run cannot end by itself during the test
        choose_setting(page, "Steps", "2000")

        page.get_by_role("button", name="Start training").click()
        first = _wait_points_above(page, 0)
        grown = _wait_points_above(page, first)
        assert grown > first
        # the chart is redrawn in place: a curve hidden from its legend stays hidden, on the same chart, as it grows
        page.evaluate(f"() => {{ window.__sslLoss = {LOSS_PLOT}; }}")
        page.locator(".js-plotly-plot .legend .traces", has_text="train loss (raw)").locator(".legendtoggle").click()
        hidden = f"() => {LOSS_PLOT}._fullData.find(d => d.name === 'train loss (raw)').visible"
        page.wait_for_function(f"() => ({hidden})() === 'legendonly'")
        _wait_points_above(page, _points(page) + 2)
        assert page.evaluate(f"() => {LOSS_PLOT} === window.__sslLoss")
        assert page.evaluate(hidden) == "legendonly"
        # and so does a zoom on the loss axis: drag up the plot area (the step axis keeps growing with the run)
        box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        x = box["x"] + box["width"] / 2
        page.mouse.move(x, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(x, box["y"] + box["height"] * 0.5, steps=5)
        page.mouse.move(x + 1, box["y"] + box["height"] * 0.8, steps=5)
        page.mouse.up()
        y_range = f"() => {LOSS_PLOT}._fullLayout.yaxis.range"
        zoomed = page.evaluate(y_range)
        assert page.evaluate(f"() => {LOSS_PLOT}._fullLayout.yaxis.autorange") is False
        _wait_points_above(page, _points(page) + 2)
        assert page.evaluate(y_range) == zoomed
        assert page.get_by_text(re.compile(r"Step \d+ of 2000")).count() >= 1
        _screenshot(page, "training-running.png")

        # the rest of the page stays usable: move the smoothing slider and switch the architecture
        slider = page.get_by_role("slider")
        before = slider.input_value()
        slider.focus()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "(v) => { const s = document.querySelector('input[type=range]'); return s && s.value != v; }", arg=before
        )
        assert float(slider.input_value()) == pytest.approx(float(before) - 0.05)
        page.get_by_text("BERT (masked LM", exact=False).click()
        page.get_by_text("press Stop, then Start").wait_for(timeout=30_000)
        moved = _points(page)
        assert _wait_points_above(page, moved + 5, timeout_ms=60_000) > moved  # training goes on
        assert page.get_by_role("button", name="Stop").is_enabled()
        page.get_by_text("GPT (causal LM", exact=False).click()

        page.get_by_role("button", name="Stop").click()
        stopped_at = _resume_step(page)
        wait_idle(page)
        assert grown <= stopped_at < 2000
        page.wait_for_timeout(2000)
        assert _resume_step(page) == stopped_at  # training stays stopped
        assert _points(page) == stopped_at  # and the chart keeps every step learned so far
        _screenshot(page, "training-stopped.png")

        page.get_by_role("button", name=re.compile(r"^Resume")).click()
        _wait_points_above(page, stopped_at)
        page.get_by_role("button", name="Stop").click()
        assert _resume_step(page) > stopped_at
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == [], log.external


def _select(page, label: str, option: str) -> None:
    choose(page, page.get_by_role("combobox", name=label), page.get_by_role("option", name=option))


def _one_stage(page, start: str) -> None:
    """Start a stage, wait for its first chart point, Stop: the stage ends there and the next is offered."""
    page.get_by_role("button", name=start).click()
    page.get_by_text(re.compile(r"Step \d+ of \d+")).first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Stop").click()
    wait_idle(page, timeout_ms=180_000)


def test_three_stages_take_rlhf_as_the_third_kept_across_a_reload_until_it_starts(server):
    """The "Third stage" choice: picked before pretraining, it decides the third stage offered after SFT; a
    reload keeps it (the browser's pipeline knows its third stage); before that stage starts it can still change."""
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(server + "/training")
        wait_idle(page)
        page.get_by_text("Three stages on one model").click()
        wait_idle(page)
        _select(page, "Third stage", "RLHF: a reward model, then RL")
        _one_stage(page, "Start pretraining")
        page.get_by_role("heading", name="2. Supervised fine-tuning").wait_for(timeout=120_000)
        _one_stage(page, "Start supervised fine-tuning")
        page.get_by_role("heading", name="3. Alignment (RLHF)").wait_for(timeout=120_000)
        assert page.get_by_text("first a reward model", exact=False).count() >= 1
        assert page.get_by_role("button", name="Start RLHF").is_visible()
        page.reload()
        wait_idle(page)
        if not page.get_by_role("heading", name="3. Alignment (RLHF)").count():
            page.get_by_text("Three stages on one model").click()
            wait_idle(page)
        page.get_by_role("heading", name="3. Alignment (RLHF)").wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Start RLHF").is_visible()
        assert "RLHF" in page.get_by_role("combobox", name="Third stage").input_value()
        _select(page, "Third stage", "DPO: learn from the pairs directly")
        page.get_by_role("heading", name="3. Alignment (DPO)").wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Start DPO training").is_visible()
        assert page.get_by_role("button", name="Start RLHF").count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
