"""Masked image modelling: a tiny ViT-MAE (transformers' `ViTMAEForPreTraining`, built from a config)
that sees the visible patches of an image and reconstructs the hidden ones.

The mask is always the caller's: `noise_for(mask)` orders the visible patches first (in patch order)
so that the model's own random masking keeps exactly them, and the model's mask ratio is set, for
the duration of the call, so that it keeps exactly that many (`int(L × (1 − ratio))`). The loss is
the mean squared error of the pixels of the hidden patches only (`mae_loss`, the same value as the
model's own `.loss`, proven in tests/core/vision/test_vision.py).

The model, its two shapes (``digits``: 16 patches, clearly better than 8×8 with 2×2 patches in a 60 s
trial; ``photos``: 64) and its initialisation are in `explorer.vision.mae_model`.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.vision.patches import (
    MAE_RATIO,
    PatchGrid,
    check_mask,
    composite,
    hidden_count,
    masked_image,
    patch_errors,
)

# ----------------------------------------------------------------------------- exactly the caller's mask


_RATIO_LOCK = threading.RLock()  # the model reads its mask ratio from its config during a forward pass


def noise_for(mask: torch.Tensor) -> torch.Tensor:
    """Noise for `ViTMAEForPreTraining(noise=...)` that keeps exactly the visible patches of `mask`
    ([B, L] bool, True = hidden), in patch order: visible i → i / L, hidden i → 1 + i / L."""
    mask = torch.as_tensor(mask, dtype=torch.bool)
    pos = torch.arange(mask.shape[-1], dtype=torch.float32) / mask.shape[-1]
    return pos.expand(mask.shape) + mask.float()


@contextlib.contextmanager
def exact_ratio(model: Module, hidden: int) -> Iterator[None]:
    """For the block, the model's mask ratio is one that keeps exactly L − `hidden` patches."""
    n = model.config.image_size // model.config.patch_size
    n = n * n
    with _RATIO_LOCK:
        before = model.config.mask_ratio
        model.config.mask_ratio = (hidden - 0.5) / n  # int(n × (1 − r)) = int(n − hidden + 0.5) = n − hidden
        try:
            yield
        finally:
            model.config.mask_ratio = before


def _as_pixels(images: Any) -> torch.Tensor:
    x = torch.as_tensor(
        np.asarray(images, dtype=np.float32) if not isinstance(images, torch.Tensor) else images, dtype=torch.float32
    )
    if x.ndim == 2:
        x = x[None]
    return x[:, None] if x.ndim == 3 else x


def mae_forward(model: Module, images: Any, mask: Any, **kwargs) -> Any:
    """`model(pixel_values, noise)` with exactly `mask` hidden ([B, L] or [L] bool, the same count in
    every row); returns the model's output (logits = predicted pixels of every patch)."""
    pixels = _as_pixels(images)
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask, dtype=torch.bool)
    if mask.ndim == 1:
        mask = mask.expand(pixels.shape[0], -1)
    counts = mask.sum(dim=1)
    if not bool((counts == counts[0]).all()):
        raise ExplorerError("Every image of a batch must have the same number of hidden patches.")
    with exact_ratio(model, int(counts[0])):
        out = model(pixel_values=pixels, noise=noise_for(mask), **kwargs)
    return out


def mae_loss(model: Module, images: Any, mask: Any) -> torch.Tensor:
    """Mean squared error of the predicted pixels of the hidden patches only (visible patches do not count)."""
    pixels = _as_pixels(images)
    mask = torch.as_tensor(mask, dtype=torch.bool)
    out = mae_forward(model, pixels, mask)
    target = model.patchify(pixels)
    per_patch = ((out.logits - target) ** 2).mean(dim=-1)
    return per_patch[mask.expand(per_patch.shape)].mean()


