"""Plotly figures from plain arrays and frames (never a model object).

Shared builders live here; each topic adds its own module in this package
(`explorer.charts.mlm`, `explorer.charts.attention`, ...). Every builder takes `large=`
(presenter mode: bigger fonts) and returns a `plotly.graph_objects.Figure` with hover detail.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

# The house template, applied as every figure is made: setting it afterwards (update_layout) copies
# and validates the whole template again, about 7 ms per figure.
pio.templates.default = "plotly_white"

__all__ = ["PALETTE", "house_layout", "style", "probability_bars", "heatmap", "unique_labels"]

PALETTE = {"primary": "#1f5fbf", "accent": "#e07b00", "good": "#1a9850", "bad": "#d73027", "muted": "#9aa7b8"}


def house_layout(
    *,
    large: bool = False,
    title: str | None = None,
    height: int | None = None,
    axes: Sequence[str] = ("xaxis", "yaxis"),
) -> dict:
    """The house style as a plain layout dict: readable fonts (larger in presenter mode), tight margins."""
    size = 20 if large else 13
    layout = dict(
        font=dict(size=size, color="#111"),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        hoverlabel=dict(font=dict(size=size)),
        **{name: {"tickfont": {"size": size - 1}} for name in axes},
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=size + 4))
    if height:
        layout["height"] = int(height * (1.3 if large else 1.0))
    return layout


def style(fig: go.Figure, *, large: bool = False, title: str | None = None, height: int | None = None) -> go.Figure:
    """House style (`house_layout`) applied to a figure, every axis of it (subplots included)."""
    # one update with plain nested dicts: plotly's per-call validation and its "a_b" path parsing
    # made this function most of a chart's cost
    axes = [name for name in ("xaxis", "yaxis", *fig.layout._props) if name.startswith(("xaxis", "yaxis"))]
    layout = house_layout(large=large, title=title, height=height, axes=axes)
    legend = fig.layout.legend
    if title and legend.yanchor == "bottom" and (legend.y or 0) >= 1:  # a legend row above the plot, under the title
        layout["margin"]["t"] += round(2 * layout["font"]["size"])
        layout["title"].update(yref="container", y=1, yanchor="top", pad=dict(t=8))
    fig.update_layout(layout)
    size = layout["font"]["size"]
    for trace in fig.data:  # a heatmap's numbers: the chart's own size, never shrunk to fit (plotly's "auto")
        if trace.type == "heatmap" and trace.texttemplate and not (trace.textfont and trace.textfont.size):
            trace.textfont.size = size
    return fig


def probability_bars(
    labels: Sequence[str],
    probs: Sequence[float],
    *,
    highlight: Sequence[bool] | None = None,
    hover: Sequence[str] | None = None,
    title: str | None = None,
    large: bool = False,
    xaxis_title: str = "probability",
    text: Sequence[str] | None = None,
    tickformat: str = ".0%",
) -> go.Figure:
    """Horizontal bars, most likely on top; highlighted bars (e.g. the original token) in accent colour.

    `text`: the label on each bar (default: the probability to one decimal place). The figure is made
    in one construction from plain dicts, without plotly's per-property validation (drawn on every click;
    `tests/core/base/test_charts.py` checks that plotly accepts it as valid).
    """
    labels = list(labels)
    probs = [float(p) for p in probs]
    hl = list(highlight) if highlight is not None else [False] * len(labels)
    colors = [PALETTE["accent"] if h else PALETTE["primary"] for h in hl]
    bar = dict(
        type="bar",
        x=probs[::-1],
        y=unique_labels([f"{lab} " for lab in labels])[::-1],
        orientation="h",
        marker=dict(color=colors[::-1]),
        textposition="auto",
        text=list(text)[::-1] if text is not None else [f"{p:.1%}" for p in probs[::-1]],
        hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    )
    if hover is not None:
        bar.update(hovertext=list(hover)[::-1], hovertemplate="%{y}: %{x:.4f}<br>%{hovertext}<extra></extra>")
    layout = house_layout(large=large, title=title, height=60 + 28 * max(len(labels), 3))
    layout["xaxis"].update(title=dict(text=xaxis_title), range=[0, max(probs + [0.01]) * 1.15], tickformat=tickformat)
    layout["yaxis"]["type"] = "category"
    return go.Figure(dict(data=[bar], layout=layout), _validate=False)


def heatmap(
    z,
    x: Sequence[str],
    y: Sequence[str],
    *,
    title: str | None = None,
    large: bool = False,
    colorscale: str = "Blues",
    zmin: float | None = None,
    zmax: float | None = None,
    hover: str = "%{y} → %{x}: %{z:.3f}",
    text=None,
    height: int | None = None,
) -> go.Figure:
    """A labelled heatmap; `x`/`y` are token labels (made unique for plotly's category axes)."""
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=unique_labels(x),
            y=unique_labels(y),
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            hovertemplate=hover + "<extra></extra>",
            text=text,
            texttemplate="%{text}" if text is not None else None,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-45)
    return style(fig, large=large, title=title, height=height or max(300, 40 + 22 * len(y)))


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Plotly merges equal category labels: suffix repeats with an invisible counter."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0)
        seen[lab] = n + 1
        out.append(lab + "\u200b" * n)
    return out


def shown_frame(frame: pd.DataFrame, formats: dict[str, Any]) -> pd.DataFrame:
    """`frame` with the columns of `formats` written as the page shows them (a format string or a function
    of the value), "—" where a value is missing. A plain frame of text: a table of it is drawn in a few ms,
    a pandas Styler doing the same costs about ten times more on every rerun."""
    out = frame.copy()
    for column, fmt in formats.items():
        if column in out.columns:
            write = fmt if callable(fmt) else fmt.format
            out[column] = [("—" if v is None or pd.isna(v) else write(v)) for v in out[column]]
    return out
