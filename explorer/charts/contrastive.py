"""Contrastive figures: cosine-similarity heatmaps, the PCA map and the InfoNCE batch."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.charts import PALETTE, style, unique_labels


def _matrix(
    z: np.ndarray,
    x: Sequence[str],
    y: Sequence[str],
    full_x: Sequence[str],
    full_y: Sequence[str],
    *,
    value_name: str,
    colorscale,
    zmin: float,
    zmax: float,
    fmt: str,
    large: bool,
    title: str | None,
    extra: np.ndarray | None = None,
    extra_name: str = "",
) -> go.Figure:
    z = np.asarray(z, dtype=float)
    custom = np.empty(z.shape + (3,), dtype=object)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            custom[i, j] = (full_y[i], full_x[j], "" if extra is None else f"<br>{extra_name}: {extra[i, j]:.3f}")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=unique_labels(x),
            y=unique_labels(y),
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            text=[[format(v, fmt) for v in row] for row in z],
            texttemplate="%{text}",
            customdata=custom,
            hovertemplate="%{customdata[0]}<br>↔ %{customdata[1]}<br>" + value_name + ": %{z:.3f}%{customdata[2]}"
            "<extra></extra>",
            colorbar=dict(title=value_name, thickness=14),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-35 if max(map(len, x), default=0) > 4 else 0)
    return style(fig, large=large, title=title, height=max(320, 120 + 34 * len(y)))


def similarity_heatmap(
    sim: np.ndarray,
    labels: Sequence[str],
    sentences: Sequence[str],
    *,
    x_labels: Sequence[str] | None = None,
    large: bool = False,
    title: str | None = "Cosine similarity",
) -> go.Figure:
    """Every sentence against every other: 1 = same direction, 0 = unrelated. `x_labels` (e.g. numbers)
    keep the columns narrow; the hover shows both full sentences."""
    fig = _matrix(
        sim,
        x_labels or labels,
        labels,
        sentences,
        sentences,
        value_name="cosine",
        colorscale="RdBu",
        zmin=-1,
        zmax=1,
        fmt=".2f",
        large=large,
        title=title,
    )
    if x_labels:
        fig.update_xaxes(tickangle=0)
    return fig


def pca_scatter(
    coords: np.ndarray,
    labels: Sequence[str],
    sentences: Sequence[str],
    explained: tuple[float, float],
    *,
    groups: Sequence[str] | None = None,
    large: bool = False,
    title: str | None = "The sentences on a 2-D map (PCA)",
) -> go.Figure:
    """Scatter of the first two principal components, one labelled point per sentence."""
    coords = np.asarray(coords)
    groups = list(groups) if groups is not None else ["your sentences"] * len(labels)
    colours = [PALETTE["primary"], PALETTE["muted"], PALETTE["accent"], PALETTE["good"]]
    fig = go.Figure()
    for k, g in enumerate(dict.fromkeys(groups)):
        idx = [i for i, gg in enumerate(groups) if gg == g]
        fig.add_trace(
            go.Scatter(
                x=coords[idx, 0],
                y=coords[idx, 1],
                mode="markers+text" if g == groups[0] else "markers",
                name=g,
                text=[labels[i] for i in idx],
                textposition="top center",
                customdata=[sentences[i] for i in idx],
                marker=dict(size=12 if g == groups[0] else 7, color=colours[k % len(colours)]),
                hovertemplate="%{customdata}<br>PC1 %{x:.3f}, PC2 %{y:.3f}<extra></extra>",
            )
        )
    fig.update_xaxes(title=f"PC1 ({explained[0]:.0%} of the variance)", zeroline=False)
    if explained[1] > 0:
        fig.update_yaxes(title=f"PC2 ({explained[1]:.0%} of the variance)", zeroline=False)
    else:  # two sentences (or copies) differ along one line only: no second axis to read
        fig.update_yaxes(
            title="no second direction (the points differ along one line)",
            range=[-1, 1],
            showticklabels=False,
            zeroline=True,
        )
    fig.update_layout(legend=dict(orientation="h", y=-0.15))
    return style(fig, large=large, title=title, height=460)


def _diagonal_boxes(fig: go.Figure, n: int) -> None:
    for i in range(n):
        fig.add_shape(
            type="rect",
            x0=i - 0.5,
            x1=i + 0.5,
            y0=i - 0.5,
            y1=i + 0.5,
            xref="x",
            yref="y",
            line=dict(color=PALETTE["good"], width=3),
        )


def batch_heatmap(
    values: np.ndarray,
    anchor_labels: Sequence[str],
    positive_labels: Sequence[str],
    anchors: Sequence[str],
    positives: Sequence[str],
    *,
    kind: str = "similarity",
    similarity: np.ndarray | None = None,
    large: bool = False,
    title: str | None = None,
) -> go.Figure:
    """The batch matrix (anchors × positives) with the diagonal (the positives) boxed in green.

    `kind` = "similarity" (cosine) or "probability" (row-wise softmax of similarity / temperature).
    """
    if kind == "similarity":
        fig = _matrix(
            values,
            positive_labels,
            anchor_labels,
            positives,
            anchors,
            value_name="cosine",
            colorscale="RdBu",
            zmin=-1,
            zmax=1,
            fmt=".2f",
            large=large,
            title=title,
        )
    else:
        fig = _matrix(
            values,
            positive_labels,
            anchor_labels,
            positives,
            anchors,
            value_name="softmax share",
            colorscale="Greens",
            zmin=0,
            zmax=1,
            fmt=".0%",
            large=large,
            title=title,
            extra=similarity,
            extra_name="cosine",
        )
    _diagonal_boxes(fig, len(anchor_labels))
    fig.update_xaxes(title="positives (column j)")
    fig.update_yaxes(title="anchors (row i)")
    return fig


def row_loss_bars(
    row_loss: Sequence[float],
    labels: Sequence[str],
    sentences: Sequence[str],
    *,
    mean_loss: float,
    chance: float,
    large: bool = False,
) -> go.Figure:
    """Each anchor's term of the loss, −log P(its own positive), with the batch mean and chance level."""
    fig = go.Figure(
        go.Bar(
            x=list(row_loss),
            y=unique_labels(labels),
            orientation="h",
            marker_color=PALETTE["primary"],
            customdata=list(sentences),
            text=[f"{v:.3f}" for v in row_loss],
            textposition="auto",
            hovertemplate="%{customdata}<br>−log P(positive) = %{x:.4f}<extra></extra>",
        )
    )
    fig.add_vline(x=mean_loss, line_dash="dash", line_color=PALETTE["accent"], annotation_text=f"loss {mean_loss:.3f}")
    fig.add_vline(
        x=chance,
        line_dash="dot",
        line_color=PALETTE["muted"],
        annotation_text=f"chance log n = {chance:.2f}",
        annotation_position="bottom right",
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="loss term (nats)", rangemode="tozero")
    return style(fig, large=large, title="What each anchor adds to the loss", height=120 + 34 * len(labels))
