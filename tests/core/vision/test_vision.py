"""Self-supervision on images (explorer.vision, explorer.charts.vision): masks, the MAE loss, views,
InfoNCE, short trainings through the Live-training machinery, the linear probe, uploads."""

from __future__ import annotations

import io
import math
import re
import struct
import time
import zlib

import numpy as np
import pytest
import torch

from explorer import training, vision
from explorer.contrastive.info_nce import info_nce
from explorer.errors import ExplorerError
from explorer.vision import uploads


def _digit16(i: int = 0) -> np.ndarray:
    d = vision.digits()
    return vision.resize(d.images[d.test_idx[i]], 16)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def mae():
    return vision.mae_model("digits", seed=0)


# ----------------------------------------------------------------------------- masks and the MAE loss


@pytest.mark.parametrize("n", [16, 64])
def test_masking_hides_exactly_round_ratio_times_patches(n, mae):
    expected = {0.1: round(0.1 * n + 1e-9), 0.25: n // 4, 0.5: n // 2, 0.75: 3 * n // 4, 0.9: math.floor(0.9 * n + 0.5)}
    for ratio, k in expected.items():
        for seed in range(3):
            assert vision.random_mask(n, ratio, seed).sum() == k == vision.hidden_count(n, ratio)
    assert vision.hidden_count(16, 0.9) == 14 and 16 - int(16 * (1 - 0.9)) == 15  # HF's own rule would hide 15
    mask = vision.random_mask(16, 0.9, seed=5)
    out = vision.mae_forward(mae, np.stack([_digit16(0)] * 2), np.stack([mask, mask]))
    assert torch.equal(out.mask.bool(), torch.tensor(np.stack([mask, mask])))  # the model hid exactly ours
    assert mae.config.mask_ratio == vision.MAE_RATIO  # and its config is as it was
    assert not np.array_equal(vision.random_mask(16, 0.75, 0), vision.random_mask(16, 0.75, 1))
    for bad in (0.0, 1.0):
        with pytest.raises(ExplorerError):
            vision.random_mask(16, bad)
    with pytest.raises(ExplorerError, match="out of range"):
        vision.hidden_count(16, 1.5)


def test_clicked_patches_make_the_mask_and_bad_clicks_say_why():
    assert vision.toggle(vision.toggle([3, 1], 5), 1) == [3, 5]
    mask = vision.mask_from_indices([0, 5, 5, 15], 16)
    assert mask.sum() == 3 and mask[[0, 5, 15]].all()
    with pytest.raises(ExplorerError, match="no patch 16"):
        vision.mask_from_indices([16], 16)
    with pytest.raises(ExplorerError, match="nothing to reconstruct"):
        vision.mask_from_indices([], 16)
    with pytest.raises(ExplorerError, match="at least one patch visible"):
        vision.mask_from_indices(range(16), 16)


def test_project_mae_loss_equals_vitmae_own_loss_for_the_same_mask(mae):
    d = vision.digits()
    images = torch.tensor(vision.resize(d.images[:12], 16))
    gen = torch.Generator().manual_seed(0)
    for ratio in (0.25, 0.5, 0.75, 0.9):
        mask = vision.mae.random_masks(12, 16, ratio, gen)
        with torch.no_grad():
            own = vision.mae_forward(mae, images, mask)
            ours = vision.mae_loss(mae, images, mask)
        assert torch.equal(own.mask.bool(), mask)
        assert abs(float(ours) - float(own.loss)) < 1e-6, (ratio, float(ours), float(own.loss))
    # the same as computing it by hand from the predictions, hidden patches only
    hand = ((own.logits - mae.patchify(images[:, None])) ** 2).mean(-1)[mask].mean()
    assert abs(float(hand) - float(ours)) < 1e-6


def test_patchify_matches_the_model_and_unpatchify_inverts_it(mae):
    x = vision.resize(vision.digits().images[:3], 16)
    ours = vision.patchify(x, 4)
    assert np.allclose(ours, mae.patchify(torch.tensor(x)[:, None]).numpy())
    assert np.array_equal(vision.unpatchify(ours, 4), x)


def test_position_embeddings_are_filled_in_and_stay_fixed(mae):
    pos = mae.vit.embeddings.position_embeddings[0, 1:]
    dec = mae.decoder.decoder_pos_embed[0, 1:]
    assert pos.abs().sum() > 0 and dec.abs().sum() > 0  # transformers 5.x leaves both at zero
    assert len({tuple(r.tolist()) for r in pos}) == 16  # every patch position is different
    assert not pos.requires_grad and not dec.requires_grad


def test_composite_replaces_only_the_hidden_patches(mae):
    img = _digit16(1)
    mask = vision.mask_from_indices([1, 6, 7, 12], 16)
    rec = vision.reconstruct(mae, img, mask)
    pix = np.kron(mask.reshape(4, 4), np.ones((4, 4), dtype=bool))
    assert np.array_equal(rec.composite[~pix], img[~pix])
    assert np.array_equal(rec.composite[pix], rec.reconstruction[pix])
    assert not np.allclose(rec.reconstruction[pix], img[pix])  # an untrained model does change them
    assert np.array_equal(np.isnan(rec.masked), pix) and np.array_equal(rec.masked[~pix], img[~pix])
    assert rec.hidden == 4 and rec.errors.shape == (4, 4)
    with torch.no_grad():
        assert abs(rec.loss - float(vision.mae_loss(mae, img, torch.tensor(mask)[None]))) < 1e-6
    with pytest.raises(ExplorerError, match="16×16"):
        vision.reconstruct(mae, vision.digits().images[0], mask)


def test_cls_attention_is_a_distribution_over_the_visible_patches(mae):
    img = _digit16(2)
    full = vision.cls_attention(mae, img)
    assert full.weights.shape == (2, 4, 4, 4) and not np.isnan(full.weights).any()
    assert np.allclose(full.weights.sum(axis=(2, 3)) + full.to_self, 1.0, atol=1e-5)
    mask = vision.random_mask(16, 0.5, 3)
    part = vision.cls_attention(mae, img, mask)
    assert np.array_equal(np.isnan(part.weights[1, 2]), mask.reshape(4, 4))
    assert np.allclose(np.nansum(part.weights, axis=(2, 3)) + part.to_self, 1.0, atol=1e-5)
    assert part.head(0).shape == (4, 4)


# ----------------------------------------------------------------------------- views and InfoNCE


def test_views_are_deterministic_by_seed_and_every_toggle_changes_them():
    x = vision.digits().images[:6]
    a1, b1 = vision.view_pairs(x, vision.Augment(), seed=3)
    a2, b2 = vision.view_pairs(x, vision.Augment(), seed=3)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert not np.array_equal(a1, vision.view_pairs(x, vision.Augment(), seed=4)[0])
    assert not np.array_equal(a1, b1) and a1.shape == x.shape and a1.min() >= 0 and a1.max() <= 1
    for name in vision.AUGMENTATIONS:
        off = vision.view_pairs(x, vision.Augment().with_toggles(**{name: False}), seed=3)[0]
        only = vision.view_pairs(x, vision.Augment(**{k: k == name for k in vision.AUGMENTATIONS}), seed=3)[0]
        assert not np.allclose(off, a1), name
        assert not np.allclose(only, x), name
    none = vision.Augment(**{k: False for k in vision.AUGMENTATIONS})
    assert np.allclose(vision.view_pairs(x, none, seed=3)[0], x, atol=1e-6)
    with pytest.raises(ExplorerError, match="Unknown augmentation"):
        vision.Augment().with_toggles(blur=True)


@pytest.mark.parametrize("symmetric", [False, True])
def test_image_infonce_equals_the_text_pages_info_nce(symmetric):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(9, 16)), rng.normal(size=(9, 16))
    b[:4] = a[:4] + 0.1 * b[:4]
    for t in (0.05, 0.2, 1.0):
        ours = vision.info_nce_loss(torch.tensor(a), torch.tensor(b), t, symmetric=symmetric)
        assert abs(float(ours) - info_nce(a, b, t, symmetric=symmetric).loss) < 1e-6
    enc = vision.digit_encoder(0)
    d = vision.digits()
    batch = vision.view_batch(enc, d.images[:8], d.labels[:8], seed=1, temperature=0.2)
    za, zb = vision.embed(enc, batch.a), vision.embed(enc, batch.b)
    assert (
        abs(batch.result.loss - float(vision.info_nce_loss(torch.tensor(za), torch.tensor(zb), 0.2, symmetric=True)))
        < 1e-5
    )
    assert batch.result.similarity.shape == (8, 8)


