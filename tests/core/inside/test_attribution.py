"""Token attribution: Captum's results against gradients computed here by hand, Integrated Gradients'
completeness, what a causal LM cannot see, contrastive targets, attention × gradient, bad input."""

from __future__ import annotations

import pytest
import torch

from explorer import ExplorerError, inside, load
from explorer import comparisons as C
from explorer.charts import attribution as charts
from explorer.tokens import encode

TEXT = "The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="module")
def tiny_clm(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_dir):
    return load("mlm", str(tiny_mlm_dir))


@pytest.fixture(scope="module")
def tiny_bidir(tiny_bidir_dir):
    return load("mlm", str(tiny_bidir_dir))


def ids_of(lm, text=TEXT):
    return list(encode(lm.tokenizer, text, add_special_tokens=True).ids)


def by_hand(lm, ids, start, end, target, contrast=()):
    """Gradient × input and the explained value, computed here without Captum or explorer code: the blank
    written as the model reads it (masks for a masked LM, the word for a causal LM)."""
    model = lm.model
    causal = lm.info.role == "clm"
    mask_id = lm.tokenizer.mask_token_id

    def value_of(embeds_of_context):
        total = 0
        for word, sign in ((target, 1.0), (contrast, -1.0)):
            if not word:
                continue
            n = len(word)
            rows = [list(word)] if causal else [list(word[:i]) + [mask_id] * (n - i) for i in range(n)]
            for i, region in enumerate(rows):
                n_points = embeds_of_context.shape[0]
                reg = model.get_input_embeddings()(torch.tensor([region])).expand(n_points, -1, -1)
                emb = torch.cat([embeds_of_context[:, :start], reg, embeds_of_context[:, start:]], dim=1)
                logp = torch.log_softmax(model(inputs_embeds=emb).logits.float(), -1)
                reads = [(start - 1 + j, word[j]) for j in range(n)] if causal else [(start + i, word[i])]
                total = total + sign * sum(logp[:, c, t].sum() for c, t in reads)  # summed over a batch
        return total

    context = ids[:start] + ids[end:]
    emb = model.get_input_embeddings()(torch.tensor([context])).detach().requires_grad_(True)
    with torch.enable_grad():
        value = value_of(emb)
        (grad,) = torch.autograd.grad(value, emb)
    special = set(lm.tokenizer.all_special_ids) | ({mask_id} if mask_id is not None else set())
    credit = [None if t in special else float(x) for t, x in zip(context, (grad * emb).sum(-1)[0].detach())]
    return float(value.detach()), credit, value_of


def scores_without_blank(att):
    return list(att.scores[: att.blank]) + list(att.scores[att.blank + 1 :])


@pytest.mark.parametrize("which", ["tiny_clm", "tiny_mlm", "tiny_bidir"])
def test_gradient_times_input_equals_a_gradient_computed_by_hand(which, request):
    lm = request.getfixturevalue(which)
    ids = ids_of(lm)
    start = 4
    target = (ids[start], ids[start + 1])  # a two-piece "word": the readings of each kind of model
    att = inside.attribute(lm, ids, start, start + 2, target, method=inside.GRADIENT)
    value, credit, _ = by_hand(lm, ids, start, start + 2, target)
    assert att.value == pytest.approx(value, abs=1e-4)
    got = scores_without_blank(att)
    assert [c is None for c in got] == [c is None for c in credit]
    assert [c for c in got if c is not None] == pytest.approx([c for c in credit if c is not None], abs=1e-5)
    assert any(abs(c) > 1e-6 for c in got if c is not None)


