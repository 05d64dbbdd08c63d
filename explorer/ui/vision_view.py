"""Widgets the Images page's views share: the image a participant masks (a held-out digit or an upload)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import ui, vision


def image_to_mask(d: vision.Digits, shape: vision.MAEShape) -> tuple[np.ndarray, str]:
    """The image to mask, at the MAE's size (16×16): a held-out digit or an upload."""
    src = st.radio(
        "Image",
        ["digit", "upload"],
        key="img_source",
        horizontal=True,
        format_func={"digit": "A held-out digit", "upload": "Upload an image"}.get,
    )
    if src == "upload":
        up = st.file_uploader(
            "An image (PNG, JPEG…): a dark digit on light paper works best",
            key="img_upload",
            max_upload_size=max(1, vision.MAX_IMAGE_BYTES // 1_000_000),
        )
        if up is not None:
            with ui.friendly_errors():
                img = vision.read_image(up.getvalue(), size=shape.image_size)
                ui.notes(img.notes)
                return img.pixels, f"your image ({img.original_size[0]}×{img.original_size[1]}, {img.original_mode})"
        st.caption("Until an image is uploaded, a held-out digit is used.")
    i = int(st.number_input("Held-out digit", 0, len(d.test_idx) - 1, step=1, key="img_digit"))
    k = int(d.test_idx[i])
    return vision.resize(d.images[k], shape.image_size), f"held-out digit #{i} (a {d.labels[k]})"
