"""SimCLR views: two random augmentations of the same image make a positive pair.

Four augmentations, each a toggle: crop-and-resize (zoom into a random part of the image), shift,
rotation, and pixel noise. The first three are one affine warp per image (bilinear, black outside
the image, as the digits' background); the noise is added after it. Every image draws all of its
random numbers in the same order whatever is switched on, so switching one augmentation off leaves
the others exactly as they were; the same seed gives the same views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from explorer.errors import ExplorerError

AUGMENTATIONS = ("crop", "shift", "rotate", "noise")


@dataclass(frozen=True)
class Augment:
    """Which augmentations are on, and how strong each is."""

    crop: bool = True
    shift: bool = True
    rotate: bool = True
    noise: bool = True
    crop_scale: tuple[float, float] = (0.5, 1.0)  # share of the image's area a crop keeps
    max_shift: float = 1.0  # pixels (of an 8×8 digit), each direction
    max_degrees: float = 15.0
    noise_std: float = 0.1  # pixel values are in [0, 1]

    def __post_init__(self):
        lo, hi = self.crop_scale
        if not 0.05 <= lo <= hi <= 1.0:
            raise ExplorerError(f"A crop scale of {lo:g} to {hi:g} is out of range.", "Keep it between 0.05 and 1.")
        if self.max_shift < 0 or self.max_degrees < 0 or self.noise_std < 0:
            raise ExplorerError("Augmentation strengths cannot be negative.")

    @property
    def on(self) -> list[str]:
        return [name for name in AUGMENTATIONS if getattr(self, name)]

    def describe(self) -> str:
        parts = []
        if self.crop:
            parts.append(f"crop {self.crop_scale[0]:.0%}-{self.crop_scale[1]:.0%} of the area and resize")
        if self.shift:
            parts.append(f"shift up to {self.max_shift:g} px")
        if self.rotate:
            parts.append(f"rotate up to ±{self.max_degrees:g}°")
        if self.noise:
            parts.append(f"noise σ = {self.noise_std:g}")
        return ", ".join(parts) if parts else "no augmentation (the two views are the same image)"

    def with_toggles(self, **toggles: bool) -> "Augment":
        """A copy with some augmentations switched on or off (e.g. ``with_toggles(rotate=False)``)."""
        names = {f.name for f in fields(self)}
        bad = [k for k in toggles if k not in AUGMENTATIONS or k not in names]
        if bad:
            raise ExplorerError(f"Unknown augmentation '{bad[0]}'.", f"Pick from: {', '.join(AUGMENTATIONS)}.")
        return Augment(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **toggles})


def augment(images: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """One random view of each image: [n, H, W] in [0, 1] → [n, H, W] in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 3:
        raise ExplorerError(f"Expected images of shape [n, height, width], got {tuple(x.shape)}.")
    n, h, w = x.shape
    u = torch.rand(n, 6, generator=gen)  # area, crop centre x, y, shift x, y, angle: always all drawn
    noise = torch.randn(n, h, w, generator=gen)
    lo, hi = aug.crop_scale
    scale = torch.sqrt(lo + (hi - lo) * u[:, 0]) if aug.crop else torch.ones(n)
    # the crop's centre anywhere that keeps the crop inside the image (normalised coordinates, [-1, 1])
    cx = (2 * u[:, 1] - 1) * (1 - scale) if aug.crop else torch.zeros(n)
    cy = (2 * u[:, 2] - 1) * (1 - scale) if aug.crop else torch.zeros(n)
    if aug.shift:
        cx = cx + (2 * u[:, 3] - 1) * aug.max_shift * 2 / w
        cy = cy + (2 * u[:, 4] - 1) * aug.max_shift * 2 / h
    angle = (2 * u[:, 5] - 1) * math.radians(aug.max_degrees) if aug.rotate else torch.zeros(n)
    if aug.crop or aug.shift or aug.rotate:
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin, cx], 1), torch.stack([sin, cos, cy], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta, [n, 1, h, w], align_corners=False)
        x = torch.nn.functional.grid_sample(
            x[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )[:, 0]
    if aug.noise:
        x = x + aug.noise_std * noise
    return x.clamp(0.0, 1.0)


def view_pairs(images: np.ndarray, aug: Augment = Augment(), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two views of every image ([n, H, W] each): view A of image i and view B of image i are a
    positive pair; every other image's view is a negative. Deterministic given `seed`."""
    x = torch.tensor(np.asarray(images, dtype=np.float32))
    if x.ndim == 2:
        x = x[None]
    gen = torch.Generator().manual_seed(int(seed))
    a = augment(x, aug, gen)
    b = augment(x, aug, gen)
    return a.numpy(), b.numpy()