@pytest.mark.parametrize("which", ["tiny_clm", "tiny_bidir"])
def test_integrated_gradients_add_up_to_the_change_from_the_baseline(which, request):
    lm = request.getfixturevalue(which)
    ids = ids_of(lm)
    start, target = 5, (ids[5],)
    att = inside.attribute(lm, ids, start, start + 1, target, method=inside.INTEGRATED, steps=128)
    value, _, value_of = by_hand(lm, ids, start, start + 1, target)
    context = ids[:start] + ids[start + 1 :]
    special = set(lm.tokenizer.all_special_ids) | {lm.tokenizer.mask_token_id}
    emb = lm.model.get_input_embeddings()(torch.tensor([context])).detach()
    keep = torch.tensor([t in special for t in context])[None, :, None]
    with torch.no_grad():  # the baseline by hand: every context token at zero but the special ones
        base = float(value_of(torch.where(keep, emb, torch.zeros_like(emb))))
    assert att.value == pytest.approx(value, abs=1e-4)
    assert att.baseline_value == pytest.approx(base, abs=1e-4)
    # completeness: the credits add up to value - base, to within the convergence delta, which is small here
    assert att.total - (value - base) == pytest.approx(att.delta, abs=1e-4)
    assert abs(att.delta) < 0.02 * max(1.0, abs(value - base))


def test_integrated_gradients_agree_with_a_riemann_sum_by_hand(tiny_clm):
    ids = ids_of(tiny_clm)
    start, target = 6, (ids[6],)
    att = inside.attribute(tiny_clm, ids, start, start + 1, target, method=inside.INTEGRATED, steps=256)
    _, _, value_of = by_hand(tiny_clm, ids, start, start + 1, target)
    context = ids[:start] + ids[start + 1 :]
    x = tiny_clm.model.get_input_embeddings()(torch.tensor([context])).detach()
    n = 2000  # midpoint rule on the straight path from the zero baseline (fine: it bends sharply near zero)
    alphas = (torch.arange(n) + 0.5) / n
    total = torch.zeros_like(x)
    for chunk in alphas.split(250):
        points = (chunk[:, None, None] * x).requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(value_of(points), points)
        total += g.sum(0, keepdim=True) / n
    by_riemann = (total * x).sum(-1)[0].tolist()
    assert scores_without_blank(att) == pytest.approx(by_riemann, abs=5e-3)


@pytest.mark.parametrize("method", inside.METHODS)
def test_a_causal_lm_gives_exactly_nothing_to_the_right_and_a_masked_lm_does(method, tiny_clm, tiny_bidir):
    cl = ids_of(tiny_clm)
    att = inside.attribute(tiny_clm, cl, 5, 6, (cl[5],), method=method)
    assert all(s == 0.0 for s in att.right())
    assert any(s not in (None, 0.0) for s in att.left())
    ml = ids_of(tiny_bidir)
    att = inside.attribute(tiny_bidir, ml, 5, 6, (ml[5],), method=method)
    assert sum(abs(s) for s in att.right() if s is not None) > 1e-4


def test_the_real_models_on_the_compare_page_lesson():
    """The lesson in one picture: on the page's default sentence, the masked LM credits words right of the
    blank; the causal LM gives them exactly zero."""
    mlm, clm = load("mlm"), load("clm")
    comp = C.prepare(mlm, clm, "The dog barked at the mailman because he was scared of the noise.")
    index = 2
    mside, cside = C.predict_word(comp, mlm, clm, index)
    for method in (inside.GRADIENT, inside.ATTENTION):
        m = C.explain_word(comp, mlm, mside, index, method=method)
        c = C.explain_word(comp, clm, cside, index, method=method)
        assert m.target == c.target == "barked"
        assert m.right_of_blank > 0.05 * sum(abs(s) for s in m.scores if s is not None)
        assert c.right_of_blank == 0.0
        assert [w for w, s in zip(c.words, c.scores) if s] == ["The", "dog"]


