"""Real browser: charts as plotly.js draws them (in-place charts hidden and shown, titles that fit, axis ticks)."""

from __future__ import annotations

import json

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


# each visible chart's title and axis titles: how far they stay inside the chart's drawing (px; < 0: cut)
TITLES_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
  .filter(p => p.offsetParent).flatMap(p => {
    const svg = p.querySelector('.main-svg').getBoundingClientRect();
    return Array.from(p.querySelectorAll('.gtitle, .g-xtitle text, .g-ytitle text')).map(t => {
      const r = t.getBoundingClientRect();
      return {text: t.textContent, inside: Math.min(r.left - svg.left, svg.right - r.right, r.top - svg.top)};
    });
  })"""


@pytest.mark.parametrize("presenter", [False, True])
def test_contrastive_views_similarity_title_fits_at_1280x720(presenter):
    from tests.browser import app_server, browser
    from tests.layout_probe import charts_drawn, visit_pages

    with app_server() as url, browser() as b:
        for _, _, page in visit_pages(url, b, presenter, only=["images"]):
            page.get_by_role("tab", name="Contrastive views (SimCLR)").click()
            wait_idle(page, 180_000)
            charts_drawn(page)
            titles = page.evaluate(TITLES_JS)
            similarity = [t for t in titles if t["text"].startswith("Cosine similarity")]
            assert similarity, titles
            # plotly's automargin puts an axis title flush with the edge: inside up to a sub-pixel rounding
            assert all(t["inside"] >= -0.5 for t in titles if "view" in t["text"].lower()), titles


def drawn_ticks(figs: dict) -> dict:
    """The tick labels plotly.js (the app's own copy) draws on each figure's y axes: {name: {axis: [labels]}}."""
    from explorer.ui import static_files
    from tests.browser import browser

    out = {}
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 720})
        page.set_content("<div id='g' style='width:900px'></div>")
        page.add_script_tag(path=str(static_files.ensure_plotly_js()))
        for name, fig in figs.items():
            page.evaluate("f => Plotly.newPlot('g', f.data, f.layout)", json.loads(fig.to_json()))
            out[name] = page.evaluate("""() => { const L = document.getElementById('g')._fullLayout;
                return Object.fromEntries(Object.keys(L).filter(k => /^yaxis\\d*$/.test(k))
                                          .map(k => [k, L[k]._vals.map(v => v.text)])); }""")
    return out


def test_accuracy_axes_have_round_ticks():
    """DPO's loss chart drew its accuracy axis (over the loss axis) with the loss axis' ticks: 0, 27, 55, 82%."""
    from explorer.charts import alignment, training

    history = [
        {
            "step": s,
            "loss": 0.69 - 0.004 * s,
            "eval_loss": 0.7 - 0.004 * s,
            "accuracy": min(1.0, 0.5 + s / 150),
            "train_accuracy": 0.6,
            "chosen_reward": 0.02 * s,
            "rejected_reward": -0.01 * s,
            "margin": 0.03 * s,
        }
        for s in range(0, 101, 10)
    ]
    ticks = drawn_ticks(
        {
            "loss": training.loss_curves(history, smoothing=0.6, target=100, title="DPO loss"),
            "preferences": alignment.preference_curves(history, target=100),
        }
    )
    round_ticks = ["0%", "25%", "50%", "75%", "100%"]
    assert ticks["loss"]["yaxis2"] == round_ticks
    assert ticks["preferences"]["yaxis2"] == round_ticks
