"""Figures for live training: loss curves (train, smoothed, held-out, accuracy) and label strips."""

from __future__ import annotations

import math
from typing import Sequence

import plotly.graph_objects as go

from explorer.charts import PALETTE, style


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (weight 0 = raw values)."""
    weight = min(max(float(weight), 0.0), 0.99)
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** (i + 1)) if weight else v)
    return out


MAX_POINTS = 500  # per trace; longer runs are thinned evenly (the last point always kept)


def thin(xs: Sequence, ys: Sequence, max_points: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point of a long series so it has at most about `max_points`, keeping the last."""
    if len(xs) <= max_points:
        return list(xs), list(ys)
    k = math.ceil(len(xs) / max_points)
    idx = list(range(0, len(xs) - 1, k)) + [len(xs) - 1]
    return [xs[i] for i in idx], [ys[i] for i in idx]


def _series(history: Sequence[dict], smoothing: float) -> list[tuple[list, list]]:
    """(x, y) of each loss-chart trace, in trace order: train (raw, and smoothed), held-out, accuracy."""
    train = [h for h in history if "loss" in h]
    steps, losses = [h["step"] for h in train], [h["loss"] for h in train]
    out = [thin(steps, losses)]
    if smoothing > 0:
        out.append(thin(steps, smooth(losses, smoothing)))
    out.append(
        ([h["step"] for h in history if "eval_loss" in h], [h["eval_loss"] for h in history if "eval_loss" in h])
    )
    if any("accuracy" in h for h in history):
        out.append(
            ([h["step"] for h in history if "accuracy" in h], [h["accuracy"] for h in history if "accuracy" in h])
        )
    return out


def _x_range(history: Sequence[dict], target: int | None) -> list[int]:
    """The step axis grows with the run (30% headroom) and ends at the target step."""
    last = history[-1]["step"] if history else 0
    end = max(20, math.ceil(last * 1.3))
    return [0, max(min(end, target), last, 1) if target else end]


# an accuracy axis: 0 to 100% with round ticks (an axis over another one would otherwise take its ticks from
# the loss axis beneath it, e.g. 0, 27, 55, 82%)
ACCURACY_AXIS = dict(range=[0, 1.02], tickmode="array", tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%")


def loss_curves(
    history: Sequence[dict],
    *,
    smoothing: float = 0.0,
    reference: float | None = None,
    target: int | None = None,
    large: bool = False,
    title: str | None = None,
    height: int = 360,
) -> go.Figure:
    """Train loss per step (raw, and smoothed when `smoothing` > 0), held-out loss at evaluation
    steps, held-out accuracy on a second axis when present, and an optional reference line
    (ln of the vocabulary size: the loss of a uniform guess). Refresh it with `update_loss_curves`."""
    series = _series(history, smoothing)
    fig = go.Figure()
    raw = dict(color=PALETTE["primary"], width=1) if smoothing > 0 else dict(color=PALETTE["primary"], width=2)
    fig.add_trace(
        go.Scatter(
            x=series[0][0],
            y=series[0][1],
            mode="lines",
            line=raw,
            opacity=0.3 if smoothing > 0 else 1,
            name="train loss (raw)" if smoothing > 0 else "train loss",
            hovertemplate="step %{x}<br>train loss %{y:.3f}<extra></extra>",
        )
    )
    if smoothing > 0:
        fig.add_trace(
            go.Scatter(
                x=series[1][0],
                y=series[1][1],
                mode="lines",
                name="train loss (smoothed)",
                line=dict(color=PALETTE["primary"], width=2.5),
                hovertemplate="step %{x}<br>smoothed train loss %{y:.3f}<extra></extra>",
            )
        )
    held = series[2 if smoothing > 0 else 1]
    fig.add_trace(
        go.Scatter(
            x=held[0],
            y=held[1],
            mode="lines+markers",
            name="held-out loss",
            line=dict(color=PALETTE["accent"], width=2),
            marker=dict(size=6),
            hovertemplate="step %{x}<br>held-out loss %{y:.3f}<extra></extra>",
        )
    )
    if len(series) > (3 if smoothing > 0 else 2):
        acc = series[-1]
        fig.add_trace(
            go.Scatter(
                x=acc[0],
                y=acc[1],
                mode="lines+markers",
                name="held-out accuracy",
                yaxis="y2",
                line=dict(color=PALETTE["good"], width=2, dash="dot"),
                hovertemplate="step %{x}<br>held-out accuracy %{y:.1%}<extra></extra>",
            )
        )
        fig.update_layout(yaxis2=dict(title="accuracy", overlaying="y", side="right", showgrid=False, **ACCURACY_AXIS))
    if reference is not None:
        fig.add_hline(
            y=reference,
            line=dict(color=PALETTE["muted"], dash="dash"),
            annotation_text=f"uniform guess: ln(vocabulary) = {reference:.2f}",
            annotation_position="top right",
        )
    fig.update_xaxes(title="step", range=_x_range(history, target))
    fig.layout.yaxis.update(title="loss (cross-entropy)", rangemode="tozero")  # not the accuracy axis
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="x unified")
    return style(fig, large=large, title=title, height=height)


def update_loss_curves(
    fig: go.Figure, history: Sequence[dict], *, smoothing: float = 0.0, target: int | None = None
) -> go.Figure:
    """Put a longer history into a figure made by `loss_curves` with the same smoothing (much faster
    than building a new one, for redrawing while training)."""
    series = _series(history, smoothing)
    if len(series) != len(fig.data):
        raise ValueError("the figure was made for another kind of history")
    with fig.batch_update():
        for trace, (x, y) in zip(fig.data, series):
            trace.x, trace.y = x, y
        fig.layout.xaxis.range = _x_range(history, target)
    return fig


def label_strip(
    pieces: Sequence[str],
    self_supervised: Sequence[bool],
    supervised: Sequence[bool],
    *,
    large: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Two rows over the tokens of one example: which tokens are prediction targets (count in the
    loss) under self-supervised next-token training and under SFT (prompt labelled -100)."""
    from explorer.charts import unique_labels

    rows = ["SFT (prompt = -100)", "self-supervised (CLM)"]
    z = [[1 if s else 0 for s in supervised], [1 if s else 0 for s in self_supervised]]
    text = [["counts" if s else "-100" for s in supervised], ["counts" if s else "-100" for s in self_supervised]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=unique_labels(list(pieces)),
            y=rows,
            zmin=0,
            zmax=1,
            showscale=False,
            text=text,
            xgap=2,
            ygap=4,
            colorscale=[[0, "#e6e9ef"], [1, PALETTE["good"]]],
            hovertemplate="token %{x}<br>%{y}: %{text}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", tickangle=-60)
    return style(fig, large=large, title=title, height=230)
