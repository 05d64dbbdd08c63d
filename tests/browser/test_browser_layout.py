"""Real browser at a projector's 1280x720, in both modes, on every page opened from the menu: no exception and
no request leaving 127.0.0.1 (offline), no label, button, metric, tab,
menu entry or choice cut short (an ellipsis: text wider than its box), chart text at least the chart's
base font (heatmap numbers are not shrunk to fit, and fit their cells), presenter mode's charts larger than the normal
ones, no sideways scrolling, and each page's main result (tests/layout_probe.MAIN_RESULT) starting on
the first screen. Screenshots of every page's first screen in both modes are kept in
.pytest_cache/screens/ (and of the whole page with SSL_EXPLORER_FULL_SCREENS=1)."""

from __future__ import annotations

import os

import pytest

from app import ROOT
from tests.browser import app_server, browser, wait_idle
from tests.layout_probe import findings, visit_pages

pytestmark = pytest.mark.browser
SCREENS = ROOT / ".pytest_cache" / "screens"


FULL_SCREENS = os.environ.get("SSL_EXPLORER_FULL_SCREENS") == "1"


# Views a page opens with a click (a tab, a switch), checked after its first view, in this order: what a
# participant sees there must fit the projector too. Each is recorded as "<page file> › <label>".
MORE_VIEWS = {
    "images": ["Images and words (CLIP)", "Its own teacher (DINO)"],
    "masked_lm": ["Why? Which tokens made it predict this"],
    "compare": ["Why? Which words each model used"],
}


def more_views(page, name: str):
    """Click each of the page's further views in turn: yields (label, page) once each is drawn."""
    for label in MORE_VIEWS.get(name, []):
        page.get_by_text(label, exact=True).first.click()
        wait_idle(page, 180_000)
        page.wait_for_timeout(800)
        yield label


def visit_all(url: str, presenter: bool) -> dict[str, dict]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    out, requests = {}, []
    with browser() as b:
        for f, name, page in visit_pages(url, b, presenter, requests=requests):
            slug = name + ("-presenter" if presenter else "")
            out[f] = findings(page, name)
            page.screenshot(path=str(SCREENS / f"{slug}.png"))
            for i, label in enumerate(more_views(page, name), start=1):
                out[f"{f} › {label}"] = findings(page)
                page.screenshot(path=str(SCREENS / f"{slug}-{i}.png"))
            if FULL_SCREENS:
                height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
                page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 8000)})
                page.wait_for_timeout(500)
                page.screenshot(path=str(SCREENS / f"{slug}-full.png"))
                page.set_viewport_size({"width": 1280, "height": 720})
    out["requests"] = requests
    return out


@pytest.fixture(scope="module")
def server():
    with app_server() as url:  # one server for both modes: its models are loaded once
        yield url


@pytest.fixture(scope="module")
def normal(server):
    return visit_all(server, False)


@pytest.fixture(scope="module")
def presenter(server):
    return visit_all(server, True)


def _pages(seen: dict) -> dict[str, dict]:
    return {f: got for f, got in seen.items() if f != "requests"}


@pytest.mark.parametrize("mode", ["normal", "presenter"])
def test_every_page_opens_from_the_menu_offline_without_an_exception(mode, request):
    from app import PAGES

    seen = request.getfixturevalue(mode)
    pages = _pages(seen)
    assert {f.split(" › ")[0] for f in pages} == {f for f, _, _ in PAGES if (ROOT / f).exists()}
    assert len(pages) == len({f for f, _, _ in PAGES if (ROOT / f).exists()}) + sum(map(len, MORE_VIEWS.values()))
    assert {f: got["exceptions"] for f, got in pages.items() if got["exceptions"]} == {}
    ok = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")  # as RequestLog.external
    assert seen["requests"] and [u for u in seen["requests"] if not u.startswith(ok)] == []


@pytest.mark.parametrize("mode", ["normal", "presenter"])
def test_nothing_is_cut_and_charts_are_readable(mode, request):
    seen = _pages(request.getfixturevalue(mode))
    problems = []
    for f, got in seen.items():
        problems += [f"{f}: cut {c}" for c in got["cut"]]
        if got["overflow"]:
            problems.append(f"{f}: the page scrolls sideways")
        for i, chart in enumerate(c for c in got["charts"] if c["shown"]):
            small = [s for s in chart["cells"] + chart["ticks"] if s < chart["base"] - 1]
            if small:
                problems.append(f"{f}: chart {i + 1} draws text at {small} under its base font {chart['base']}")
            if chart["cramped"]:
                problems.append(f"{f}: chart {i + 1} has heatmap numbers wider or taller than their cells")
    assert not problems, "\n".join(problems)
    assert (SCREENS / ("compare-presenter.png" if mode == "presenter" else "compare.png")).exists()


FIRST_SCREEN = 590  # px from the top of a 720-px screen: the result's title and its first bars are in view


@pytest.mark.parametrize("mode", ["normal", "presenter"])
def test_the_first_screen_shows_each_pages_main_result(mode, request):
    seen = _pages(request.getfixturevalue(mode))
    late = {
        f: got["result_top"]
        for f, got in seen.items()
        if " › " not in f and (got["result_top"] is None or got["result_top"] > FIRST_SCREEN)
    }
    assert not late, f"main result not on the first screen at 1280x720 ({mode}): {late}"


def test_presenter_charts_are_larger(normal, presenter):
    normal, presenter = _pages(normal), _pages(presenter)
    for f in normal:
        small = [c["base"] for c in normal[f]["charts"] if c["shown"]]
        big = [c["base"] for c in presenter[f]["charts"] if c["shown"]]
        if small and big:
            assert min(big) >= 1.4 * max(small), f
