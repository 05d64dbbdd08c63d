"""Figures for self-supervision on images, from plain arrays and frames (never a model object):
greyscale image panels side by side (original / masked / reconstruction / error), the clickable
patch grid, pairs of views, the batch similarity matrix, CLS attention grids, the embedding map,
probe accuracies and the loss curves of the two kinds of run.

Images are [H, W] arrays in [0, 1] (0 black, 1 white, as the digits: light ink on dark); NaN pixels
(hidden patches) show as the muted background colour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts import PALETTE, style
from explorer.charts.contrastive import batch_heatmap
from explorer.charts.training import loss_curves

DIGIT_COLOURS = [
    "#4C78A8",
    "#F58518",
    "#E45756",
    "#72B7B2",
    "#54A24B",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#555555",
]  # Tableau 10 (last one darkened: readable on a projector)
HIDDEN = PALETTE["muted"]


def _image_trace(
    z: np.ndarray,
    *,
    patch: int | None = None,
    name: str = "pixel",
    colorscale="gray",
    zmin: float = 0.0,
    zmax: float = 1.0,
    showscale: bool = False,
) -> go.Heatmap:
    z = np.asarray(z, dtype=float)
    h, w = z.shape
    rows, cols = np.mgrid[0:h, 0:w]
    if patch:
        side = w // patch
        pidx = (rows // patch) * side + cols // patch
        custom = pidx
        hover = "row %{y}, column %{x}<br>patch %{customdata}<br>" + name + " %{z:.3f}<extra></extra>"
    else:
        custom, hover = None, "row %{y}, column %{x}<br>" + name + " %{z:.3f}<extra></extra>"
    return go.Heatmap(
        z=z,
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        showscale=showscale,
        customdata=custom,
        hovertemplate=hover,
        hoverongaps=False,
    )


def _image_axes(fig: go.Figure, n: int) -> None:
    for i in range(1, n + 1):
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain", row=1, col=i)
        fig.update_yaxes(
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            autorange="reversed",
            scaleanchor=f"x{i if i > 1 else ''}",
            constrain="domain",
            row=1,
            col=i,
        )
    fig.update_layout(plot_bgcolor=HIDDEN)


def _patch_lines(fig: go.Figure, size: int, patch: int, *, row: int = 1, col: int = 1) -> None:
    for k in range(0, size + 1, patch):
        fig.add_shape(
            type="line",
            x0=k - 0.5,
            x1=k - 0.5,
            y0=-0.5,
            y1=size - 0.5,
            line=dict(color="#ffffff", width=1),
            opacity=0.5,
            row=row,
            col=col,
        )
        fig.add_shape(
            type="line",
            y0=k - 0.5,
            y1=k - 0.5,
            x0=-0.5,
            x1=size - 0.5,
            line=dict(color="#ffffff", width=1),
            opacity=0.5,
            row=row,
            col=col,
        )


def image_panels(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    patch: int | None = None,
    large: bool = False,
    title: str | None = None,
    height: int = 280,
) -> go.Figure:
    """Greyscale images side by side, each with its title; hover gives row, column (patch) and value."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels], horizontal_spacing=0.03)
    for i, (_, z) in enumerate(panels, start=1):
        fig.add_trace(_image_trace(z, patch=patch), row=1, col=i)
        if patch:
            _patch_lines(fig, np.asarray(z).shape[1], patch, col=i)
    _image_axes(fig, len(panels))
    style(fig, large=large, title=title, height=height)
    fig.update_layout(margin=dict(t=80 if title else 40))  # room for the panel titles
    return fig


def reconstruction_panels(rec, *, large: bool = False, title: str | None = None) -> go.Figure:
    """An `explorer.vision.Reconstruction` (plain arrays): original, what the encoder sees, the
    model's reconstruction, visible + reconstructed patches, and the error of each patch."""
    fig = make_subplots(
        rows=1,
        cols=5,
        horizontal_spacing=0.03,
        subplot_titles=[
            "original",
            f"masked<br>({rec.hidden} of {rec.mask.size} hidden)",
            "reconstruction<br>(every patch)",
            "visible +<br>reconstructed",
            f"error per patch<br>(hidden: {rec.loss:.4f})",
        ],
    )
    for i, z in enumerate([rec.original, rec.masked, rec.reconstruction, rec.composite], start=1):
        fig.add_trace(_image_trace(z, patch=rec.patch), row=1, col=i)
    _patch_lines(fig, rec.original.shape[1], rec.patch, col=2)
    _patch_lines(fig, rec.original.shape[1], rec.patch, col=4)
    err = np.asarray(rec.errors, dtype=float)
    side = err.shape[0]
    status = np.where(rec.mask, "hidden (counts in the loss)", "visible (not in the loss)")
    idx = np.arange(side * side).reshape(side, side)
    fig.add_trace(
        go.Heatmap(
            z=err,
            colorscale="Reds",
            zmin=0,
            zmax=max(float(err.max()), 1e-6),
            showscale=False,
            customdata=np.stack([idx, status], axis=-1),
            hovertemplate="patch %{customdata[0]}: %{customdata[1]}<br>mean squared error %{z:.4f}<extra></extra>",
            text=np.where(rec.mask, "●", ""),
            texttemplate="%{text}",
        ),
        row=1,
        col=5,
    )
    _image_axes(fig, 5)
    style(fig, large=large, title=title, height=320)
    fig.update_layout(margin=dict(t=(110 if title else 70) if large else (90 if title else 60)))  # two-line titles
    return fig


def patch_picker(
    image: np.ndarray,
    mask: np.ndarray,
    patch: int,
    *,
    large: bool = False,
    title: str | None = "Click patches to hide or show them",
) -> go.Figure:
    """The image with one clickable square per patch (trace 1, a scatter: a selected point's
    `point_index` — also its `customdata[0]` — is the patch number); hidden patches are filled."""
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    size = image.shape[0]
    side = size // patch
    idx = np.arange(side * side)
    r, c = np.divmod(idx, side)
    fig = go.Figure(_image_trace(image, patch=patch))
    px_per_patch = 320 * (1.3 if large else 1.0) / side
    fig.add_trace(
        go.Scatter(
            x=c * patch + (patch - 1) / 2,
            y=r * patch + (patch - 1) / 2,
            mode="markers+text",
            marker=dict(
                symbol="square",
                size=px_per_patch * 0.9,
                opacity=1.0,
                color=np.where(mask, HIDDEN, "rgba(0,0,0,0)").tolist(),
                line=dict(color=np.where(mask, PALETTE["accent"], "#ffffff").tolist(), width=2),
            ),
            text=[str(i) for i in idx],
            textfont=dict(color=np.where(mask, "#111111", "#ffffff").tolist()),
            customdata=np.stack([idx, np.where(mask, "hidden", "visible")], axis=-1),
            hovertemplate="patch %{customdata[0]} (%{customdata[1]}): click to toggle<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[-0.5, size - 0.5], constrain="domain")
    fig.update_yaxes(
        showticklabels=False,
        showgrid=False,
        zeroline=False,
        range=[size - 0.5, -0.5],
        scaleanchor="x",
        constrain="domain",
    )
    fig.update_layout(clickmode="event+select", dragmode=False, width=int(380 * (1.3 if large else 1.0)))
    return style(fig, large=large, title=title, height=400)


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
            fig.add_trace(_image_trace(v, name=f"view {'AB'[row - 1]} of pair {i}, pixel"), row=row, col=i + 1)
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
            fig.add_trace(_image_trace(image), row=1, col=1)
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
