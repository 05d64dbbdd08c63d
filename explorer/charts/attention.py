"""Attention and logit-lens figures from plain arrays (never a model object)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.charts import style, unique_labels

WEIGHTS = "Blues"
GAP = 1  # empty cells between tiles of the all-heads grid
GRID_TOKEN_HOVER = 25_000  # up to this many cells the grid's hover names the tokens
LENS_SCALE = [[0.0, "#ffffff"], [0.5, "#c6dbef"], [1.0, "#5a9fd4"]]  # light enough for black cell text
PLOT_WIDTH = 760  # pixels a wide-layout chart usually gets for its plot area


def _short(label: str, n: int = 14) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def attention_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    row_pos: Sequence[int] | None = None,
    col_pos: Sequence[int] | None = None,
    raw: np.ndarray | None = None,
    title: str | None = None,
    zmax: float | None = None,
    large: bool = False,
) -> go.Figure:
    """One attention matrix: rows attend (from, y axis) to columns (to, x axis).

    Hover shows both tokens with their positions and the exact weight; with `raw` (the model's own
    weights when the shown ones were renormalised) it shows that too.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    row_pos = list(row_pos) if row_pos is not None else list(range(len(rows)))
    col_pos = list(col_pos) if col_pos is not None else list(range(len(cols)))
    hover = []
    for i, r in enumerate(rows):
        line = []
        for j, c in enumerate(cols):
            s = f"from {r} (position {row_pos[i]})<br>to {c} (position {col_pos[j]})<br>weight {matrix[i, j]:.6f}"
            if raw is not None:
                s += f"<br>model's weight before renormalising {raw[i, j]:.6f}"
            line.append(s)
        hover.append(line)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=unique_labels(list(cols)),
            y=unique_labels(list(rows)),
            colorscale=WEIGHTS,
            zmin=0,
            zmax=zmax if zmax is not None else max(float(np.nanmax(matrix)) if matrix.size else 1.0, 1e-6),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            colorbar=dict(title="weight"),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", title="from (attending token)")
    fig.update_xaxes(type="category", tickangle=-45, title="to (attended token)", side="bottom")
    side = 60 + 22 * max(len(rows), 6)
    return style(fig, large=large, title=title, height=min(max(side, 320), 1400))


def heads_grid(
    weights: np.ndarray,
    layers: Sequence[int],
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str | None = None,
    large: bool = False,
) -> go.Figure:
    """Every head of the chosen layers as small tiles in one heatmap (rows: layers, columns: heads).

    weights: [len(layers), heads, R, C]. One trace keeps it fast even for 30 layers x 9 heads. Hover names
    the tokens when the grid is small (GRID_TOKEN_HOVER cells); larger grids give positions instead, which
    keeps the figure a few hundred kilobytes.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_layers, n_heads, R, C = weights.shape
    H, W = n_layers * (R + GAP) - GAP, n_heads * (C + GAP) - GAP
    z = np.full((H, W), np.nan, dtype=np.float32)  # float32 halves the figure's size
    where = np.full((H, W, 4), -1, dtype=np.int16)  # layer, head, from position, to position
    ii, jj = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
    for li in range(n_layers):
        for h in range(n_heads):
            y0, x0 = li * (R + GAP), h * (C + GAP)
            z[y0 : y0 + R, x0 : x0 + C] = weights[li, h]
            where[y0 : y0 + R, x0 : x0 + C] = np.stack([np.full_like(ii, layers[li]), np.full_like(ii, h), ii, jj], -1)
    if weights.size <= GRID_TOKEN_HOVER:
        rs, cs = [_short(r, 12) for r in rows], [_short(c, 12) for c in cols]
        text = [[f"{rs[w[2]]} → {cs[w[3]]}" if w[0] >= 0 else "" for w in line] for line in where]
        extra = dict(
            hovertext=text,
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>%{hovertext}"
            "<br>weight %{z:.4f}<extra></extra>",
        )
    else:
        extra = dict(
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>from position %{customdata[2]}"
            " to position %{customdata[3]}<br>weight %{z:.4f}<extra></extra>"
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            customdata=where,
            colorscale=WEIGHTS,
            zmin=0,
            zmax=1,
            hoverongaps=False,
            colorbar=dict(title="weight"),
            **extra,
        )
    )
    fig.update_xaxes(
        tickvals=[h * (C + GAP) + (C - 1) / 2 for h in range(n_heads)],
        ticktext=[f"head {h}" for h in range(n_heads)],
        showgrid=False,
        zeroline=False,
        side="top",
    )
    fig.update_yaxes(
        tickvals=[li * (R + GAP) + (R - 1) / 2 for li in range(n_layers)],
        ticktext=[f"layer {x}" for x in layers],
        autorange="reversed",
        showgrid=False,
        zeroline=False,
    )
    tile = max(40, min(120, PLOT_WIDTH // max(n_heads, 1)))  # about square tiles in a ~760 px wide plot
    return style(fig, large=large, title=title, height=110 + int(n_layers * (tile * (R + GAP) / max(C + GAP, 1))))


def head_pattern(scores: np.ndarray, metric: str, *, explanation: str = "", large: bool = False) -> go.Figure:
    """One score per head (rows: layers, columns: heads), e.g. how strongly each head looks at the previous token."""
    scores = np.asarray(scores, dtype=np.float64)
    n_layers, n_heads = scores.shape
    hover = [
        [f"layer {li}, head {h}<br>{metric}: {scores[li, h]:.4f}" for h in range(n_heads)] for li in range(n_layers)
    ]
    entropy = metric.startswith("entropy")
    fig = go.Figure(
        go.Heatmap(
            z=scores,
            x=[f"head {h}" for h in range(n_heads)],
            y=[f"layer {li}" for li in range(n_layers)],
            colorscale="Viridis" if entropy else "Oranges",
            zmin=0,
            zmax=None if entropy else 1,
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            colorbar=dict(title=metric.split(" ")[0]),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    return style(
        fig, large=large, title=f"{metric}: {explanation}" if explanation else metric, height=120 + 18 * n_layers
    )


def lens_heatmap(
    top_pieces: Sequence[Sequence[str]],
    color: np.ndarray,
    positions: Sequence[str],
    layers: Sequence[str],
    *,
    hover_lists: Sequence[Sequence[str]],
    color_title: str = "probability",
    title: str | None = None,
    large: bool = False,
) -> go.Figure:
    """Layers (y, last on top) x positions (x): each cell shows the top token, coloured by `color` in [0, 1].

    `hover_lists[layer][position]` is the hover text (e.g. the top-k tokens with probabilities).
    """
    color = np.asarray(color, dtype=np.float64)
    n_pos = len(positions)
    text = [[_short(p, 10) for p in row] for row in top_pieces]
    fig = go.Figure(
        go.Heatmap(
            z=color,
            x=unique_labels(list(positions)),
            y=list(layers),
            colorscale=LENS_SCALE,
            zmin=0,
            zmax=1,
            text=text,
            texttemplate="%{text}" if n_pos <= (12 if large else 24) else None,
            textfont=dict(size=20 if large else 11, color="#111"),
            hovertext=[list(r) for r in hover_lists],
            hovertemplate="%{hovertext}<extra></extra>",
            colorbar=dict(title=color_title),
        )
    )
    fig.update_yaxes(type="category", autorange=True)
    fig.update_xaxes(type="category", tickangle=-45, side="bottom")
    return style(fig, large=large, title=title, height=140 + 22 * len(layers))
