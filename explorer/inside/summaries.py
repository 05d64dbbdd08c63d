"""Summaries of a model's attention: one layer's matrix (a head, or the mean / max over heads), special
tokens hidden, head-pattern scores (previous-token heads, attention sinks, entropy) and the all-heads
grid's budget. The weights come from `explorer.inside.attention.get_attentions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from explorer.errors import ExplorerError
from explorer.inside.attention import AttentionPart

# Cells in the all-heads grid (one plotly heatmap): about 16 bytes each in the figure.
GRID_MAX_CELLS = 80_000
GRID_DEFAULT_LAYERS = 8  # more can be picked; 30 layers x 9 heads make a very tall grid


HEAD_CHOICES = ("mean", "max")


def aggregate(weights: np.ndarray, layer: int, head: int | str) -> np.ndarray:
    """One layer's attention matrix: a single head, or the mean / max over all heads.

    The mean keeps every row summing to 1; the max does not (it shows the strongest head per cell).
    """
    if not 0 <= layer < weights.shape[0]:
        raise ExplorerError(f"Layer {layer} does not exist; this model has layers 0 to {weights.shape[0] - 1}.")
    layer_w = weights[layer]
    if head == "mean":
        return layer_w.mean(axis=0)
    if head == "max":
        return layer_w.max(axis=0)
    h = int(head)
    if not 0 <= h < layer_w.shape[0]:
        raise ExplorerError(f"Head {h} does not exist; this model has heads 0 to {layer_w.shape[0] - 1}.")
    return layer_w[h]


@dataclass
class Filtered:
    """A matrix with special tokens removed; `hidden_share[i]` is row i's weight on removed columns."""

    matrix: np.ndarray
    raw: np.ndarray
    rows: list[int]
    cols: list[int]
    hidden_share: np.ndarray
    renormalized: bool


def hide_special(
    matrix: np.ndarray, row_special: Sequence[bool], col_special: Sequence[bool], *, renormalize: bool = True
) -> Filtered:
    """Drop special-token rows and columns.

    With `renormalize`, each remaining row is divided by its remaining sum, so it sums to 1 again
    and shows how the token shares its attention among the content tokens. Without it, the weights
    stay as the model computed them (rows sum to less than 1: the rest went to the hidden tokens).
    `raw` always holds the model's own weights for the kept cells.
    """
    rows = [i for i, s in enumerate(row_special) if not s]
    cols = [j for j, s in enumerate(col_special) if not s]
    if not rows or not cols:
        raise ExplorerError(
            "Only special tokens are left after hiding them.", "Show special tokens, or type more words."
        )
    raw = matrix[np.ix_(rows, cols)]
    kept = raw.sum(axis=1)
    full = matrix[rows].sum(axis=1)
    hidden = np.clip(full - kept, 0.0, None)
    shown = raw
    if renormalize:
        shown = np.divide(raw, kept[:, None], out=np.zeros_like(raw), where=kept[:, None] > 0)
    return Filtered(matrix=shown, raw=raw, rows=rows, cols=cols, hidden_share=hidden, renormalized=renormalize)


def _previous(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    n = w.shape[-1]
    if not part.square or n < 2:
        return np.full(w.shape[:2], np.nan)
    return np.stack([w[..., i, i - 1] for i in range(1, n)], axis=-1).mean(axis=-1)


def _self(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    if not part.square:
        return np.full(w.shape[:2], np.nan)
    return np.diagonal(w, axis1=-2, axis2=-1).mean(axis=-1)


def _first(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    return w[..., :, 0].mean(axis=-1)


def _special(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    mask = np.array(part.cols.special, dtype=bool)
    return w[..., :, mask].sum(axis=-1).mean(axis=-1) if mask.any() else np.zeros(w.shape[:2])


def _entropy(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    p = np.clip(w, 1e-12, 1.0)
    return (-(w * np.log2(p)).sum(axis=-1)).mean(axis=-1)


# name -> (function of weights[L, H, R, C], explanation)
HEAD_METRICS = {
    "previous token": (_previous, "average weight each token gives to the token just before it"),
    "first token": (_first, "average weight on the first token (a common 'sink' where heads park attention)"),
    "special tokens": (_special, "average total weight on special tokens such as [CLS] and [SEP]"),
    "self": (_self, "average weight each token gives to itself"),
    "entropy (bits)": (_entropy, "how spread out each row is: 0 = one token gets everything"),
}


def head_scores(part: AttentionPart, metric: str) -> np.ndarray:
    """One number per (layer, head) that makes a known head pattern stand out; NaN where it does not apply."""
    if metric not in HEAD_METRICS:
        raise ExplorerError(f"Unknown head pattern '{metric}'.", f"Pick one of: {', '.join(HEAD_METRICS)}.")
    return HEAD_METRICS[metric][0](part.weights.astype(np.float64), part)


def top_heads(scores: np.ndarray, metric: str, n: int = 8) -> Any:
    """The heads that show a pattern most (lowest first for entropy), as a DataFrame."""
    import pandas as pd

    flat = [(li, h, float(v)) for (li, h), v in np.ndenumerate(scores) if not np.isnan(v)]
    flat.sort(key=lambda t: t[2], reverse=not metric.startswith("entropy"))
    return pd.DataFrame(
        [{"layer": li, "head": h, metric: round(v, 4)} for li, h, v in flat[:n]], columns=["layer", "head", metric]
    )


def evenly_spaced(n: int, k: int) -> list[int]:
    """k indices spread over range(n), first and last included."""
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def grid_cells(part: AttentionPart, layers: Sequence[int]) -> int:
    return len(layers) * part.heads * len(part.rows) * len(part.cols)


def default_grid_layers(part: AttentionPart, budget: int = GRID_MAX_CELLS) -> list[int]:
    """Up to GRID_DEFAULT_LAYERS evenly spaced layers, as many as fit in the grid's cell budget (at least one)."""
    per_layer = part.heads * len(part.rows) * len(part.cols)
    return evenly_spaced(part.layers, max(1, min(GRID_DEFAULT_LAYERS, budget // max(per_layer, 1))))


def check_grid(part: AttentionPart, layers: Sequence[int], budget: int = GRID_MAX_CELLS) -> None:
    if not layers:
        raise ExplorerError("No layers are selected for the grid.", "Pick at least one layer.")
    cells = grid_cells(part, layers)
    if cells > budget:
        fit = max(1, budget // (part.heads * len(part.rows) * len(part.cols)))
        raise ExplorerError(
            f"{len(layers)} layers x {part.heads} heads x {len(part.rows)} x {len(part.cols)} tokens is "
            f"{cells:,} cells, more than this grid draws quickly ({budget:,}).",
            f"Pick at most {fit} layer{'s' if fit > 1 else ''}, or shorten the text.",
        )
