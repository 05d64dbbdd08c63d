"""CLIP on the digits: the loss against an independent computation, zero-shot against the argmax of the cosine,
the prompts' bad input, and a seeded short run with the real sentence encoder that learns to classify held-out
digits from prompts it was never trained on as prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer import ExplorerError, training, vision
from explorer.vision import clip


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_clip_loss_is_cross_entropy_both_ways_over_the_scaled_cosines():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    scale = 14.3
    a = img.numpy() / np.linalg.norm(img.numpy(), axis=1, keepdims=True)
    b = txt.numpy() / np.linalg.norm(txt.numpy(), axis=1, keepdims=True)
    logits = scale * a @ b.T
    rows = -np.mean(np.diag(_log_softmax(logits)))
    cols = -np.mean(np.diag(_log_softmax(logits.T)))
    assert float(clip.clip_loss(img, txt, scale)) == pytest.approx((rows + cols) / 2, rel=1e-5)
    # pairs that match only themselves give a low loss; swapped captions a high one
    good = float(clip.clip_loss(img, img, 20.0))
    bad = float(clip.clip_loss(img, img.roll(1, 0), 20.0))
    assert good < 0.1 < math.log(6) < bad


def test_the_temperature_starts_at_clips_and_is_clipped_at_100():
    m = clip.clip_model(384, seed=0)
    assert m.temperature() == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        m.logit_scale.fill_(10.0)
    assert m.temperature() == pytest.approx(0.01, rel=1e-5)
    with pytest.raises(ExplorerError):
        clip.clip_loss(torch.zeros(1, 4), torch.zeros(1, 4), 1.0)


def test_zero_shot_is_the_argmax_of_the_image_prompt_cosine():
    m = clip.clip_model(7, seed=1)
    d = vision.digits()
    images, labels = d.images[d.test_idx[:40]], d.labels[d.test_idx[:40]]
    prompts = torch.randn(10, 7, generator=torch.Generator().manual_seed(2))
    zs = clip.zero_shot(m, prompts, images, labels, [f"p{i}" for i in range(10)])
    with torch.no_grad():
        img = m.image(torch.tensor(images)).numpy()
        txt = m.text_projection(prompts).numpy()
    cos = (img / np.linalg.norm(img, axis=1, keepdims=True)) @ (txt / np.linalg.norm(txt, axis=1, keepdims=True)).T
    np.testing.assert_allclose(zs.similarity, cos, atol=1e-5)
    assert (zs.predicted == cos.argmax(1)).all()
    assert zs.accuracy == pytest.approx(float((cos.argmax(1) == labels).mean()))
    conf = zs.confusion()
    assert conf.sum() == 40 and np.trace(conf) == int((zs.predicted == labels).sum())
    np.testing.assert_allclose(zs.probabilities.sum(1), 1.0, rtol=1e-5)


def test_prompts_from_templates_and_bad_prompts_get_a_message():
    assert clip.prompts("a handwritten {word}")[7] == "a handwritten seven"
    assert clip.prompts("the digit {num}")[3] == "the digit 3"
    assert clip.captions()[7][1] == "the digit 7"
    for bad in ("no slot here", "{digit}", "{word"):
        with pytest.raises(ExplorerError):
            clip.prompts(bad)
    ok = clip.check_prompts([f"🐱 a {w} ✍️" for w in clip.WORDS])
    assert ok[0].startswith("🐱")
    with pytest.raises(ExplorerError, match="empty"):
        clip.check_prompts(["", *clip.WORDS[1:]])
    with pytest.raises(ExplorerError, match="limit is 200"):
        clip.check_prompts(["x" * 1000, *clip.WORDS[1:]])
    with pytest.raises(ExplorerError, match="one prompt per class"):
        clip.check_prompts(["one", "two"])


def test_a_seeded_short_clip_run_classifies_held_out_digits_zero_shot(minilm):
    """Chance is 0.10; a short run with the page's settings gets most held-out digits right from plain prompts,
    and a phrasing it never saw in training ("a drawing of the number seven") too."""
    torch.manual_seed(0)
    p = vision.vision_plan("clip", steps=150)
    run = vision.clip_run(p, minilm, seed=0)
    before = run.trainer.history[0]["accuracy"]
    training.train(run.trainer, 150)
    after = run.trainer.history[-1]["accuracy"]
    assert before < 0.3 and after > 0.6, (before, after)
    d = vision.digits()
    texts = clip.prompts("a drawing of the number {word}")
    unseen = clip.zero_shot(run.model, clip.text_features(minilm, texts), d.images[d.test_idx], d.labels[d.test_idx])
    assert unseen.accuracy > 0.4