def random_masks(batch: int, n_patches: int, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """[batch, n_patches] bool: exactly `hidden_count(n_patches, ratio)` hidden in each row (seeded)."""
    k = hidden_count(n_patches, ratio)
    order = torch.rand(batch, n_patches, generator=gen).argsort(dim=1)
    mask = torch.zeros(batch, n_patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask


# ----------------------------------------------------------------------------- one picture


@dataclass
class Reconstruction:
    """The pictures of one image, side by side: [H, W] arrays except `errors` and `mask` ([side, side])."""

    original: np.ndarray
    masked: np.ndarray  # hidden patches NaN
    reconstruction: np.ndarray  # the model's prediction of every patch
    composite: np.ndarray  # visible pixels as they are + predicted hidden patches
    errors: np.ndarray  # mean squared error of each patch's prediction
    mask: np.ndarray  # True = hidden
    loss: float  # mean of `errors` over the hidden patches (the MAE loss of this image)
    patch: int

    @property
    def hidden(self) -> int:
        return int(self.mask.sum())


def mae_features(model: Module, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """The MAE encoder's representation of images [n, H, W] (resized to the model's size): the CLS token's last
    state with every patch visible, what a linear probe reads from an MAE."""
    from explorer.vision.data import resize

    x = resize(images, model.config.image_size)
    visible = np.zeros((model.config.image_size // model.config.patch_size) ** 2, dtype=bool)
    encoder = model.vit if hasattr(model, "vit") else model
    with torch.no_grad():
        parts = [
            mae_forward(encoder, x[i : i + batch], visible).last_hidden_state[:, 0].numpy()
            for i in range(0, len(x), batch)
        ]
    return np.concatenate(parts)


def check_image(model: Module, image: np.ndarray) -> np.ndarray:
    size = model.config.image_size
    img = np.asarray(image, dtype=np.float32)
    if img.shape != (size, size):
        raise ExplorerError(
            f"This model takes {size}×{size} images; the image is {'×'.join(map(str, img.shape))}.",
            "Resize it first (explorer.vision.data.resize or read_image with this size).",
        )
    if not np.isfinite(img).all():
        raise ExplorerError("The image has missing pixel values.")
    return img


def reconstruct(model: Module, image: np.ndarray, mask: np.ndarray) -> Reconstruction:
    """The model's reconstruction of `image` ([H, W] in [0, 1], the model's size) with `mask` hidden
    ([L] bool, e.g. from `random_mask` or `mask_from_indices`). Changes nothing in the model."""
    img = check_image(model, image)
    grid = PatchGrid(model.config.image_size, model.config.patch_size)
    mask = check_mask(mask, grid.count)
    with torch.no_grad():
        out = mae_forward(model, img, mask)
        pred = model.unpatchify(out.logits)[0, 0].numpy().astype(np.float32)
    errors = patch_errors(img, pred, grid.patch)
    hidden = mask.reshape(grid.side, grid.side)
    return Reconstruction(
        img,
        masked_image(img, mask, grid.patch),
        pred,
        composite(img, pred, mask, grid.patch),
        errors,
        hidden,
        float(errors[hidden].mean()),
        grid.patch,
    )


# ----------------------------------------------------------------------------- what a run trains on


class MAETask:
    """Batches of training images with random masks (exactly round(ratio × L) hidden each); the held-out
    loss on masked patches with fixed masks; and the loss of a model that predicts the average
    training image (`baseline`), the bar a reconstruction has to beat."""

    def __init__(
        self, train: np.ndarray, held_out: np.ndarray, grid: PatchGrid, *, ratio: float = MAE_RATIO, batch: int = 128
    ):
        self.train_images = torch.tensor(np.asarray(train, dtype=np.float32))
        self.held_out = torch.tensor(np.asarray(held_out, dtype=np.float32))
        self.grid, self.ratio, self.batch_size = grid, float(ratio), int(batch)
        self.hidden = hidden_count(grid.count, ratio)
        check_mask(np.arange(grid.count) < self.hidden, grid.count)
        gen = torch.Generator().manual_seed(1234)  # the same held-out masks at every evaluation
        self.eval_masks = random_masks(len(self.held_out), grid.count, ratio, gen)
        mean = self.train_images.mean(dim=0, keepdim=True).expand_as(self.held_out)
        err = ((_patches(mean, grid.patch) - _patches(self.held_out, grid.patch)) ** 2).mean(-1)
        self.baseline = float(err[self.eval_masks].mean())

    def batch(self, gen: torch.Generator) -> dict:
        idx = torch.randint(len(self.train_images), (self.batch_size,), generator=gen)
        return {
            "images": self.train_images[idx],
            "mask": random_masks(self.batch_size, self.grid.count, self.ratio, gen),
        }

    unit = "images"  # what `tokens` counts, for the live progress text

    @staticmethod
    def tokens(batch: dict) -> int:
        """Images per step."""
        return int(batch["images"].shape[0])

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        return mae_loss(model, batch["images"], batch["mask"])

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        total, n = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(self.held_out), 256):
                if interrupt is not None:
                    interrupt()
                images, masks = self.held_out[i : i + 256], self.eval_masks[i : i + 256]
                total += float(mae_loss(model, images, masks)) * len(images)
                n += len(images)
        return {"eval_loss": total / max(1, n)}


def _patches(images: torch.Tensor, patch: int) -> torch.Tensor:
    b, h, w = images.shape
    return images.reshape(b, h // patch, patch, w // patch, patch).permute(0, 1, 3, 2, 4).reshape(b, -1, patch * patch)
