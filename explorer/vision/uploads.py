"""An image from the user (the bytes of an uploaded file) → a checked greyscale array the models take.

Any format Pillow reads (PNG, JPEG, GIF, BMP, WebP, TIFF…) in any mode: colour and palette images
become greyscale, transparent parts count as white paper, 16-bit and float images are scaled, the
camera's orientation tag is applied, an animation gives its first frame. A non-square picture is
padded to a square with its border colour (`fit="pad"`, nothing cut off: for digits) or cut to its
centre square (`fit="crop"`: for photographs), then resized. With `digit_like`, the result is made
to look like the training digits: light ink on a dark background (dark-on-light is inverted) and
contrast stretched to [0, 1].

Refused with an `ExplorerError` saying why: empty files, files that are not an image, files over
MAX_IMAGE_BYTES, pictures over MAX_IMAGE_PIXELS (checked from the header, before decoding), and
pictures under MIN_IMAGE_SIDE pixels on a side.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from explorer.errors import ExplorerError
from explorer.wording import size_text

MAX_IMAGE_BYTES = 10_000_000  # 10 MB: a phone photo fits
MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels (e.g. 8000 × 5000); larger is refused before decoding
MIN_IMAGE_SIDE = 8  # pixels: the digits' own size
FITS = ("pad", "crop")


@dataclass
class UserImage:
    """A checked image: `pixels` [size, size] float32 in [0, 1] and what was done to it."""

    pixels: np.ndarray
    original_size: tuple[int, int]  # (width, height) as uploaded
    original_mode: str  # Pillow's mode: "L", "RGB", "RGBA", "P", "I;16"…
    notes: list[str] = field(default_factory=list)


def _open(data: bytes):
    from PIL import Image, UnidentifiedImageError
    from PIL.Image import DecompressionBombError

    if not data:
        raise ExplorerError("The file is empty.", "Upload a PNG or JPEG image.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ExplorerError(
            f"The image file is {size_text(len(data))}; the limit here is "
            f"{size_text(MAX_IMAGE_BYTES)} (MAX_IMAGE_BYTES).",
            "Upload a smaller image.",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the pixel limit below decides
            img = Image.open(io.BytesIO(data))
    except DecompressionBombError as exc:
        raise ExplorerError(
            f"The image has more than {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, the limit here (MAX_IMAGE_PIXELS).",
            "Upload a smaller picture (a phone photo or a screenshot is fine).",
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ExplorerError(
            "This file is not an image that can be read (or it is damaged).",
            "Upload a PNG, JPEG, GIF, BMP or WebP picture.",
        ) from exc
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS:
        raise ExplorerError(
            f"The image is {w:,} × {h:,} pixels ({w * h / 1e6:.0f} megapixels); the limit here is "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (MAX_IMAGE_PIXELS).",
            "Upload a smaller picture (a phone photo or a screenshot is fine).",
        )
    if min(w, h) < MIN_IMAGE_SIDE:
        raise ExplorerError(
            f"The image is only {w} × {h} pixels; it needs at least {MIN_IMAGE_SIDE} pixels on "
            "each side (the digits are 8 × 8).",
            "Upload a larger picture.",
        )
    return img


def _greyscale(img, notes: list[str]) -> np.ndarray:
    """Any Pillow image → [h, w] float32 in [0, 1]; transparency counts as white."""
    from PIL import Image, ImageOps

    mode = img.mode
    if getattr(img, "n_frames", 1) > 1:
        notes.append(f"The file has {img.n_frames} frames; the first is used.")
        img.seek(0)
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExplorerError(
            "The image file is damaged or cut short and cannot be read.", "Save it again and upload it."
        ) from exc
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        notes.append(f"Converted from {mode} ({'16-bit' if mode.startswith('I;16') else 'wide'} values) to greyscale.")
        return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    if (mode == "P" and "transparency" in img.info) or mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        if np.asarray(rgba)[..., 3].min() < 255:
            notes.append("Transparent parts count as white paper.")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if mode != "L":
        notes.append(f"Converted from {'palette' if mode == 'P' else mode} to greyscale.")
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _square(a: np.ndarray, fit: str, notes: list[str]) -> np.ndarray:
    h, w = a.shape
    if h == w:
        return a
    side = max(h, w) if fit == "pad" else min(h, w)
    if fit == "crop":
        top, left = (h - side) // 2, (w - side) // 2
        notes.append(f"Cut to its centre square ({side} × {side}).")
        return a[top : top + side, left : left + side]
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    out = np.full((side, side), float(np.median(border)), dtype=np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = a
    notes.append(f"Padded to a square ({side} × {side}) with its border colour.")
    return out


def _digit_like(a: np.ndarray, notes: list[str]) -> np.ndarray:
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if float(np.median(border)) > 0.5:
        a = 1.0 - a
        notes.append("Inverted (dark ink on light paper) to light ink on a dark background, as the digits are.")
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 0.05:
        raise ExplorerError(
            "The image is blank (one flat colour): there is no digit to see.",
            "Upload a picture of a digit, dark on light or light on dark.",
        )
    return ((a - lo) / (hi - lo)).astype(np.float32)


def read_image(data: bytes | None, size: int = 8, *, fit: str = "pad", digit_like: bool = True) -> UserImage:
    """The bytes of an uploaded image → `UserImage` with pixels [size, size] in [0, 1] (see the module
    docstring for what is converted and what is refused)."""
    from explorer.vision.data import resize

    if fit not in FITS:
        raise ExplorerError(f"Unknown fit '{fit}'.", f"Pick one of: {', '.join(FITS)}.")
    if not MIN_IMAGE_SIDE <= int(size) <= 256:
        raise ExplorerError(f"An image size of {size} is out of range here ({MIN_IMAGE_SIDE} to 256 pixels).")
    img = _open(data or b"")
    w, h, mode = img.width, img.height, img.mode
    notes: list[str] = []
    if max(w, h) > 4 * size and max(w, h) > 1024:  # decode big JPEGs at a reduced scale: much faster
        img.draft(img.mode, (max(4 * size, 1024), max(4 * size, 1024)))
    a = _greyscale(img, notes)
    a = _square(a, fit, notes)
    if a.shape != (size, size):
        notes.append(f"Resized from {w} × {h} to {size} × {size}.")
        a = resize(a, size)
    if digit_like:
        a = _digit_like(a, notes)
    return UserImage(np.ascontiguousarray(a, dtype=np.float32), (w, h), mode, notes)
