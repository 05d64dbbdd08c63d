"""Figures for the causal-LM page: next-token bars before/after decoding settings, surprisal per
position, and coloured token strips (HTML, every piece escaped)."""

from __future__ import annotations

import functools
import html
import math
from typing import Sequence

import plotly.graph_objects as go
from plotly.colors import sample_colorscale, unlabel_rgb

from explorer.charts import PALETTE, house_layout, style, unique_labels

SURPRISE_SCALE = "RdYlGn"
MAX_BITS = 12.0  # surprisal at which the colour scale saturates (p = 1/4096)
OTHER_COLOURS = ("#d5dce6", "#9db8e3")  # the "(other)" row: model, after settings


def decoding_bars(
    labels: Sequence[str],
    before: Sequence[float],
    after: Sequence[float],
    kept: Sequence[bool],
    *,
    token_ids: Sequence[int | None] | None = None,
    title: str | None = None,
    large: bool = False,
) -> go.Figure:
    """Grouped horizontal bars, most likely on top: the model's probability and the probability after
    temperature / top-k / top-p (cut tokens get 0 and a 'cut' mark). The last row may be '(other)'.

    Drawn on every step of the causal-LM page: the figure is written as one plain specification and made
    without plotly's per-property validation (which took most of its 17 ms); `tests/core/base/test_charts.py` checks
    that plotly accepts it as valid."""
    labels = unique_labels([f"{lab} " for lab in labels])
    if token_ids is None:
        ids: list[int | None] = [0] * len(labels)
        hover = [""] * len(labels)
    else:
        ids = [_as_id(i) for i in token_ids]
        hover = [f"id {i}" if i is not None else "all remaining tokens" for i in ids]
    status = ["kept" if k else "cut" for k in kept]
    rev_ids, rev_kept, rev_after = ids[::-1], list(kept)[::-1], list(after)[::-1]
    custom = [list(c) for c in zip(hover, status)][::-1]
    bar = dict(type="bar", y=labels[::-1], orientation="h", textposition="outside", customdata=custom, showlegend=False)
    data = [
        dict(
            bar,
            name="model (temperature 1)",
            x=list(before)[::-1],
            marker=dict(color=[OTHER_COLOURS[0] if i is None else PALETTE["muted"] for i in rev_ids]),
            text=[f"{p:.1%}" for p in list(before)[::-1]],
            hovertemplate="%{y}<br>model: %{x:.4f}<br>%{customdata[0]}<extra></extra>",
        ),
        dict(
            bar,
            name="after the decoding settings",
            x=rev_after,
            marker=dict(
                color=[
                    OTHER_COLOURS[1] if i is None else PALETTE["primary"] if k else PALETTE["bad"]
                    for i, k in zip(rev_ids, rev_kept)
                ]
            ),
            text=[f"{p:.1%}" if k else "cut" for p, k in zip(rev_after, rev_kept)],
            hovertemplate="%{y}<br>after settings: %{x:.4f} (%{customdata[1]})<br>%{customdata[0]}<extra></extra>",
        ),
    ]
    # Bars of one trace have several colours (cut tokens, the "(other)" row), and a legend swatch takes the
    # colour of a trace's first bar: the legend is drawn from swatches of its own, one per colour meaning.
    for name, colour in legend_entries(any(i is None for i in ids), not all(kept)):
        data.append(
            dict(
                type="scatter",
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                hoverinfo="skip",
                marker=dict(symbol="square", size=14, color=colour),
            )
        )
    top = max(list(before) + list(after) + [0.01])
    layout = house_layout(large=large, title=title, height=90 + 40 * max(len(labels), 3))
    layout.update(
        barmode="group",
        bargap=0.25,
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        xaxis=dict(layout["xaxis"], title=dict(text="probability"), range=[0, min(1.0, top) * 1.22], tickformat=".0%"),
        yaxis=dict(layout["yaxis"], type="category"),
    )
    layout["margin"]["t"] = 60 if title else 40
    if title:  # a legend row above the plot, under the title (as `style` places it)
        layout["title"].update(yref="container", y=1, yanchor="top", pad=dict(t=8))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def legend_entries(other: bool, cut: bool) -> list[tuple[str, str]]:
    """(name, colour) of the decoding chart's legend: the colours its bars use."""
    entries = [("model (temperature 1)", PALETTE["muted"]), ("after the decoding settings", PALETTE["primary"])]
    if cut:
        entries.append(("cut by top-k / top-p", PALETTE["bad"]))
    if other:
        entries += [("all other tokens: model", OTHER_COLOURS[0]), ("all other tokens: after", OTHER_COLOURS[1])]
    return entries


