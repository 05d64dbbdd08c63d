"""Pictures for self-supervision on images, from plain arrays (never a model object): a greyscale image as
a heatmap trace, image panels side by side (original / masked / reconstruction / error), a MAE's
reconstruction, and the clickable patch grid. `explorer.charts.vision` builds its views, attention grids
and embedding maps from these.

Images are [H, W] arrays in [0, 1] (0 black, 1 white, as the digits: light ink on dark); NaN pixels
(hidden patches) show as the muted background colour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts import PALETTE, style

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


def image_trace(
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


def image_axes(fig: go.Figure, n: int) -> None:
    """Axes of `n` image panels in one row: no ticks or grid, rows downwards, square pixels (one layout update)."""
    axes = {}
    for i in range(1, n + 1):
        suffix = str(i) if i > 1 else ""
        plain = dict(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
        axes[f"xaxis{suffix}"] = plain
        axes[f"yaxis{suffix}"] = dict(plain, autorange="reversed", scaleanchor=f"x{suffix}")
    fig.update_layout(axes, plot_bgcolor=HIDDEN)


def patch_lines(fig: go.Figure, size: int, patch: int, *, col: int = 1) -> None:
    """The patch grid over the image of panel `col` (one row of panels): one path of white lines."""
    edges = [k - 0.5 for k in range(0, size + 1, patch)]
    lo, hi = -0.5, size - 0.5
    path = " ".join([f"M{e},{lo} L{e},{hi}" for e in edges] + [f"M{lo},{e} L{hi},{e}" for e in edges])
    suffix = str(col) if col > 1 else ""
    fig.add_shape(
        type="path",
        path=path,
        xref=f"x{suffix}",
        yref=f"y{suffix}",
        line=dict(color="#ffffff", width=1),
        opacity=0.5,
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
        fig.add_trace(image_trace(z, patch=patch), row=1, col=i)
        if patch:
            patch_lines(fig, np.asarray(z).shape[1], patch, col=i)
    image_axes(fig, len(panels))
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
        fig.add_trace(image_trace(z, patch=rec.patch), row=1, col=i)
    patch_lines(fig, rec.original.shape[1], rec.patch, col=2)
    patch_lines(fig, rec.original.shape[1], rec.patch, col=4)
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
    image_axes(fig, 5)
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
    fig = go.Figure(image_trace(image, patch=patch))
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
