"""Figures for CLIP on the digits, from plain arrays (never a model object): the batch's image–caption matrix,
zero-shot's confusion matrix, the accuracy of several prompt phrasings side by side, and the run's curves."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.charts import PALETTE, style
from explorer.charts.contrastive import batch_heatmap
from explorer.charts.vision import simclr_loss_curves


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def pair_matrix(
    similarity: np.ndarray, labels: Sequence[int], captions: Sequence[str], *, large: bool = False
) -> go.Figure:
    """Cosine of image i with caption j; the pairs (image i, its own caption i) on the boxed diagonal."""
    rows = [f"image {i} (a {d})" for i, d in enumerate(labels)]
    cols = [f"{j}: {html.escape(_short(c))}" for j, c in enumerate(captions)]
    full_rows = [f"image {i}, a handwritten {d}" for i, d in enumerate(labels)]
    full_cols = [f"caption {j}: “{html.escape(c)}”" for j, c in enumerate(captions)]
    fig = batch_heatmap(
        similarity, rows, cols, full_rows, full_cols, large=large, title="Cosine of every image with every caption"
    )
    fig.update_xaxes(title="caption (column j)", tickangle=-35)
    fig.update_yaxes(title="image (row i)")
    return fig


def confusion(
    matrix: np.ndarray, prompts: Sequence[str], *, large: bool = False, title: str | None = None
) -> go.Figure:
    """Zero-shot's confusion matrix: rows the true digit, columns the prompt chosen; counts, hover with the share."""
    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(1, m.sum(1, keepdims=True))
    cols = [f"{j}: {html.escape(_short(p, 16))}" for j, p in enumerate(prompts)]
    rows = [str(i) for i in range(len(m))]
    hover = [
        [
            f"true digit {i}; chose “{html.escape(prompts[j])}”: {int(m[i, j])} ({share[i, j]:.0%})"
            for j in range(len(m))
        ]
        for i in range(len(m))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=cols,
            y=rows,
            text=[[str(int(v)) for v in row] for row in m],  # strings: the counts as drawn
            texttemplate="%{text}",
            customdata=np.array(hover),
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="share", tickformat=".0%"),
        )
    )
    fig.update_yaxes(title="true digit", autorange="reversed", type="category")
    fig.update_xaxes(title="prompt with the highest cosine", tickangle=-35, type="category")
    return style(fig, large=large, title=title or "Zero-shot on the held-out digits", height=680 if large else 520)


def prompt_bars(accuracies: dict[str, float], *, large: bool = False) -> go.Figure:
    """Zero-shot accuracy of each way of writing the ten prompts (a template), with chance."""
    names = list(accuracies)
    fig = go.Figure(
        go.Bar(
            x=[html.escape(_short(n, 28)) for n in names],
            y=[accuracies[n] for n in names],
            text=[f"{accuracies[n]:.0%}" for n in names],
            textposition="outside",
            marker_color=PALETTE["primary"],
            customdata=[html.escape(n) for n in names],
            hovertemplate="prompts “%{customdata}”<br>held-out accuracy %{y:.1%}<extra></extra>",
        )
    )
    fig.add_hline(y=0.1, line=dict(color=PALETTE["muted"], dash="dot"), annotation_text="chance (10%)")
    fig.update_yaxes(title="zero-shot accuracy", range=[0, 1.1], tickformat=".0%")
    fig.update_xaxes(title="how the ten prompts are written")
    return style(fig, large=large, title="The same model, other words: prompt engineering", height=400)


def prompt_probabilities(probs: Sequence[float], prompts: Sequence[str], *, large: bool = False) -> go.Figure:
    """One image's share of each prompt (softmax of the learnt scale × cosine), the chosen one highlighted."""
    best = int(np.argmax(probs))
    fig = go.Figure(
        go.Bar(
            x=[f"{j}: {html.escape(_short(p, 16))}" for j, p in enumerate(prompts)],
            y=list(probs),
            marker_color=[PALETTE["good"] if j == best else PALETTE["primary"] for j in range(len(prompts))],
            text=[f"{p:.0%}" for p in probs],
            textposition="outside",
            customdata=[html.escape(p) for p in prompts],
            hovertemplate="“%{customdata}”<br>%{y:.1%}<extra></extra>",
        )
    )
    fig.update_yaxes(title="share (softmax over the prompts)", range=[0, 1.1], tickformat=".0%")
    fig.update_xaxes(title="prompt", tickangle=-35, type="category")
    return style(fig, large=large, title="Your image: which prompt is it closest to?", height=400)


def clip_loss_curves(
    history: Sequence[dict], batch: int | None = None, *, target: int | None = None, large: bool = False
) -> go.Figure:
    """Loss curves of a CLIP run (held-out accuracy = zero-shot with the plain prompts), with chance, ln(batch):
    SimCLR's figure, the same loss across two modalities."""
    fig = simclr_loss_curves(history, batch, target=target, large=large)
    fig.update_layout(yaxis_title="CLIP loss (both ways)")
    return fig
