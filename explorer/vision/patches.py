"""Patches of an image and which of them are hidden: the grid, masks by ratio or by clicks, and the
pictures drawn side by side (masked view, composite of visible pixels and reconstructed patches,
per-patch error).

Patches are numbered row by row from the top left (the order ViT and `ViTMAEForPreTraining.patchify`
use). A mask is a bool array over the patches, True = hidden. Masking at ratio r hides exactly
round(r × patches) patches, rounding halves up (HF's ViTMAE keeps int(L × (1 − r)), which can hide
one more: `explorer.vision.mae` passes its own noise so that the mask is exactly this one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from explorer.errors import ExplorerError

MAE_RATIO = 0.75  # the masking ratio of the MAE paper


@dataclass(frozen=True)
class PatchGrid:
    """A square image of `image_size` pixels cut into square patches of `patch` pixels."""

    image_size: int
    patch: int

    def __post_init__(self):
        if self.patch < 1 or self.image_size % self.patch:
            raise ExplorerError(f"A {self.image_size}-pixel image cannot be cut into {self.patch}-pixel patches.")

    @property
    def side(self) -> int:
        """Patches per row (and per column)."""
        return self.image_size // self.patch

    @property
    def count(self) -> int:
        return self.side * self.side

    def cell(self, index: int) -> tuple[int, int]:
        """(row, column) of patch `index`."""
        return divmod(int(index), self.side)

    def index(self, row: int, col: int) -> int:
        return int(row) * self.side + int(col)

    def as_grid(self, values: np.ndarray) -> np.ndarray:
        """[..., count] per-patch values → [..., side, side]."""
        values = np.asarray(values)
        return values.reshape(values.shape[:-1] + (self.side, self.side))


def hidden_count(n_patches: int, ratio: float) -> int:
    """How many of `n_patches` a masking ratio hides: round(ratio × n_patches), halves up."""
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0 or math.isnan(ratio):
        raise ExplorerError(f"A masking ratio of {ratio:g} is out of range.", "Pick a ratio between 0 and 1.")
    return int(math.floor(ratio * n_patches + 0.5 + 1e-9))


def check_mask(mask: np.ndarray, n_patches: int) -> np.ndarray:
    """A bool mask over `n_patches` with at least one hidden and one visible patch."""
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    if mask.shape != (n_patches,):
        raise ExplorerError(f"The mask has {mask.size} entries for {n_patches} patches.")
    hidden = int(mask.sum())
    if hidden == 0:
        raise ExplorerError(
            "No patch is hidden, so there is nothing to reconstruct.", "Click some patches or raise the masking ratio."
        )
    if hidden == n_patches:
        raise ExplorerError(
            f"All {n_patches} patches are hidden: the model would have nothing to go on.",
            "Leave at least one patch visible.",
        )
    return mask


def random_mask(n_patches: int, ratio: float = MAE_RATIO, seed: int = 0) -> np.ndarray:
    """Hide exactly `hidden_count(n_patches, ratio)` patches, chosen at random (seeded)."""
    k = hidden_count(n_patches, ratio)
    mask = np.zeros(n_patches, dtype=bool)
    mask[np.random.default_rng(int(seed)).permutation(n_patches)[:k]] = True
    return check_mask(mask, n_patches)


def mask_from_indices(indices: Iterable[int], n_patches: int) -> np.ndarray:
    """The mask hiding the clicked patches (`indices`, numbered row by row; repeats count once)."""
    mask = np.zeros(n_patches, dtype=bool)
    for i in indices:
        try:
            j = int(i)
        except (TypeError, ValueError):
            raise ExplorerError(f"'{i}' is not a patch number.") from None
        if not 0 <= j < n_patches:
            raise ExplorerError(f"There is no patch {j}: the patches are numbered 0 to {n_patches - 1}.")
        mask[j] = True
    return check_mask(mask, n_patches)


def toggle(indices: Iterable[int], index: int) -> list[int]:
    """The clicked patches after one more click on `index` (hidden ↔ visible), sorted."""
    chosen = {int(i) for i in indices}
    chosen ^= {int(index)}
    return sorted(chosen)


def hidden_indices(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(mask).reshape(-1))]


# ----------------------------------------------------------------------------- pixels ↔ patches


def patchify(images: np.ndarray, patch: int) -> np.ndarray:
    """[n, H, W] (or [H, W]) → [n, L, patch²] (or [L, patch²]), patches row by row, pixels row by row
    within each (what `ViTMAEForPreTraining.patchify` gives for one channel)."""
    x = np.asarray(images)
    one = x.ndim == 2
    x = x[None] if one else x
    n, h, w = x.shape
    out = x.reshape(n, h // patch, patch, w // patch, patch).transpose(0, 1, 3, 2, 4).reshape(n, -1, patch * patch)
    return out[0] if one else out


def unpatchify(patches: np.ndarray, patch: int) -> np.ndarray:
    """The inverse of `patchify` for square images."""
    x = np.asarray(patches)
    one = x.ndim == 2
    x = x[None] if one else x
    n, length, _ = x.shape
    side = int(round(math.sqrt(length)))
    out = x.reshape(n, side, side, patch, patch).transpose(0, 1, 3, 2, 4).reshape(n, side * patch, side * patch)
    return out[0] if one else out


def _pixel_mask(mask: np.ndarray, patch: int) -> np.ndarray:
    """A per-patch mask [L] → per-pixel [H, W]."""
    side = int(round(math.sqrt(mask.size)))
    return np.kron(np.asarray(mask, dtype=bool).reshape(side, side), np.ones((patch, patch), dtype=bool))


def masked_image(image: np.ndarray, mask: np.ndarray, patch: int) -> np.ndarray:
    """What the encoder sees: the image with hidden patches set to NaN (drawn as gaps)."""
    out = np.array(image, dtype=np.float32)
    out[_pixel_mask(mask, patch)] = np.nan
    return out


def composite(image: np.ndarray, reconstruction: np.ndarray, mask: np.ndarray, patch: int) -> np.ndarray:
    """Visible patches as they are, hidden patches from the reconstruction."""
    return np.where(_pixel_mask(mask, patch), reconstruction, image).astype(np.float32)


def patch_errors(image: np.ndarray, reconstruction: np.ndarray, patch: int) -> np.ndarray:
    """Mean squared error of each patch, [side, side]."""
    diff = (
        patchify(np.asarray(reconstruction, dtype=np.float64), patch)
        - patchify(np.asarray(image, dtype=np.float64), patch)
    ) ** 2
    err = diff.mean(axis=-1)
    side = int(round(math.sqrt(err.size)))
    return err.reshape(side, side)
