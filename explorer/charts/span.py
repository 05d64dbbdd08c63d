"""Span corruption figures: colour-coded token strips (HTML), the three-objective grid, span statistics."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.charts import PALETTE, style
from explorer.wording import count

# light fills, one per span (cycled), readable with black text
SPAN_COLOURS = ["#ffd166", "#8ecae6", "#b5e48c", "#f4acb7", "#cdb4db", "#ffb703", "#90e0ef", "#e9c46a"]
NEUTRAL = "#f7f9fc"


def span_colour(n: int) -> str:
    return SPAN_COLOURS[n % len(SPAN_COLOURS)]


def _chip(label: str, colour: str, title: str = "", bold: bool = False) -> str:
    weight = "font-weight:700;" if bold else ""
    tip = f' title="{html.escape(title, quote=True)}"' if title else ""
    return f'<span class="tok" style="background:{colour};{weight}"{tip}>{html.escape(label)}</span>'


def token_strip(
    pieces: Sequence[str],
    colour_of: Sequence[int | None],
    *,
    label: str,
    count_note: str = "",
    sentinel: Sequence[bool] | None = None,
) -> str:
    """One row of token chips; `colour_of[i]` is a span number (coloured) or None (plain)."""
    sentinel = sentinel or [False] * len(pieces)
    chips = []
    for i, (p, c, s) in enumerate(zip(pieces, colour_of, sentinel)):
        colour = NEUTRAL if c is None else span_colour(c)
        title = f"token {i}" + (f", span {c}" if c is not None else "")
        chips.append(_chip(p, colour, title, bold=s))
    note = f' <span style="color:#555">({html.escape(count_note)})</span>' if count_note else ""
    return (
        f'<div style="margin:0.4rem 0"><div><b>{html.escape(label)}</b>{note}</div>'
        f'<div class="strip">{"".join(chips)}</div></div>'
    )


def corruption_strips(
    pieces: Sequence[str],
    mask: Sequence[bool],
    input_pieces: Sequence[str],
    target_pieces: Sequence[str],
    sentinel_number,
) -> str:
    """Original → corrupted input → target, each dropped span and its sentinel in the same colour."""
    span_of: list[int | None] = []
    n = -1
    for i, m in enumerate(mask):
        if m and (i == 0 or not mask[i - 1]):
            n += 1
        span_of.append(n if m else None)
    inp_colours = [sentinel_number(p) for p in input_pieces]
    tgt_colours: list[int | None] = []
    current: int | None = None
    for p in target_pieces:
        s = sentinel_number(p)
        if s is not None:
            current = s
        tgt_colours.append(current)
    final = len([1 for p in target_pieces if sentinel_number(p) is not None]) - 1
    tgt_colours = [None if c == final else c for c in tgt_colours]
    rows = [
        token_strip(pieces, span_of, label="Original", count_note=count(len(pieces), "token")),
        token_strip(
            input_pieces,
            inp_colours,
            label="Corrupted input (encoder)",
            count_note=count(len(input_pieces), "token"),
            sentinel=[c is not None for c in inp_colours],
        ),
        token_strip(
            target_pieces,
            tgt_colours,
            label="Target (decoder)",
            count_note=count(len(target_pieces), "token"),
            sentinel=[sentinel_number(p) is not None for p in target_pieces],
        ),
    ]
    return "".join(rows)


def filled_text_html(input_text: str, predictions: dict[int, str], originals: dict[int, str], pattern) -> str:
    """The corrupted input with each sentinel replaced by its predicted span (coloured; hover: original)."""
    out, cursor = [], 0
    for m in pattern.finditer(input_text):
        out.append(html.escape(input_text[cursor : m.start()]))
        n = int(m.group(1))
        pred = predictions.get(n, "")
        out.append(
            f'<span class="tok" style="background:{span_colour(n)}" '
            f'title="{html.escape("original: " + originals.get(n, ""), quote=True)}">'
            f"{html.escape(pred) if pred else '&nbsp;'}</span>"
        )
        cursor = m.end()
    out.append(html.escape(input_text[cursor:]))
    return f'<div style="line-height:2.2;font-size:1.1em">{"".join(out)}</div>'


OBJECTIVE_STATES = ["visible", "predicted from the left", "hidden and predicted", "visible, still predicted"]
_STATE_COLOURS = ["#eef1f6", "#9ecae1", PALETTE["accent"], "#fdd49e"]


def objectives_grid(
    names: Sequence[str],
    pieces: Sequence[str],
    shown: Sequence[Sequence[str]],
    hidden: Sequence[Sequence[bool]],
    predicted: Sequence[Sequence[bool]],
    *,
    causal_row: int | None = 1,
    large: bool = False,
) -> go.Figure:
    """Columns = objectives, rows = the sentence's tokens; colour says hidden / predicted; cell text =
    what the model's input shows at that token."""
    z, hover = [], []
    for i, p in enumerate(pieces):
        zr, hr = [], []
        for r, name in enumerate(names):
            if hidden[r][i]:
                state = 2
            elif predicted[r][i]:
                state = 1 if r == causal_row else 3
            else:
                state = 0
            zr.append(state)
            hr.append(
                f"<b>{html.escape(name)}</b><br>token {i}: {html.escape(p)}<br>input shows: "
                f"{html.escape(shown[r][i] or '(dropped)')}<br>{OBJECTIVE_STATES[state]}"
                + ("<br>loss here" if predicted[r][i] else "")
            )
        z.append(zr)
        hover.append(hr)
    k = len(_STATE_COLOURS)
    scale = []
    for s, c in enumerate(_STATE_COLOURS):
        scale += [[s / k, c], [(s + 1) / k, c]]
    y = [f"{i}  {p}" for i, p in enumerate(pieces)]
    text = [[(shown[r][i] or "·") for r in range(len(names))] for i in range(len(pieces))]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(names),
            y=y,
            zmin=-0.5,
            zmax=k - 0.5,
            colorscale=scale,
            showscale=False,
            text=text,
            texttemplate="%{text}",
            textfont=dict(color="#111"),
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            xgap=6,
            ygap=2,
        )
    )
    for label, colour in zip(OBJECTIVE_STATES, _STATE_COLOURS):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                marker=dict(size=12, color=colour, symbol="square", line=dict(color="#777", width=1)),
            )
        )
    fig.update_yaxes(autorange="reversed", type="category", title="token")
    fig.update_xaxes(type="category", side="top")
    fig.update_layout(legend=dict(orientation="h", y=-0.02, yanchor="top", x=0), plot_bgcolor="white")
    return style(fig, large=large, height=min(140 + 24 * len(pieces), 3200))


def span_length_histogram(
    lengths: Sequence[int],
    densities: Sequence[float],
    *,
    mean_target: float,
    density_target: float,
    large: bool = False,
) -> go.Figure:
    """Span lengths over many seeds, with the measured mean and density in the title."""
    lengths = np.asarray(lengths, dtype=int)
    values, counts = np.unique(lengths, return_counts=True)
    share = counts / counts.sum()
    fig = go.Figure(
        go.Bar(
            x=values,
            y=share,
            marker_color=PALETTE["primary"],
            hovertemplate="span length %{x}: %{y:.1%} of spans<extra></extra>",
        )
    )
    fig.add_vline(
        x=float(lengths.mean()),
        line_dash="dash",
        line_color=PALETTE["accent"],
        annotation_text=f"mean {lengths.mean():.2f} (asked {mean_target:g})",
    )
    fig.update_xaxes(title="span length (tokens)", dtick=1)
    fig.update_yaxes(title="share of spans", tickformat=".0%")
    title = (
        f"{len(densities)} seeds: noise density {np.mean(densities):.3f} (asked {density_target:g}), "
        f"mean span length {lengths.mean():.2f}"
    )
    return style(fig, large=large, title=title, height=300)
