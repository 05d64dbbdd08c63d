"""DINO on the digits: the loss against the paper's algorithm written out in numpy, the EMA teacher and the
center against their formulas, the collapse signs, and seeded short runs: with centering and sharpening the
student's features beat the same network untrained on held-out digits; without sharpening the teacher's
outputs flatten to uniform (the collapse the page shows)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer import ExplorerError, training, vision
from explorer.vision import dino


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_dino_loss_is_the_papers_cross_entropy_of_centred_sharpened_teacher_and_student():
    g = torch.Generator().manual_seed(0)
    s1, s2, t1, t2 = (torch.randn(5, 7, generator=g) for _ in range(4))
    c = torch.randn(7, generator=g) * 0.1
    tps, tpt = 0.1, 0.04
    # the paper's algorithm 1: H(t, s) = -(t * log s).sum(dim=1).mean(); loss = H(t1, s2)/2 + H(t2, s1)/2
    pt1, pt2 = _softmax((t1 - c).numpy() / tpt), _softmax((t2 - c).numpy() / tpt)
    ls1, ls2 = np.log(_softmax(s1.numpy() / tps)), np.log(_softmax(s2.numpy() / tps))
    expected = (-(pt1 * ls2).sum(1).mean() - (pt2 * ls1).sum(1).mean()) / 2
    assert float(dino.dino_loss(s1, s2, t1, t2, c, student_temp=tps, teacher_temp=tpt)) == pytest.approx(
        expected, rel=1e-5
    )
    # without centering the center is ignored
    uncentred = (
        -(_softmax(t1.numpy() / tpt) * ls2).sum(1).mean() - (_softmax(t2.numpy() / tpt) * ls1).sum(1).mean()
    ) / 2
    assert float(dino.dino_loss(s1, s2, t1, t2, c, centering=False)) == pytest.approx(uncentred, rel=1e-5)
    # the teacher gets no gradient
    s1.requires_grad_(True)
    t1.requires_grad_(True)
    dino.dino_loss(s1, s2, t1, t2, c).backward()
    assert s1.grad is not None and t1.grad is None
    with pytest.raises(ExplorerError):
        dino.dino_loss(s1, s2, t1, t2, c, teacher_temp=0)


def test_ema_teacher_and_center_follow_their_formulas():
    student, teacher = dino.dino_model(1), dino.dino_model(2)
    before = [p.detach().clone() for p in teacher.parameters()]
    dino.ema_update(teacher, student, 0.9)
    for b, t, s in zip(before, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * s.detach())
    c = torch.tensor([1.0, 0.0, -1.0])
    out = torch.tensor([[0.0, 2.0, 1.0], [2.0, 0.0, 1.0]])
    torch.testing.assert_close(dino.updated_center(c, out, 0.9), 0.9 * c + 0.1 * out.mean(0))


def test_collapse_signs():
    k = 8
    uniform = dino.collapse_signs(torch.full((10, k), 1 / k))
    assert uniform["teacher_entropy"] == pytest.approx(math.log(k), rel=1e-5)
    one = torch.zeros(10, k)
    one[:, 3] = 1
    same = dino.collapse_signs(one)
    assert same["teacher_entropy"] == pytest.approx(0, abs=1e-6) and same["top_share"] == 1.0
    spread = dino.collapse_signs(torch.eye(k))
    assert spread["top_share"] == pytest.approx(1 / k)


def _probe_gain(run) -> float:
    table = vision.compare_probes(run.model, vision.random_encoder(run), per_class=[10], repeats=3)
    acc = dict(zip(table["features"], table["accuracy"]))
    return acc[vision.probe.SSL_NAME] - acc[vision.probe.RANDOM_NAME]


def test_a_seeded_short_dino_run_beats_its_random_start_and_the_teacher_follows_the_student():
    torch.manual_seed(0)
    run = vision.dino_run(vision.vision_plan("dino", steps=150), seed=0)
    teacher = run.trainer.task.teacher
    start = [p.detach().clone() for p in teacher.parameters()]
    assert training.train(run.trainer, 150) == "done"
    moved = sum(float((p - s).abs().sum()) for p, s in zip(teacher.parameters(), start))
    assert moved > 0  # the EMA update ran after the student's steps
    assert _probe_gain(run) > 0.02
    last = run.trainer.history[-1]
    assert last["eval_teacher_entropy"] < 0.7 * dino.max_entropy() and last["eval_top_share"] < 0.5


def test_without_sharpening_the_teacher_collapses_to_uniform():
    torch.manual_seed(0)
    run = vision.dino_run(vision.vision_plan("dino", steps=120), sharpening=False, seed=0)
    assert training.train(run.trainer, 120) == "done"
    assert run.trainer.history[-1]["eval_teacher_entropy"] > 0.95 * dino.max_entropy()
    assert "sharpening off" in run.description
    np.testing.assert_allclose(run.trainer.task.teacher_temp, dino.STUDENT_TEMP)


def test_without_centering_one_dimension_takes_the_batch():
    torch.manual_seed(0)
    run = vision.dino_run(vision.vision_plan("dino", steps=60), centering=False, seed=0)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in run.model.modules())
    assert training.train(run.trainer, 60) == "done"
    assert run.trainer.history[-1]["eval_top_share"] > 0.9
    # the backbone starts from the same weights whatever the head: the probe's random baseline is the run's start
    a, b = vision.dino_model(0).backbone, vision.dino_model(0, centered=False).backbone
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_a_vit_student_learns_and_shows_where_its_cls_token_looks():
    """The tiny ViT student: a seeded short run beats its random start on held-out digits, and its CLS token's
    attention over the 16 patches (with what it keeps on itself) sums to 1 in every head, read from the model's
    own attention weights."""
    torch.manual_seed(0)
    run = vision.dino_run(vision.vision_plan("dino", steps=150), backbone="vit", seed=0)
    assert "tiny ViT" in run.description
    assert training.train(run.trainer, 150) == "done"
    assert _probe_gain(run) > 0.02
    d = vision.digits()
    att = dino.cls_attention(run.model, d.images[d.test_idx[0]])
    assert att.weights.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(att.weights.sum(axis=(2, 3)) + att.to_self, 1.0, rtol=1e-5)
    vit = run.model.backbone.vit
    with torch.no_grad():
        out = vit(
            pixel_values=run.model.backbone.pixels(torch.tensor(d.images[d.test_idx[:1]])), output_attentions=True
        )
    np.testing.assert_allclose(att.weights[-1].reshape(4, 16), out.attentions[-1][0, :, 0, 1:].numpy(), rtol=1e-6)
    with pytest.raises(ExplorerError):
        dino.cls_attention(dino.dino_model(0), d.images[0])  # a CNN student has no CLS token
