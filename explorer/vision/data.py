"""The images: scikit-learn's bundled handwritten digits (with one fixed held-out split) and its two
sample photographs (china.jpg, flower.jpg), as greyscale float arrays in [0, 1].

Everything returned from the shared, cached copies is read-only: a caller that wants to change
pixels makes its own copy (`np.array(x)`), so no session can alter what the others see.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from explorer.errors import ExplorerError

DIGIT_SIZE = 8  # load_digits: 8×8 pixels, values 0..16
HELD_OUT = 0.3  # share of the digits held out: never trained on (SSL or probe), only measured on
DEV = 0.2  # share of the training digits held out again for the development split (tuning)
SPLIT_SEED = 0
PHOTOS = ("china.jpg", "flower.jpg")
PHOTO_HELD_OUT = 0.25  # the right-hand quarter of each photograph: held-out crops come from there only


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Digits:
    """The 1,797 digits: images [n, 8, 8] float32 in [0, 1], labels [n] (0-9), and the fixed split."""

    images: np.ndarray
    labels: np.ndarray
    train_idx: np.ndarray  # 70%, stratified by digit (seed 0)
    test_idx: np.ndarray  # 30% held out

    def split(self, dev: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(train, held-out) indices; with `dev`, the training digits split again (train, dev) and
        the held-out digits left out altogether (for tuning settings)."""
        if not dev:
            return self.train_idx, self.test_idx
        return _dev_split()


@functools.lru_cache(maxsize=1)
def digits() -> Digits:
    """The shared digits (cached, read-only)."""
    from sklearn.datasets import load_digits

    from explorer.training.tasks import split_indices

    raw = load_digits()
    images = (raw.images / 16.0).astype(np.float32)
    labels = raw.target.astype(np.int64)
    train, test = split_indices(labels.tolist(), HELD_OUT, SPLIT_SEED)
    return Digits(_frozen(images), _frozen(labels), _frozen(np.array(train)), _frozen(np.array(test)))


@functools.lru_cache(maxsize=1)
def _dev_split() -> tuple[np.ndarray, np.ndarray]:
    from explorer.training.tasks import split_indices

    d = digits()
    sub_train, sub_dev = split_indices(d.labels[d.train_idx].tolist(), DEV, SPLIT_SEED + 1)
    return _frozen(d.train_idx[sub_train]), _frozen(d.train_idx[sub_dev])


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """[n, h, w] (or one [h, w]) greyscale images → size × size, bilinear (antialiased when shrinking)."""
    import torch

    x = np.asarray(images, dtype=np.float32)
    one = x.ndim == 2
    if one:
        x = x[None]
    if x.ndim != 3:
        raise ExplorerError(f"Expected greyscale images of shape [n, height, width], got {x.shape}.")
    if x.shape[1:] != (size, size):
        t = torch.tensor(x)[:, None]
        shrink = x.shape[1] > size or x.shape[2] > size
        t = torch.nn.functional.interpolate(
            t, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
        x = t[:, 0].numpy().clip(0.0, 1.0)
    return x[0] if one else x


# ----------------------------------------------------------------------------- the sample photographs


@functools.lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    from pathlib import Path

    from PIL import Image
    from sklearn.datasets import load_sample_images

    raw = load_sample_images()
    out = {}
    for name, rgb in zip(raw.filenames, raw.images):
        grey = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255.0
        out[Path(name).name] = _frozen(grey)
    return out


def photo(name: str, size: int | None = None) -> np.ndarray:
    """One sample photograph in greyscale [0, 1]: the whole picture (427 × 640), or its centre square
    resized to size × size."""
    photos = _photos()
    if name not in photos:
        raise ExplorerError(f"There is no sample image called '{name}'.", f"Pick one of: {', '.join(PHOTOS)}.")
    img = photos[name]
    if size is None:
        return img
    h, w = img.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _frozen(resize(img[top : top + side, left : left + side], size))


def photo_crops(n: int, size: int, *, held_out: bool = False, seed: int = 0) -> np.ndarray:
    """`n` square crops of the two photographs (random positions and scales, from size × size to the
    height of the strip), each resized to size × size: training crops come from the left three
    quarters of each picture, held-out crops from the right quarter only."""
    import torch

    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size), dtype=np.float32)
    strips = []
    for img in _photos().values():
        cut = int(round(img.shape[1] * (1 - PHOTO_HELD_OUT)))
        strips.append(img[:, cut:] if held_out else img[:, :cut])
    for i in range(n):
        strip = strips[i % len(strips)]
        h, w = strip.shape
        side = int(rng.integers(size, min(h, w) + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = torch.tensor(strip[top : top + side, left : left + side])[None, None]
        out[i] = torch.nn.functional.interpolate(
            crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0, 0].numpy()
    return out.clip(0.0, 1.0)