def _as_id(value) -> int | None:
    """A token id, or None for a row that is not one token (e.g. '(other)', NaN in a frame)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def surprisal_bars(
    targets: Sequence[str],
    nats: Sequence[float],
    probs: Sequence[float],
    contexts: Sequence[str],
    *,
    loss: float | None = None,
    title: str | None = None,
    large: bool = False,
) -> go.Figure:
    """One bar per training pair: how surprised the model is by the actual next token, −ln p in nats (the
    unit of the loss, whose value `loss`, their mean, is drawn as a line), coloured like `token_chips`
    (green: expected, red: surprising)."""
    fig = go.Figure(
        go.Bar(
            x=unique_labels(list(targets)),
            y=list(nats),
            marker_color=[prob_colour(p) for p in probs],
            customdata=[[c, t, p, i + 1] for i, (c, t, p) in enumerate(zip(contexts, targets, probs))],
            hovertemplate="position %{customdata[3]}: %{customdata[0]} → <b>%{customdata[1]}</b><br>"
            "p = %{customdata[2]:.4f}<br>surprisal = %{y:.2f} nats<extra></extra>",
        )
    )
    if loss is not None:
        fig.add_hline(
            y=loss,
            line_dash="dash",
            line_color=PALETTE["accent"],
            annotation_text=f"loss = mean {loss:.2f} nats",
            annotation_position="top right",
        )
    fig.update_xaxes(
        title="actual next token, in text order", type="category", tickangle=0 if len(targets) <= 16 else -60
    )
    fig.update_yaxes(title="surprisal (nats) = −ln p", rangemode="tozero")
    return style(fig, large=large, title=title, height=340)


COLOUR_LEVELS = 512  # shades between the most surprising and the most expected token


def prob_colour(p: float) -> str:
    """Background colour for a probability: green when expected, red when surprising (log scale)."""
    bits = -math.log2(max(float(p), 1e-300))
    x = max(0.0, min(1.0, 1 - bits / MAX_BITS))
    return _shade(round(x * (COLOUR_LEVELS - 1)))


@functools.lru_cache(maxsize=None)
def _shade(level: int) -> str:
    """One of the scale's shades, computed once (plotly's colour parsing costs ~0.1 ms a call)."""
    return sample_colorscale(SURPRISE_SCALE, [0.08 + 0.84 * level / (COLOUR_LEVELS - 1)])[0]  # skip the darkest ends


@functools.lru_cache(maxsize=None)
def _text_colour(background: str) -> str:
    r, g, b = unlabel_rgb(background)
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def token_chips(
    pieces: Sequence[str],
    *,
    special: Sequence[bool] | None = None,
    titles: Sequence[str] | None = None,
    probs: Sequence[float | None] | None = None,
) -> str:
    """HTML chips, one per token; with `probs`, each chip is coloured by its probability."""
    out = []
    for i, piece in enumerate(pieces):
        title = f' title="{html.escape(titles[i])}"' if titles is not None else ""
        p = probs[i] if probs is not None else None
        if p is None:
            cls = "tok special" if special is not None and special[i] else "tok"
            out.append(f'<span class="{cls}"{title}>{html.escape(piece)}</span>')
        else:
            bg = prob_colour(p)
            out.append(
                f'<span class="tok" style="background:{bg};color:{_text_colour(bg)};border-color:{bg}"'
                f"{title}>{html.escape(piece)}</span>"
            )
    return '<div class="clm-chips">' + "".join(out) + "</div>"


def colour_legend() -> str:
    """A small HTML legend for `prob_colour`."""
    stops = [1.0, 0.5, 0.1, 0.01, 0.001, 0.0001]
    chips = "".join(
        f'<span class="tok" style="background:{prob_colour(p)};color:{_text_colour(prob_colour(p))}">p = {p:g}</span>'
        for p in stops
    )
    return f'<div class="clm-chips" style="font-size:0.85em">{chips}</div>'