def test_contrast_is_the_difference_of_the_two_words(tiny_clm):
    ids = ids_of(tiny_clm)
    a, b = (ids[5],), (ids[9],)
    one = inside.attribute(tiny_clm, ids, 5, 6, a, method=inside.GRADIENT)
    two = inside.attribute(tiny_clm, ids, 5, 6, b, method=inside.GRADIENT)
    both = inside.attribute(tiny_clm, ids, 5, 6, a, contrast=b, method=inside.GRADIENT)
    logits = tiny_clm.model(torch.tensor([ids])).logits[0, 4]
    assert both.value == pytest.approx(float(logits[a[0]] - logits[b[0]]), abs=1e-4)  # the difference of logits
    diff = [x - y for x, y in zip(one.scores, two.scores) if x is not None]
    assert [s for s in both.scores if s is not None] == pytest.approx(diff, abs=1e-5)  # gradients are linear


def test_attention_times_gradient_is_positive_and_depends_on_the_target(tiny_clm):
    ids = ids_of(tiny_clm)
    one = inside.attribute(tiny_clm, ids, 7, 8, (ids[7],), method=inside.ATTENTION)
    two = inside.attribute(tiny_clm, ids, 7, 8, (ids[2],), method=inside.ATTENTION)
    left = [s for s in one.left() if s is not None]
    assert all(s >= 0 for s in left) and sum(left) > 0
    assert one.left() != pytest.approx(two.left())


def test_results_are_cached_per_model_text_target_and_method(tiny_clm):
    ids = ids_of(tiny_clm)
    calls = []
    first = inside.attribute(
        tiny_clm, ids, 3, 4, (ids[3],), method=inside.INTEGRATED, steps=16, progress=lambda d, t: calls.append(d)
    )
    again = inside.attribute(tiny_clm, ids, 3, 4, (ids[3],), method=inside.INTEGRATED, steps=16)
    assert again is first and calls == [1]  # one batch of 16 points, once
    other = inside.attribute(tiny_clm, ids, 3, 4, (ids[3],), method=inside.INTEGRATED, steps=8)
    assert other is not first and other.steps == 8


def test_progress_is_reported_in_batches_of_steps(tiny_clm):
    ids = ids_of(tiny_clm)
    seen = []
    inside.attribute(tiny_clm, ids, 4, 5, (ids[4],), steps=40, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (1, 3) and seen[-1] == (3, 3)  # 16 + 16 + 8 points


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=2, end=3, target=()), "no prediction to explain"),
        (dict(start=2, end=3, target=(5,), method="LIME"), "Unknown attribution method"),
        (dict(start=2, end=3, target=(5,), steps=0), "1 to 256 steps"),
        (dict(start=2, end=3, target=(5,), contrast=(5,)), "other than the one explained"),
        (dict(start=0, end=1, target=(5,)), "nothing before the first token"),
        (dict(start=40, end=41, target=(5,)), "outside the text"),
    ],
)
def test_bad_input_gets_a_clear_message(tiny_clm, kwargs, message):
    ids = ids_of(tiny_clm)
    args = dict(kwargs)
    with pytest.raises(ExplorerError, match=message):
        inside.attribute(tiny_clm, ids, args.pop("start"), args.pop("end"), args.pop("target"), **args)


def test_a_text_of_only_the_blank_and_an_over_long_text_are_refused(tiny_bidir, tiny_clm):
    tok = tiny_bidir.tokenizer
    ids = [tok.convert_tokens_to_ids(tok.bos_token or tok.eos_token), tok.mask_token_id]
    with pytest.raises(ExplorerError, match="nothing in the text but the blank"):
        inside.attribute(tiny_bidir, ids, 1, 2, (5,))
    long = [17] * 200  # the tiny causal LM reads 128 positions
    with pytest.raises(ExplorerError, match="reads at most 128"):
        inside.attribute(tiny_clm, long, 100, 101, (5,))


def test_the_strip_escapes_text_and_colours_by_sign():
    html = charts.attribution_html(["<b>", "x", "&y"], [0.5, None, -1.0], 1, large=True)
    assert "<b>" not in html.replace('<b">', "") and "&lt;b&gt;" in html and "&amp;y" in html
    assert "rgba(33,102,172" in html and "rgba(178,24,43" in html
    assert 'title="&lt;b&gt;: +0.500"' in html
