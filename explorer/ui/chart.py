"""A plotly chart that is redrawn in place when its figure changes (Plotly.react on the same node).

`st.plotly_chart` gives a chart a new identity whenever its figure changes (Streamlit hashes the
figure into the element's id), so the browser tears the chart down and builds it again on every
rerun that changes it: on the masked-LM page, most of the browser's share of the time between a
click and the new chart. This chart keeps its identity (its `key`) and hands the new figure to
plotly.js, which updates the drawing it has. Hover, the mode bar and resizing are plotly's own.

plotly.js is served by the app itself (`explorer.ui.static_files`); where it cannot be, the chart is
an ordinary `st.plotly_chart`.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import re
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
import streamlit as st

from explorer.ui import static_files

TEST_ID = "sslPlotlyChart"  # the chart's node in the page (tests and benchmarks find it by this)
CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

_JS = """
let loading = null;
const MARGIN = 300;  // px around the window: a chart this close to it is drawn
function served(path) {  // under the app's own base URL (a room's path prefix too), as Streamlit's own scripts
  const own = document.querySelector('script[src*="/static/js/index"]');
  return own ? new URL('../../' + path, own.src).href : path;
}
function plotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = served(src);
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { loading = null; s.remove(); reject(new Error('plotly.js did not load')); };
      document.head.appendChild(s);
    });
  }
  return loading;
}
function resized(P, host) {
  // Only a chart on show is resized: plotly refuses a hidden one ("Resize must be passed a displayed plot
  // div element", an uncaught rejection), e.g. a place that emptied (display: none) or a chart in a tab not
  // selected. The observer fires again when it is shown, and it is resized then.
  if (!host.isConnected || !host._fullLayout || !host.getClientRects().length
      || getComputedStyle(host).display === 'none') return;
  P.Plots.resize(host).catch(() => {});  // hidden in the meantime: it is resized when shown again
}
function onScreen(host) {  // in the window or near it, and shown
  if (!host.isConnected || !host.getClientRects().length) return false;
  const r = host.getBoundingClientRect(), h = window.innerHeight || document.documentElement.clientHeight;
  return r.bottom >= -MARGIN && r.top <= h + MARGIN && r.width > 0;
}
let watcher = null;
function watch(host) {  // drawn when it comes near the window (scrolled to, its tab or expander opened)
  if (!watcher) {
    watcher = new IntersectionObserver(entries => {
      for (const e of entries) if (e.isIntersecting) { watcher.unobserve(e.target); flush(e.target); }
    }, {rootMargin: MARGIN + 'px 0px'});
  }
  watcher.observe(host);
}
function flush(host) {
  const job = host.__sslPending;
  if (!job) return;
  host.__sslPending = null;
  const {fig, layout, data} = job;
  plotly(data.src).then(P => {
    host.querySelector(':scope > .ssl-chart-error')?.remove();
    P.react(host, fig.data || [], layout, data.config);
    if (!host.__sslResize) {  // a column can change width without the window changing (the sidebar)
      host.__sslResize = new ResizeObserver(() => resized(P, host));
      host.__sslResize.observe(host);
    }
  }).catch(e => {
    const note = host.querySelector(':scope > .ssl-chart-error') || host.appendChild(document.createElement('p'));
    note.className = 'ssl-chart-error';
    note.textContent = 'The chart could not be drawn (' + e.message + '): reload the page.';
  });
}
function draw(host, figure, alt, uirevision, data) {
  if (!figure) {  // a place kept for a chart to come: hidden (no chart to tests and screen readers),
    host.style.display = 'none';  // its drawing kept for the next figure
    host.removeAttribute('data-testid');
    host.removeAttribute('role');
    host.__sslPending = null;
    plotly(data.src).catch(() => {});  // loaded now, ready for the figure to come
    return;
  }
  host.style.display = '';
  host.setAttribute('data-testid', '%TEST_ID%');
  host.setAttribute('role', 'img');
  const fig = JSON.parse(figure);
  const layout = fig.layout || {};
  layout.font = Object.assign({family: getComputedStyle(document.body).fontFamily}, layout.font || {});
  layout.autosize = true;
  if (uirevision) layout.uirevision = uirevision;  // plotly keeps what the viewer changed
  host.style.height = (layout.height || 450) + 'px';  // its place on the page before it is drawn
  host.setAttribute('aria-label', alt);
  // Only what is on screen is drawn now; a chart further down the page (or in a closed tab) is drawn
  // when it comes into view, so a page with many charts is ready as soon as its top is.
  const waiting = !!host.__sslPending;
  host.__sslPending = {fig, layout, data};
  if (onScreen(host)) flush(host);
  else if (!waiting) watch(host);
}
export default function ({ data, parentElement }) {
  let grid = parentElement.querySelector(':scope > .ssl-charts');
  if (!grid) {
    grid = document.createElement('div');
    grid.className = 'ssl-charts';
    parentElement.appendChild(grid);
  }
  grid.style.gridTemplateColumns = 'repeat(' + (data.columns || 1) + ', minmax(0, 1fr))';
  const figures = data.figures || [];
  while (grid.children.length < figures.length) {  // places are added, never removed: one that empties is
    const host = document.createElement('div');  // hidden and keeps its drawing for its next figure
    host.className = 'ssl-chart';
    grid.appendChild(host);
  }
  Array.from(grid.children).forEach((host, i) => draw(host, figures[i] || null, (data.alts || [])[i] || '',
                                                      (data.uirevisions || [])[i], data));
  return () => {  // unmounted
    for (const host of grid.children) {
      if (host.__sslResize) host.__sslResize.disconnect();
      if (watcher) watcher.unobserve(host);
      host.__sslPending = null;
      if (window.Plotly) window.Plotly.purge(host);
    }
  };
}
""".replace("%TEST_ID%", TEST_ID)

COMPONENT = "ssl_explorer.plotly_in_place"
_component = st.components.v2.component(
    COMPONENT,
    js=_JS,
    isolate_styles=False,
    css=".ssl-charts { display: grid; column-gap: 1rem; row-gap: 1rem; } .ssl-chart { width: 100%; min-width: 0; }",
)


def _alt(fig: go.Figure) -> str:
    return html.unescape(re.sub(r"<[^>]*>", " ", fig.layout.title.text or "")) if fig.layout.title else ""


def plotly_charts(
    figs: Sequence[go.Figure | None],
    *,
    key: str,
    columns: int = 2,
    container: Any = None,
    alts: Sequence[str] | None = None,
    keep_view: Any = None,
) -> None:
    """Draw `figs` in a grid of `columns` as one element; a later rerun with the same `key` updates every
    chart in place, all in one go (charts in separate elements are drawn one by one, as their elements
    arrive, with the rest of the page in between).

    A place whose figure is None, or beyond the figures of this run, is kept hidden with its drawing:
    a chart that comes and goes with the page's state (a second blank's) is redrawn in place when it
    comes back instead of being built from nothing. `key` names the place on the page, not the content.
    `alts`: what each chart shows, for screen readers (default: its title). `keep_view`: while this value
    stays the same (a training run, for its growing curve), a zoom, pan or hidden legend entry of the
    person looking stays when the figures are updated; with None (the default) each new figure is shown whole.
    """
    figs = list(figs)
    if not static_files.plotly_js_served():
        drawn = [f for f in figs if f is not None]
        cols = (container if container is not None else st).columns(columns) if len(drawn) > 1 else None
        for i, fig in enumerate(drawn):
            place = cols[i % columns] if cols else (container if container is not None else st)
            place.plotly_chart(fig, width="stretch", key=f"{key}_{i}")
        return
    alts = list(alts or [])
    data = {
        "figures": [None if f is None else f.to_json() for f in figs],
        "columns": int(columns),
        "src": static_files.PLOTLY_JS_URL,
        "config": CONFIG,
        "alts": [
            (alts[i] if i < len(alts) and alts[i] else _alt(f)) if f is not None else "" for i, f in enumerate(figs)
        ],
        "uirevisions": [None if keep_view is None else f"{key}/{i}/{keep_view}" for i in range(len(figs))],
    }
    with container if container is not None else contextlib.nullcontext():
        _component(key=key, data=data, width="stretch", height="content")


def plotly_chart(
    fig: go.Figure | None, *, key: str, container: Any = None, alt: str = "", keep_view: Any = None
) -> None:
    """Draw `fig` where `container` (or the page) is; a later rerun with the same `key` updates it in place
    (`plotly_charts` with one chart; None keeps the place, hidden)."""
    plotly_charts([fig], key=key, columns=1, container=container, alts=[alt], keep_view=keep_view)


@st.cache_resource(max_entries=64, show_spinner=False)
def _figure(module: str, name: str, *args: Any, **kwargs: Any) -> go.Figure:
    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def made_once(builder: Callable[..., go.Figure], *args: Any, **kwargs: Any) -> go.Figure:
    """`builder(*args, **kwargs)`, made once per content and shared by the process's sessions: a page
    drawn again with the same input (a return to it, a rerun for another section, a room on the same
    example) reuses the figure instead of building it anew. The arguments are hashed (arrays, texts,
    numbers); the figure must not be changed by the caller."""
    return _figure(builder.__module__, builder.__qualname__, *args, **kwargs)
