"""Figures of a DINO run, from its history (never a model object): the loss and the probe's accuracy, and the
two signs of collapse: the teacher's entropy (ln K when every output is uniform) and the share of the batch in
its most popular output dimension (1 when one dimension takes every image)."""

from __future__ import annotations

import math
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts import PALETTE, style
from explorer.charts.training import loss_curves


def dino_loss_curves(history: Sequence[dict], *, target: int | None = None, large: bool = False) -> go.Figure:
    """The student's loss (cross-entropy to the teacher) and the held-out probe accuracy."""
    fig = loss_curves(history, smoothing=0.6, target=target, large=large)
    fig.update_layout(yaxis_title="DINO loss (student to teacher)")
    return fig


def collapse_curves(
    history: Sequence[dict], out_dim: int, *, target: int | None = None, large: bool = False
) -> go.Figure:
    """Teacher entropy (left) and the top dimension's share of the batch (right), per step, with what collapse
    would read: ln K (uniform) and 0 / 1 (one dimension)."""
    steps = [h["step"] for h in history if "teacher_entropy" in h]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Teacher entropy (nats)", "Share of the batch in the top dimension"),
        horizontal_spacing=0.12,
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=[h["teacher_entropy"] for h in history if "teacher_entropy" in h],
            name="teacher entropy",
            line=dict(color=PALETTE["primary"]),
            hovertemplate="step %{x}<br>entropy %{y:.2f} nats<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=[h["top_share"] for h in history if "top_share" in h],
            name="top dimension's share",
            line=dict(color=PALETTE["accent"]),
            hovertemplate="step %{x}<br>%{y:.0%} of the batch in one dimension<extra></extra>",
        ),
        row=1,
        col=2,
    )
    ln_k = math.log(out_dim)
    fig.add_hline(
        y=ln_k,
        line=dict(color=PALETTE["muted"], dash="dash"),
        annotation_text=f"uniform: ln {out_dim} = {ln_k:.2f}",
        row=1,
        col=1,
    )
    fig.add_hline(y=0.9, line=dict(color=PALETTE["muted"], dash="dash"), annotation_text="collapse: 90%", row=1, col=2)
    fig.update_yaxes(range=[0, ln_k * 1.1], row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title="step", range=[0, target] if target else None)
    fig.update_layout(showlegend=False)
    return style(fig, large=large, title="Is it collapsing?", height=360)