# ----------------------------------------------------------------------------- trainings (Runs)


def test_short_simclr_run_beats_the_random_encoder_on_held_out_digits():
    run = vision.simclr_run(vision.vision_plan("simclr", steps=150), seed=0)
    training.start(run, slots=training.TrainingSlots(1))
    assert training.wait(run, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert run.status == "done" and run.step == 150, (run.status, run.message)
    table = vision.compare_probes(run.model, vision.random_encoder(run), per_class=(10,), repeats=2)
    acc = dict(zip(table["features"], table["accuracy"]))
    assert acc[vision.probe.SSL_NAME] > acc[vision.probe.RANDOM_NAME] + 0.02, acc
    assert acc[vision.probe.SSL_NAME] > acc[vision.probe.PIXELS_NAME], acc
    assert set(table["held-out digits"]) == {len(vision.digits().test_idx)}
    assert run.trainer.last("eval_loss") < run.trainer.history[0]["eval_loss"] - 0.5


def test_short_mae_run_lowers_the_held_out_masked_patch_loss():
    run = vision.mae_run(vision.vision_plan("mae", steps=200), seed=0)
    training.start(run, slots=training.TrainingSlots(1))
    assert training.wait(run, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert run.status == "done" and run.step == 200, (run.status, run.message)
    start, end = run.trainer.history[0]["eval_loss"], run.trainer.last("eval_loss")
    assert end < 0.5 * start, (start, end)
    assert run.extra["hidden"] == 12 and run.extra["baseline_loss"] > 0


def test_the_live_progress_counts_images_not_tokens():
    from explorer.ui.live_run import progress_text

    run = vision.simclr_run(vision.vision_plan("simclr", steps=2000), seed=0)
    training.start(run, slots=training.TrainingSlots(1))
    try:
        deadline = time.monotonic() + 60
        while run.step < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        text = progress_text(run)
    finally:
        training.stop(run)
        training.wait(run, timeout=30)
    assert re.search(r"[\d,]+ images/s · ETA", text) and "tokens" not in text, text


def test_runs_are_seeded_and_never_change_a_model_handed_in(mae):
    p = vision.vision_plan("mae", steps=3)
    a, b = vision.mae_run(p, seed=1), vision.mae_run(p, seed=1)
    training.train(a.trainer, 3)
    training.train(b.trainer, 3)
    assert [h.get("loss") for h in a.trainer.history] == [h.get("loss") for h in b.trainer.history]
    before = _state(mae)
    run = vision.mae_run(vision.vision_plan("mae", steps=5), model=mae)
    training.train(run.trainer, 5)
    assert _same(before, _state(mae)) and not _same(before, _state(run.model))
    enc = vision.digit_encoder(2)
    enc_before = _state(enc)
    run = vision.simclr_run(vision.vision_plan("simclr", steps=3, batch=16), model=enc)
    training.train(run.trainer, 3)
    assert _same(enc_before, _state(enc))
    with pytest.raises(ExplorerError, match="Unknown image training mode"):
        vision.vision_plan("byol")
    assert vision.vision_plan("simclr", batch=10_000).batch == vision.MAX_IMAGE_BATCH


def test_shared_data_and_models_are_not_mutated_by_reading_them(mae):
    d = vision.digits()
    snapshot = d.images.copy()
    with pytest.raises(ValueError):
        d.images[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        vision.photo("china.jpg")[0, 0] = 0.0
    before, ratio = _state(mae), mae.config.mask_ratio
    vision.reconstruct(mae, _digit16(), vision.random_mask(16, 0.5, 0))
    vision.cls_attention(mae, _digit16())
    vision.embedding_map(None, limit=50)
    assert _same(before, _state(mae)) and mae.config.mask_ratio == ratio
    assert np.array_equal(d.images, snapshot) and vision.digits() is d
    train, test = d.split()
    dev_train, dev = d.split(dev=True)
    assert not set(train) & set(test) and set(dev_train) | set(dev) == set(train)


def test_photographs_give_crops_and_a_photo_mae_trains():
    crops = vision.photo_crops(8, 32, seed=0)
    assert crops.shape == (8, 32, 32) and 0 <= crops.min() and crops.max() <= 1
    assert not np.allclose(crops, vision.photo_crops(8, 32, held_out=True, seed=0))
    assert vision.photo("flower.jpg", 32).shape == (32, 32)
    with pytest.raises(ExplorerError, match="Pick one of"):
        vision.photo("cat.jpg")
    run = vision.mae_run(vision.vision_plan("mae", steps=2, batch=8), shape="photos")
    training.train(run.trainer, 2)
    assert run.extra["hidden"] == 48 and run.step == 2


def test_probe_subsets_come_from_the_training_split_only():
    d = vision.digits()
    idx = vision.labelled_subset(d.labels, d.train_idx, 5, seed=0)
    assert len(idx) == 50 and set(idx) <= set(d.train_idx)
    assert np.array_equal(np.bincount(d.labels[idx]), [5] * 10)
    with pytest.raises(ExplorerError, match="fewer labels"):
        vision.labelled_subset(d.labels, d.train_idx, 10_000)


# ----------------------------------------------------------------------------- uploads


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that claims a huge size in its header (almost no pixel data): it must be refused
    from the header, before anything tries to decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )


def _one_on_paper(mode: str, size=(40, 40)):
    """A dark vertical stroke on white paper, in Pillow `mode`."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(img).rectangle([size[0] // 2 - 3, 4, size[0] // 2 + 3, size[1] - 5], fill=(0, 0, 0))
    return img.convert(mode) if mode != "P" else img.convert("P", palette=Image.Palette.ADAPTIVE)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "I;16"])
def test_uploads_in_any_mode_become_digit_like_arrays(mode):
    got = vision.read_image(_png(_one_on_paper(mode)), 8)
    assert got.pixels.shape == (8, 8) and got.pixels.dtype == np.float32
    assert got.pixels.min() == 0.0 and got.pixels.max() == 1.0
    assert got.pixels[2:6, 3:5].mean() > 0.7 and got.pixels[:, 0].max() < 0.1  # bright stroke, dark background
    assert any("Inverted" in n for n in got.notes) and got.original_mode == mode


def test_transparent_parts_count_as_paper_and_odd_sizes_are_padded():
    from PIL import Image

    img = _one_on_paper("RGBA", size=(30, 18))
    arr = np.array(img)
    arr[..., 3] = np.where(arr[..., 0] > 128, 0, 255)  # paper fully transparent (colour black underneath)
    arr[..., :3][arr[..., 3] == 0] = 0
    got = vision.read_image(_png(Image.fromarray(arr, "RGBA")), 8)
    assert any("Transparent" in n for n in got.notes) and any("Padded" in n for n in got.notes)
    assert got.pixels[:, 0].max() < 0.1 and got.pixels[3:5, 3:5].mean() > 0.5
    photo = vision.read_image(_png(_one_on_paper("RGB", size=(60, 20))), 16, fit="crop", digit_like=False)
    assert photo.pixels.shape == (16, 16) and any("centre square" in n for n in photo.notes)


def test_bad_uploads_say_what_is_wrong(monkeypatch):
    from PIL import Image

    cases = {
        b"": "empty",
        b"hello, this is a text file\n" * 10: "not an image",
        _png_header(30_000, 30_000): "megapixels",
        _png_header(9_000, 5_000): "megapixels",
        _png(Image.new("L", (1, 1), 0)): "at least 8 pixels",
        _png(Image.new("L", (20, 20), 255)): "blank",
        _png(_one_on_paper("L"))[:60]: "damaged",
    }
    for data, words in cases.items():
        with pytest.raises(ExplorerError, match=words):
            vision.read_image(data)
    monkeypatch.setattr(uploads, "MAX_IMAGE_BYTES", 100)
    with pytest.raises(ExplorerError, match="limit here is 100 bytes"):
        vision.read_image(_png(_one_on_paper("L")))


def test_a_large_photo_is_downscaled():
    from PIL import Image

    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=70)
    got = vision.read_image(buf.getvalue(), 32, fit="crop", digit_like=False)
    assert got.pixels.shape == (32, 32) and got.original_size == (2000, 1500)
    assert any("Resized from 2000 × 1500" in n for n in got.notes)


# ----------------------------------------------------------------------------- figures


def test_figures_build_from_plain_arrays(mae):
    from explorer.charts import images as pictures
    from explorer.charts import vision as cv

    d = vision.digits()
    rec = vision.reconstruct(mae, _digit16(), vision.random_mask(16, 0.75, 0))
    pick = pictures.patch_picker(rec.original, rec.mask, 4)
    assert list(pick.data[1].customdata[:, 0].astype(int)) == list(range(16))  # point index = patch number
    batch = vision.view_batch(vision.digit_encoder(0), d.images[:6], d.labels[:6])
    emb = vision.embedding_map(None, limit=60)
    table = vision.probe_table(
        {"raw pixels": vision.pixel_features}, d.images, d.labels, d.train_idx, d.test_idx, per_class=(5,), repeats=1
    )
    att = vision.cls_attention(mae, _digit16())
    hist = [{"step": 0, "eval_loss": 0.2}, {"step": 1, "loss": 0.19, "eval_loss": 0.18, "accuracy": 0.5}]
    figs = [
        pictures.reconstruction_panels(rec),
        pick,
        pictures.image_panels([("a", rec.original), ("b", rec.masked)], patch=4),
        cv.view_pairs_figure(batch.a, batch.b, batch.labels),
        cv.view_similarity(batch.result.similarity, batch.labels),
        cv.view_similarity(batch.result.probs, batch.labels, kind="probability", similarity=batch.result.similarity),
        cv.attention_grids(att.weights, rec.original),
        cv.embedding_scatter(emb.coords, emb.labels, emb.explained),
        cv.probe_bars(table),
        cv.mae_loss_curves(hist, 0.05, target=10),
        cv.simclr_loss_curves(hist, 128, target=10),
    ]
    for fig in figs:
        assert fig.to_plotly_json()["data"]
    assert len(cv.embedding_scatter(emb.coords, emb.labels, emb.explained).data) == len(set(emb.labels.tolist()))


def test_mae_features_are_the_cls_state_with_every_patch_visible(mae):
    """What a probe reads from an MAE: the CLS token's last state with no patch hidden, the digits resized to the
    model's size; the same as the encoder's own forward pass at mask ratio 0 (whatever order it shuffles the
    patches into, the CLS token attends to all of them)."""
    d = vision.digits()
    x = d.images[d.test_idx[:6]]
    got = vision.mae_features(mae, x)
    assert got.shape == (6, mae.config.hidden_size)
    before = mae.config.mask_ratio
    try:
        mae.vit.config.mask_ratio = 0.0
        with torch.no_grad():
            ref = mae.vit(pixel_values=torch.tensor(vision.resize(x, 16))[:, None]).last_hidden_state[:, 0].numpy()
    finally:
        mae.vit.config.mask_ratio = before
    np.testing.assert_allclose(got, ref, atol=1e-5)
