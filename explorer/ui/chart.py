"""A plotly chart that is redrawn in place when its figure changes (Plotly.react on the same node).

`st.plotly_chart` gives a chart a new identity whenever its figure changes (Streamlit hashes the
figure into the element's id), so the browser tears the chart down and builds it again on every
rerun that changes it: on the masked-LM page, most of the browser's share of the time between a
click and the new chart. This chart keeps its identity (its `key`) and hands the new figure to
plotly.js, which updates the drawing it has. Hover, the mode bar and resizing are plotly's own.

plotly.js is served by the app itself (`explorer.static_files`); where it cannot be, the chart is
an ordinary `st.plotly_chart`.
"""

from __future__ import annotations

import contextlib
import html
import re
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from explorer import static_files

TEST_ID = "sslPlotlyChart"  # the chart's node in the page (tests and benchmarks find it by this)
CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

_JS = """
let loading = null;
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
export default function ({ data, parentElement }) {
  let host = parentElement.querySelector('.ssl-chart');
  if (!host) {
    host = document.createElement('div');
    host.className = 'ssl-chart';
    parentElement.appendChild(host);
  }
  const unmounted = () => {
    if (host.__sslResize) host.__sslResize.disconnect();
    if (window.Plotly) window.Plotly.purge(host);
  };
  if (!data.figure) {  // a place kept for a chart to come: hidden (no chart to tests and screen readers),
    host.style.display = 'none';  // its drawing kept for the next figure
    host.removeAttribute('data-testid');
    host.removeAttribute('role');
    return unmounted;
  }
  host.style.display = '';
  host.setAttribute('data-testid', '%TEST_ID%');
  host.setAttribute('role', 'img');
  const fig = JSON.parse(data.figure);
  const layout = fig.layout || {};
  layout.font = Object.assign({family: getComputedStyle(document.body).fontFamily}, layout.font || {});
  layout.autosize = true;
  if (data.uirevision) layout.uirevision = data.uirevision;  // plotly keeps what the viewer changed
  host.style.height = (layout.height || 450) + 'px';
  host.setAttribute('aria-label', data.alt);
  plotly(data.src).then(P => {
    host.querySelector(':scope > .ssl-chart-error')?.remove();
    P.react(host, fig.data || [], layout, data.config);
    if (!host.__sslResize) {  // a column can change width without the window changing (the sidebar)
      host.__sslResize = new ResizeObserver(() => { if (host.isConnected) P.Plots.resize(host); });
      host.__sslResize.observe(host);
    }
  }).catch(e => {
    const note = host.querySelector(':scope > .ssl-chart-error') || host.appendChild(document.createElement('p'));
    note.className = 'ssl-chart-error';
    note.textContent = 'The chart could not be drawn (' + e.message + '): reload the page.';
  });
  return unmounted;
}
""".replace("%TEST_ID%", TEST_ID)

COMPONENT = "ssl_explorer.plotly_in_place"
_component = st.components.v2.component(COMPONENT, js=_JS,
                                        css=".ssl-chart { width: 100%; }", isolate_styles=False)


def plotly_chart(fig: go.Figure | None, *, key: str, container: Any = None, alt: str = "",
                 keep_view: Any = None) -> None:
    """Draw `fig` where `container` (or the page) is; a later rerun with the same `key` updates it in place.

    With `fig` None the place is kept, hidden and empty of anything new: a chart that comes and goes
    with the page's state (a second blank's) is then redrawn in place instead of built from nothing.

    `key` names the chart's place on the page (e.g. "the first blank's chart"), not its content.
    `alt`: what the chart shows, for screen readers (default: its title).
    `keep_view`: while this value stays the same (a training run, for its growing curve), a zoom, pan
    or hidden legend entry of the person looking stays when the figure is updated; with None (the
    default) each new figure is shown whole.
    """
    if not static_files.plotly_js_served():
        if fig is None:
            return
        (container if container is not None else st).plotly_chart(fig, width="stretch", key=key)
        return
    if fig is None:
        data = {"figure": None}
        with container if container is not None else contextlib.nullcontext():
            _component(key=key, data=data, width="stretch", height="content")
        return
    title = html.unescape(re.sub(r"<[^>]*>", " ", fig.layout.title.text or "")) if fig.layout.title else ""
    data = {"figure": fig.to_json(), "src": static_files.PLOTLY_JS_URL, "config": CONFIG, "alt": alt or title,
            "uirevision": None if keep_view is None else f"{key}/{keep_view}"}
    with container if container is not None else contextlib.nullcontext():
        _component(key=key, data=data, width="stretch", height="content")
