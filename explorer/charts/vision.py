"""Figures for self-supervision on images, from plain arrays and frames (never a model object): pairs of
views, the batch similarity matrix, CLS attention grids, the embedding map, probe accuracies and the loss
curves of the two kinds of run. The pictures themselves (image panels, a MAE's reconstruction, the patch
grid): `explorer.charts.images`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts import PALETTE, style
from explorer.charts.contrastive import batch_heatmap
from explorer.charts.images import DIGIT_COLOURS, HIDDEN, image_trace
from explorer.charts.training import loss_curves


def view_pairs_figure(
    a: np.ndarray,
    b: np.ndarray,
    labels: Sequence[int],
    *,
    large: bool = False,
    title: str | None = "Two augmented views of each digit (a positive pair per column)",
) -> go.Figure:
    """Row 1: view A of each image; row 2: view B; columns are the pairs (numbered as in the matrix)."""
    n = len(a)
    fig = make_subplots(
        rows=2,
        cols=n,
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
        subplot_titles=[f"{i} ({labels[i]})" for i in range(n)] + [""] * n,
    )
    for i in range(n):
        for row, v in ((1, a[i]), (2, b[i])):
            fig.add_trace(image_trace(v, name=f"view {'AB'[row - 1]} of pair {i}, pixel"), row=row, col=i + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    fig.update_yaxes(title="view A", row=1, col=1)
    fig.update_yaxes(title="view B", row=2, col=1)
    return style(fig, large=large, title=title, height=300)


def view_similarity(
    values: np.ndarray,
    labels: Sequence[int],
    *,
    kind: str = "similarity",
    similarity: np.ndarray | None = None,
    large: bool = False,
    title: str | None = "Cosine similarity of the views",
) -> go.Figure:
    """The batch matrix with the positives (the diagonal) boxed: `kind` "similarity" (cosine) or
    "probability" (row-wise softmax of similarity / τ, with `similarity` for the hover)."""
    rows = [f"A{i} ({d})" for i, d in enumerate(labels)]
    cols = [f"B{i} ({d})" for i, d in enumerate(labels)]
    full_rows = [f"view A of image {i} (a {d})" for i, d in enumerate(labels)]
    full_cols = [f"view B of image {i} (a {d})" for i, d in enumerate(labels)]
    fig = batch_heatmap(
        values, rows, cols, full_rows, full_cols, kind=kind, similarity=similarity, large=large, title=title
    )
    fig.update_xaxes(title="view B (column j)")
    fig.update_yaxes(title="view A (row i)")
    return fig


def attention_grids(
    weights: np.ndarray,
    image: np.ndarray | None = None,
    *,
    layer: int | None = None,
    large: bool = False,
    title: str | None = "Attention of the CLS token to each patch",
) -> go.Figure:
    """CLS → patch attention [layers, heads, side, side] (NaN = hidden patch) as one tile per head
    (rows: layers; or only `layer`), with the image first when given."""
    w = np.asarray(weights, dtype=float)
    layers = [layer] if layer is not None else list(range(w.shape[0]))
    heads = w.shape[1]
    extra = 1 if image is not None else 0
    titles = []
    for li in layers:
        titles += (["image"] if extra and li == layers[0] else [""] * extra) + [
            f"layer {li + 1}, head {h + 1}" for h in range(heads)
        ]
    fig = make_subplots(
        rows=len(layers),
        cols=heads + extra,
        subplot_titles=titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.08 if len(layers) > 1 else 0.02,
    )
    zmax = max(float(np.nanmax(w)) if np.isfinite(w).any() else 1.0, 1e-6)
    side = w.shape[-1]
    idx = np.arange(side * side).reshape(side, side)
    for ri, li in enumerate(layers, start=1):
        if extra and ri == 1:
            fig.add_trace(image_trace(image), row=1, col=1)
        for h in range(heads):
            fig.add_trace(
                go.Heatmap(
                    z=w[li, h],
                    colorscale="Viridis",
                    zmin=0,
                    zmax=zmax,
                    showscale=False,
                    customdata=idx,
                    hoverongaps=False,
                    hovertemplate=f"layer {li + 1}, head {h + 1}<br>patch %{{customdata}}: "
                    "%{z:.1%} of the CLS token's attention<extra></extra>",
                ),
                row=ri,
                col=h + 1 + extra,
            )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    fig.update_layout(plot_bgcolor=HIDDEN)
    return style(fig, large=large, title=title, height=80 + 170 * len(layers))


def embedding_scatter(
    coords: np.ndarray,
    labels: Sequence[int],
    explained: tuple[float, float],
    *,
    index: Sequence[int] | None = None,
    large: bool = False,
    title: str | None = "Held-out digits on a 2-D map (PCA of the embeddings)",
) -> go.Figure:
    """One point per held-out digit, coloured (and written) by its digit; the map is made without labels."""
    coords, labels = np.asarray(coords), np.asarray(labels)
    index = np.arange(len(labels)) if index is None else np.asarray(index)
    fig = go.Figure()
    for d in sorted(set(labels.tolist())):
        sel = labels == d
        fig.add_trace(
            go.Scatter(
                x=coords[sel, 0],
                y=coords[sel, 1],
                mode="text",
                name=str(d),
                text=[str(d)] * int(sel.sum()),
                textfont=dict(color=DIGIT_COLOURS[d % 10], size=18 if large else 13),
                customdata=index[sel],
                hovertemplate=f"a {d} (digit #%{{customdata}})<br>PC1 %{{x:.2f}}, PC2 %{{y:.2f}}<extra></extra>",
            )
        )
    fig.update_xaxes(title=f"PC1 ({explained[0]:.0%} of the variance)", zeroline=False)
    fig.update_yaxes(title=f"PC2 ({explained[1]:.0%} of the variance)", zeroline=False)
    fig.update_layout(legend=dict(title="digit", orientation="h", y=-0.15))
    return style(fig, large=large, title=title, height=480)


def probe_bars(
    table: pd.DataFrame,
    *,
    large: bool = False,
    title: str | None = "Linear probe: held-out accuracy with a few labels per class",
) -> go.Figure:
    """Grouped bars from `explorer.vision.probe_table` (long form): labels per class on x, one colour per
    kind of features, error bars = spread over the draws of labelled digits."""
    colours = [PALETTE["primary"], PALETTE["accent"], PALETTE["muted"], PALETTE["good"]]
    fig = go.Figure()
    for k, (name, part) in enumerate(table.groupby("features", sort=False)):
        fig.add_trace(
            go.Bar(
                x=[f"{n} per class" for n in part["labels per class"]],
                y=part["accuracy"],
                name=name,
                marker_color=colours[k % len(colours)],
                error_y=dict(type="data", array=part["spread"], visible=True),
                text=[f"{a:.0%}" for a in part["accuracy"]],
                textposition="outside",
                customdata=np.stack([part["labelled digits"], part["held-out digits"], part["spread"]], axis=-1),
                hovertemplate=name + "<br>%{x} (%{customdata[0]} labelled digits)<br>held-out accuracy %{y:.1%} "
                "± %{customdata[2]:.1%} on %{customdata[1]} digits<extra></extra>",
            )
        )
    fig.add_hline(y=0.1, line=dict(color=PALETTE["muted"], dash="dot"), annotation_text="chance (10%)")
    fig.update_yaxes(title="held-out accuracy", range=[0, 1.08], tickformat=".0%")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.15))
    return style(fig, large=large, title=title, height=420)


def mae_loss_curves(
    history: Sequence[dict],
    baseline: float | None = None,
    *,
    target: int | None = None,
    smoothing: float = 0.6,
    large: bool = False,
    title: str | None = None,
) -> go.Figure:
    """`explorer.charts.training.loss_curves` of a MAE run (mean squared error of the hidden patches),
    with the loss of predicting the average training image as a dashed line."""
    fig = loss_curves(history, smoothing=smoothing, target=target, large=large, title=title)
    fig.update_yaxes(title="masked-patch loss (mean squared error)")
    if baseline is not None:
        fig.add_hline(
            y=baseline,
            line=dict(color=PALETTE["muted"], dash="dash"),
            annotation_text=f"average training image: {baseline:.4f}",
            annotation_position="top right",
        )
    return fig


def simclr_loss_curves(
    history: Sequence[dict],
    batch: int | None = None,
    *,
    target: int | None = None,
    smoothing: float = 0.6,
    large: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Loss curves of a SimCLR run (InfoNCE; held-out accuracy = the linear probe), with the loss of an
    encoder that cannot tell the views apart, ln(batch), when `batch` is given."""
    fig = loss_curves(history, smoothing=smoothing, target=target, large=large, title=title)
    fig.update_layout(yaxis_title="InfoNCE loss")
    if batch:
        fig.add_hline(
            y=float(np.log(batch)),
            line=dict(color=PALETTE["muted"], dash="dash"),
            annotation_text=f"chance: ln(batch) = {np.log(batch):.2f}",
            annotation_position="top right",
        )
    return fig
