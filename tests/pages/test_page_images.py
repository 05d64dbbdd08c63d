"""The Images page through AppTest: patches hidden at a ratio and by clicking, the reconstruction and
its loss on hidden patches only, MAE trained from the page (the loss falls), SimCLR views and their
InfoNCE, SimCLR trained from the page, then the linear probe against the random encoder and pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import ROOT
from explorer import training, vision
from tests.figures import figures


@pytest.fixture(autouse=True)
def _own_slots(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(2))


def open_page(view: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    if view:
        at.session_state["img_view"] = view
    at.run()
    at.switch_page("pages/images.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figure(at: AppTest, title_part: str) -> dict:
    for spec in figures(at):
        if title_part in json.dumps(spec["layout"].get("title", "")):
            return spec
    raise AssertionError(f"no chart titled …{title_part}…")


def loss_metric(at: AppTest) -> float:
    return float(next(m for m in at.metric if m.label.startswith("Loss on the hidden patches")).value)


def test_ratio_and_clicks_hide_patches_and_the_loss_counts_hidden_ones_only():
    at = open_page()
    assert len(at.session_state["img_hidden"]) == 12  # 75% of 16
    at.slider(key="img_ratio").set_value(0.5).run()
    at.button(key="img_random").click().run()
    hidden = at.session_state["img_hidden"]
    assert len(hidden) == 8
    shown = next(i for i in range(16) if i not in hidden)
    at.button(key=f"img_patch_{shown}").click().run()
    assert sorted(at.session_state["img_hidden"]) == sorted(hidden + [shown])
    assert at.button(key=f"img_patch_{shown}").label == f"■ {shown}"
    # the page's loss is the mean squared error over the hidden patches of the untrained model
    d = vision.digits()
    image = vision.resize(d.images[d.test_idx[0]], 16)
    rec = vision.reconstruct(
        vision.mae_model("digits", 0), image, vision.mask_from_indices(at.session_state["img_hidden"], 16)
    )
    assert loss_metric(at) == pytest.approx(rec.loss, abs=1e-4)
    assert rec.errors[~rec.mask].size and rec.loss == pytest.approx(rec.errors[rec.mask].mean(), rel=1e-6)
    figure(at, "the MAE, untrained")
    # the CLS token's attention is computed and drawn once its expander is opened
    assert not [spec for spec in figures(at) if "CLS" in json.dumps(spec["layout"])]
    at.session_state["img_attention_open"] = True
    at.run()
    assert [spec for spec in figures(at) if "CLS" in json.dumps(spec["layout"])]


def test_mae_trained_from_the_page_reconstructs_better():
    at = open_page()
    before = loss_metric(at)
    at.selectbox(key="img_mae_steps").set_value(300).run()
    at.button(key="img_mae_start").click().run()
    run = at.session_state["img_mae_run"]
    assert training.wait(run, timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert run.step == 300
    hist = [h["eval_loss"] for h in run.trainer.history if "eval_loss" in h]
    assert hist[-1] < 0.5 * hist[0]  # the held-out masked-patch loss at least halves
    assert loss_metric(at) < before
    figure(at, "after 300 steps of training")


def test_simclr_views_then_training_then_the_probe():
    at = open_page("Contrastive views (SimCLR)")
    loss = float(next(m for m in at.metric if m.label == "InfoNCE loss of this batch").value)
    assert loss == pytest.approx(np.log(8), abs=0.6)  # an untrained encoder barely tells the views apart
    at.toggle(key="img_rotate").set_value(False).run()
    assert not at.exception
    at.selectbox(key="img_simclr_steps").set_value(300).run()
    at.button(key="img_simclr_start").click().run()
    run = at.session_state["img_simclr_run"]
    assert training.wait(run, timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not run.extra["aug"].rotate
    after = float(next(m for m in at.metric if m.label == "InfoNCE loss of this batch").value)
    assert after < loss
    figure(at, "2-D map")
    at.session_state["img_view"] = "The payoff: a linear probe"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.session_state["img_probe"]
    acc = table[table["labels per class"] == 10].set_index("features")["accuracy"]
    ssl = next(v for k, v in acc.items() if "self-supervised" in k)
    rnd = next(v for k, v in acc.items() if "random" in k)
    assert ssl > rnd  # the self-supervised features beat the same encoder untrained


def test_simclr_similarities_before_training_are_explained():
    """An untrained encoder gives every pair a cosine of about 1.00: the page says why, with the numbers."""
    import base64

    at = open_page("Contrastive views (SimCLR)")
    z = figure(at, "Cosine similarity of the views")["data"][0]["z"]  # numpy arrays: {dtype, bdata, shape}
    values = (
        np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(8, 8).astype(float)
        if isinstance(z, dict)
        else np.asarray(z, dtype=float)
    )
    assert values.min() > 0.98  # what the explanation is about
    infos = " ".join(i.value for i in at.info)
    assert "Why every cell reads about 1.00 before training" in infos and "chance, ln 8" in infos
    assert f"between {values.min():.3f} and {values.max():.3f}" in infos
    text = " ".join(m.value for m in at.markdown)
    assert f"**{np.diag(values).mean():.3f}**" in text  # the views of one digit: no closer than the rest
    assert f"**{values[~np.eye(len(values), dtype=bool)].mean():.3f}**" in text


def test_clip_tab_trains_then_zero_shot_from_typed_prompts_with_bad_prompts_refused():
    """The CLIP tab: the batch's image–caption matrix, a run started from the page, then zero-shot on the held-out
    digits from the ten prompts (accuracy, confusion matrix, phrasings side by side); an empty prompt and one over
    the limit get a message, emoji are read; a phrasing chosen fills the ten prompts."""
    at = open_page("Images and words (CLIP)")
    figure(at, "Cosine of every image with every caption")
    assert any("Untrained" in i.value for i in at.info)
    untrained = float(next(m for m in at.metric if m.label.startswith("Zero-shot accuracy")).value.rstrip("%")) / 100
    at.selectbox(key="img_clip_steps").set_value(300).run()
    at.button(key="img_clip_start").click().run()
    run = at.session_state["img_clip_run"]
    assert training.wait(run, timeout=300) and run.status == "done", (run.status, run.message)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    acc = float(next(m for m in at.metric if m.label.startswith("Zero-shot accuracy")).value.rstrip("%")) / 100
    assert acc > 0.6 and acc > untrained + 0.3, (untrained, acc)
    # the page's figure is the one zero_shot gives for these prompts and this model
    texts = at.text_area(key="img_clip_prompts").value.splitlines()
    assert texts == vision.clip.prompts(vision.clip.PLAIN) == vision.clip.prompt_sets()["the digit 7"]
    encoder = run.extra["encoder"]
    from explorer import load

    d = vision.digits()
    zs = vision.zero_shot(
        run.model,
        vision.clip.text_features(load("encoder", encoder), texts),
        d.images[d.test_idx],
        d.labels[d.test_idx],
    )
    assert f"{zs.accuracy:.1%}" == next(m for m in at.metric if m.label.startswith("Zero-shot accuracy")).value
    conf = figure(at, "Zero-shot on the held-out digits")
    assert len(conf["data"][0]["x"]) == 10
    bars = figure(at, "prompt engineering")["data"][0]
    assert len(bars["x"]) == len(vision.clip.prompt_sets()) + 1  # every phrasing and the participant's prompts
    # a phrasing chosen fills the ten prompts
    at.selectbox(key="img_clip_phrasing").set_value("seventh").run()
    assert at.text_area(key="img_clip_prompts").value.splitlines()[7] == "seventh"
    # bad prompts: a message, no traceback; emoji are fine
    lines = vision.clip.prompts("the digit {num}")
    at.text_area(key="img_clip_prompts").set_value("\n".join(["", *lines[1:]])).run()
    assert not at.exception and any("empty" in e.value for e in at.error)
    at.text_area(key="img_clip_prompts").set_value("\n".join(["x" * 1000, *lines[1:]])).run()
    assert not at.exception and any("limit is 200" in e.value for e in at.error)
    at.text_area(key="img_clip_prompts").set_value("\n".join([f"🐱 {p}" for p in lines])).run()
    assert not at.exception and not at.error
    # your own digit: a held-out 3 drawn dark on light paper, 64×64, classified by the ten prompts
    import io

    from PIL import Image

    at.text_area(key="img_clip_prompts").set_value("\n".join(lines)).run()
    k = int(d.test_idx[np.flatnonzero(d.labels[d.test_idx] == 3)[0]])
    paper = Image.fromarray((255 * (1 - d.images[k])).astype(np.uint8)).resize((64, 64), Image.NEAREST)
    png = io.BytesIO()
    paper.save(png, format="PNG")
    at.file_uploader(key="img_clip_upload").set_value(("three.png", png.getvalue(), "image/png")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    yours = figure(at, "Your image")["data"][0]
    assert len(yours["x"]) == 10 and sum(yours["y"]) == pytest.approx(1.0, abs=1e-4)
    assert int(np.argmax(yours["y"])) == 3 and any("Closest prompt: “the digit 3”" in c.value for c in at.caption)
    at.file_uploader(key="img_clip_upload").set_value(("three.png", b"not a picture" * 20, "image/png")).run()
    assert not at.exception and at.error


def test_dino_tab_collapses_without_sharpening_and_learns_with_it():
    """The DINO tab: sharpening off, a run from the page ends with the teacher's answers uniform and the page says
    it collapsed; both switches on with the tiny ViT, a run ends without that warning, its collapse signs drawn,
    the probe's bars show the student's features above the untrained network's, and the CLS token's attention
    is drawn for the held-out digit chosen."""
    at = open_page("Its own teacher (DINO)")
    assert not at.exception
    at.toggle(key="img_dino_sharpening").set_value(False).run()
    at.selectbox(key="img_dino_steps").set_value(100).run()
    at.button(key="img_dino_start").click().run()
    run = at.session_state["img_dino_run"]
    assert training.wait(run, timeout=300) and run.status == "done", (run.status, run.message)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not run.extra["sharpening"] and any("Collapsed to uniform" in w.value for w in at.warning)
    figure(at, "Is it collapsing?")
    # a SimCLR encoder trained on its tab is probed beside DINO's
    at.session_state["img_view"] = "Contrastive views (SimCLR)"
    at.run()
    at.selectbox(key="img_simclr_steps").set_value(100).run()
    at.button(key="img_simclr_start").click().run()
    assert training.wait(at.session_state["img_simclr_run"], timeout=300)
    at.session_state["img_view"] = "Masked patches (MAE)"
    at.run()
    at.selectbox(key="img_mae_steps").set_value(100).run()
    at.button(key="img_mae_start").click().run()
    assert training.wait(at.session_state["img_mae_run"], timeout=300)
    at.session_state["img_view"] = "Its own teacher (DINO)"
    at.run()
    at.toggle(key="img_dino_sharpening").set_value(True).run()
    at.radio(key="img_dino_backbone").set_value("vit").run()
    at.button(key="img_dino_start").click().run()
    run = at.session_state["img_dino_run"]
    assert training.wait(run, timeout=300) and run.status == "done", (run.status, run.message)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert run.extra["sharpening"] and not any("Collapsed" in w.value for w in at.warning)
    table = run.extra["_probe"]
    acc = table[table["labels per class"] == 10].set_index("features")["accuracy"]
    assert acc[vision.probe.SSL_NAME] > acc[vision.probe.RANDOM_NAME]
    assert "SimCLR encoder (your run)" in acc.index and "MAE encoder (your run)" in acc.index
    figure(at, "Linear probe")
    # the ViT student: where its CLS token looks, for the held-out digit chosen
    assert run.extra["backbone"] == "vit"
    figure(at, "Where the student's CLS token looks in held-out digit #0")
    at.number_input(key="img_dino_digit").set_value(5).run()
    assert not at.exception
    figure(at, "held-out digit #5")
