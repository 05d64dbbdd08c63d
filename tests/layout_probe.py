"""What a person sees on a projector, measured in Chromium: cut labels, chart and heatmap fonts, and
where a page's main result starts. Used by tests/browser/test_browser_layout.py (and by hand:
`python -m tests.layout_probe [page ...]` prints the findings for every page in both modes)."""

from __future__ import annotations

import sys

from tests.browser import CHARTS

# Elements whose text must be shown whole: a scrollWidth wider than the box means an ellipsis or a cut.
CUT_JS = r"""() => {
  const sel = {
    'button': '[data-testid="stMain"] button, [data-testid="stSidebar"] button',
    'metric': '[data-testid="stMetric"]',
    'tab': '[role="tab"]',
    'menu': '[data-testid="stSidebarNav"] a',
    'label': '[data-testid="stWidgetLabel"], [data-testid="stCheckbox"] label, [data-testid="stRadio"] label',
    'select': '[data-testid="stSelectbox"] [data-baseweb="select"]',
    'slider': '[data-testid="stSlider"]',
  };
  const out = [];
  for (const [kind, q] of Object.entries(sel)) {
    for (const box of document.querySelectorAll(q)) {
      if (!box.offsetParent || !box.getBoundingClientRect().width) continue;  // hidden: a closed expander, a tab
      for (const e of [box, ...box.querySelectorAll('*')]) {
        const st = getComputedStyle(e);
        const clips = st.overflowX !== 'visible' || st.textOverflow === 'ellipsis';
        const text = (e.innerText || e.value || '').trim();
        if (clips && text && e.clientWidth && e.scrollWidth > e.clientWidth + 1) {
          out.push(kind + ': ' + text.replace(/\s+/g, ' ').slice(0, 50)); break;
        }
      }
    }
  }
  // a tab row wider than its box hides tabs behind a scroll; a tab shorter than its name cuts the name
  for (const list of document.querySelectorAll('[role="tablist"]')) {
    if (list.offsetParent && list.scrollWidth > list.clientWidth + 1) out.push('tabs: not all in view');
  }
  for (const t of document.querySelectorAll('[role="tab"]')) {
    if (t.offsetParent && t.scrollHeight > t.clientHeight + 1) out.push('tab: ' + t.innerText.replace(/\s+/g, ' ').slice(0, 50));
  }
  return [...new Set(out)];
}"""

# Every plotly chart: its base font, the smallest text it draws (tick labels, heatmap cells), its top.
CHART_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')).map(p => {
  const L = p._fullLayout || {}; const base = (L.font || {}).size || 0;
  const cells = (p._fullData || []).filter(d => d.type === 'heatmap' && d.texttemplate)
                 .map(d => (d.textfont || {}).size || base);
  const ticks = ['xaxis', 'yaxis'].map(a => ((L[a] || {}).tickfont || {}).size || base);
  // heatmap numbers that do not fit their cells (about 0.55 em a character) overlap into a smear
  const cramped = (p._fullData || []).filter(d => d.type === 'heatmap' && d.texttemplate && d.text).filter(d => {
    const xa = L[(d.xaxis || 'x').replace('x', 'xaxis')] || L.xaxis, ya = L[(d.yaxis || 'y').replace('y', 'yaxis')] || L.yaxis;
    const rows = d.text.length, cols = Math.max(...d.text.map(r => r.length));
    const size = (d.textfont || {}).size || base;
    const longest = Math.max(...d.text.flat().map(t => String(t).length));
    return xa._length / cols < 0.55 * size * longest + 4 || ya._length / rows < 1.1 * size;
  }).length;
  return {base, cells, ticks, cramped, top: p.getBoundingClientRect().top + document.querySelector('[data-testid="stMain"]').scrollTop,
          shown: !!p.offsetParent};
})"""


def charts_drawn(page, timeout_ms: int = 30_000) -> None:
    """Wait until every chart element on the page has been drawn by plotly (it draws after the run ends; a
    chart redrawn in place is drawn once it comes into view, so each is scrolled to, as a person would)."""
    try:
        charts = page.locator(CHARTS)
        for i in range(charts.count()):
            chart = charts.nth(i)
            if chart.is_visible():
                chart.scroll_into_view_if_needed(timeout=timeout_ms)
                chart.locator(".main-svg").first.wait_for(state="attached", timeout=timeout_ms)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_function(
            """(sel) => Array.from(document.querySelectorAll(sel))
            .every(c => c.querySelector('.main-svg') || !c.getClientRects().length)""",
            arg=CHARTS,
            timeout=timeout_ms,
        )
    except Exception:  # noqa: BLE001 - measured as it is; the test reports what it finds
        pass


# Where each page's main result starts (what the first screen must show): a CSS selector of the page.
MAIN_RESULT = {
    "masked_lm": ".js-plotly-plot",
    "causal_lm": ".js-plotly-plot",
    "compare": ".js-plotly-plot",
    "span_corruption": ".strip",
    "contrastive": ".js-plotly-plot",
    "attention": ".js-plotly-plot",
    "home": "[data-testid=stMarkdownContainer] h2",
    "lessons": "[data-testid=stMarkdownContainer] p",
    "training": "[data-testid=stRadio]",
    "models": "[data-testid=stTable]",
    "alignment": "[data-testid=stDataFrame]",
    "images": ".js-plotly-plot",
}
RESULT_JS = """sel => { const e = Array.from(document.querySelectorAll('[data-testid="stMain"] ' + sel))
    .find(x => x.offsetParent); return e ? e.getBoundingClientRect().top : null; }"""


def findings(page, slug: str | None = None) -> dict:
    """Cut texts, charts, the page's horizontal overflow, and (with the page's `slug`) where its main
    result starts on the first screen, for the page as it is now."""
    charts_drawn(page)
    page.evaluate("document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    top = page.evaluate(RESULT_JS, MAIN_RESULT[slug]) if slug in MAIN_RESULT else None
    return {
        "exceptions": page.locator('[data-testid="stException"]').count(),
        "cut": page.evaluate(CUT_JS),
        "charts": page.evaluate(CHART_JS),
        "result_top": top,
        "overflow": page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth"),
    }


def visit_pages(url: str, b, presenter: bool, only: list[str] = (), requests: list | None = None):
    """Open every page (or those in `only`) from the menu at 1280x720 in one mode: yields (file, slug, page);
    every address the browser asks for is added to `requests` when given."""
    from app import PAGES, ROOT
    from tests.browser import wait_idle

    page = b.new_page(viewport={"width": 1280, "height": 720})
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    wait_idle(page)
    if presenter:
        page.get_by_text("Presenter mode").click()
        wait_idle(page)
    for f, title, _ in PAGES:
        slug = f.split("/")[1][:-3]
        if not (ROOT / f).exists() or (only and slug not in only):
            continue
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        wait_idle(page, 180_000)
        page.wait_for_timeout(800)
        yield f, slug, page
    page.close()


def main(only: list[str]) -> None:  # pragma: no cover - a measuring tool
    from tests.browser import app_server, browser

    with app_server() as url, browser() as b:
        for presenter in (False, True):
            for _, slug, page in visit_pages(url, b, presenter, only):
                got = findings(page, slug)
                charts = [c for c in got["charts"] if c["shown"]]
                print(
                    f"{'P' if presenter else 'N'} {slug:16s} result at {got['result_top']}  cut={got['cut']}  "
                    f"cramped={[c['cramped'] for c in charts]}",
                    flush=True,
                )


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
