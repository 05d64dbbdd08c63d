"""Where the tiny ViT looks: attention from the CLS token to the image patches, per layer and head,
as a patch grid (the DINO picture). The MAE encoder sees only the visible patches; hidden patches
get NaN (no attention: they are not in the sequence at all)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.vision.mae import check_image, mae_forward
from explorer.vision.patches import PatchGrid


@dataclass
class CLSAttention:
    """weights[layer, head, row, col]: the CLS token's attention to each patch (NaN where hidden);
    `to_self[layer, head]`: what it keeps on itself. Each (layer, head) sums to 1 with `to_self`."""

    weights: np.ndarray  # [layers, heads, side, side]
    to_self: np.ndarray  # [layers, heads]
    mask: np.ndarray  # [side, side] True = hidden

    @property
    def layers(self) -> int:
        return self.weights.shape[0]

    @property
    def heads(self) -> int:
        return self.weights.shape[1]

    def head(self, layer: int, head: int | None = None) -> np.ndarray:
        """One head's grid, or with `head` None the mean over the layer's heads."""
        if not 0 <= layer < self.layers or (head is not None and not 0 <= head < self.heads):
            raise ExplorerError(f"This model has {self.layers} layers of {self.heads} heads.")
        grid = self.weights[layer]
        return grid.mean(axis=0) if head is None else grid[head]


def cls_attention(model: Module, image: np.ndarray, mask: np.ndarray | None = None) -> CLSAttention:
    """CLS → patch attention of the ViT-MAE encoder for one image ([H, W], the model's size), with
    `mask` hidden ([L] bool; None: every patch visible, as when the encoder is used after training).
    Needs eager attention (`mae_model` builds it so)."""
    img = check_image(model, image)
    grid = PatchGrid(model.config.image_size, model.config.patch_size)
    mask = np.zeros(grid.count, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    if mask.shape != (grid.count,) or mask.all():
        raise ExplorerError("Leave at least one patch visible to see the attention to it.")
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        raise ExplorerError(
            "This model does not give its attention weights (it uses fast attention).",
            "Build it with attn_implementation='eager'.",
        )
    with torch.no_grad():
        out = mae_forward(model.vit if hasattr(model, "vit") else model, img, mask, output_attentions=True)
    if not out.attentions:
        raise ExplorerError("The model returned no attention weights.")
    visible = np.flatnonzero(~mask)  # the encoder's sequence: CLS, then the visible patches in patch order
    layers = [a[0].numpy() for a in out.attentions]  # [heads, 1 + visible, 1 + visible]
    weights = np.full((len(layers), layers[0].shape[0], grid.count), np.nan, dtype=np.float32)
    to_self = np.zeros((len(layers), layers[0].shape[0]), dtype=np.float32)
    for li, att in enumerate(layers):
        weights[li][:, visible] = att[:, 0, 1:]
        to_self[li] = att[:, 0, 0]
    return CLSAttention(grid.as_grid(weights), to_self, mask.reshape(grid.side, grid.side))
