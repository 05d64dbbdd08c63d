"""Causal LM core: distributions, decoding settings, step-by-step generation, teacher forcing, prompts.

Each result is checked against a reference: a plain forward pass, transformers' own logits
processors, `model.generate` and the model's own loss.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from explorer import ExplorerError, clm, load
from explorer.tokens import encode


@pytest.fixture(scope="module")
def tiny(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


def plain_next_probs(model, ids):
    with torch.no_grad():
        return torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].double(), -1).numpy()


# --------------------------------------------------------------------------- next-token distribution


def test_distribution_equals_softmax_of_plain_forward(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "The cat sat on the").ids
    d = clm.next_token_distribution(tiny, ids, top_n=7)
    ref = plain_next_probs(tiny.model, ids)
    np.testing.assert_allclose(d.probs, ref, atol=1e-6)
    assert [c.token_id for c in d.top] == list(np.argsort(-ref, kind="stable")[:7])
    assert d.other == pytest.approx(1 - np.sort(ref)[::-1][:7].sum(), abs=1e-6)
    ent = torch.distributions.Categorical(probs=torch.tensor(ref)).entropy().item() / math.log(2)
    assert d.entropy == pytest.approx(ent, abs=1e-6)
    frame = d.frame()
    assert list(frame["token"])[-1] == "(other)" and frame["probability"].sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow
def test_real_model_predicts_paris(smollm2):
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    d = clm.next_token_distribution(smollm2, prompt.encoded)
    np.testing.assert_allclose(d.probs, plain_next_probs(smollm2.model, prompt.ids), atol=1e-6)
    assert d.top[0].piece == "␣Paris" and d.top[0].token_id == smollm2.tokenizer.encode(" Paris")[0]
    assert 0.5 < d.top[0].prob < 0.95


def test_top_order_equals_a_stable_full_sort():
    rng = np.random.default_rng(0)
    for values in (rng.random(500), rng.integers(0, 4, 500) / 3.0, np.zeros(7)):  # ties keep index order
        for n in (1, 2, 10, 499, 500, 600):
            np.testing.assert_array_equal(clm.top_order(values, n), np.argsort(-values, kind="stable")[:n])


def test_a_model_is_passed_one_way_a_loaded_model(tiny):
    ids = [504, 3575, 282]
    a = clm.next_token_distribution(tiny, ids)
    b = clm.next_token_distribution(tiny, torch.tensor(ids))  # ids as a tensor: the same
    np.testing.assert_array_equal(a.probs, b.probs)
    with pytest.raises(TypeError, match="LoadedModel"):
        clm.next_token_distribution(tiny.model, ids)  # a bare model: not a second way in
    with pytest.raises(TypeError):
        clm.next_token_distribution(tiny, ids, tokenizer=tiny.tokenizer)


def test_forward_is_cached_per_input(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "Cache me once").ids
    clm.next_token_distribution(tiny, ids)
    n = clm.forward_count()
    d = clm.next_token_distribution(tiny, ids)
    for t in (0.3, 1.0, 1.7):
        clm.apply_sampling(d.logits, t, 5, 0.8)
    assert clm.forward_count() == n
    clm.next_token_distribution(tiny, ids + [42])
    assert clm.forward_count() == n + 1


def test_bad_ids_are_refused(tiny):
    with pytest.raises(ExplorerError, match="outside"):
        clm.next_token_distribution(tiny, [10**7])
    with pytest.raises(ExplorerError, match="reads at most 128"):
        clm.next_token_distribution(tiny, [5] * 129)
    with pytest.raises(ExplorerError):
        clm.next_token_distribution(tiny, [])


# --------------------------------------------------------------------------- decoding settings


def hf_after(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    scores = logits[None].clone()
    ids = torch.zeros((1, 1), dtype=torch.long)
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(float(temperature))(ids, scores)
    if top_k:
        scores = TopKLogitsWarper(top_k)(ids, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(ids, scores)
    return scores[0]


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [
        (1.0, 0, 1.0),
        (0.5, 0, 1.0),
        (1.7, 0, 1.0),
        (1.0, 1, 1.0),
        (1.0, 10, 1.0),
        (0.8, 40, 1.0),
        (1.0, 0, 0.9),
        (1.0, 0, 0.5),
        (0.7, 0, 0.95),
        (1.3, 20, 0.8),
        (0.6, 5, 0.3),
        (1.0, 0, 0.0),
        (2.0, 50, 0.99),
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_sampling_matches_transformers_processors(temperature, top_k, top_p, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1000, generator=g) * 3
    ref_scores = hf_after(logits, temperature, top_k, top_p)
    ref = torch.softmax(ref_scores.double(), -1).numpy()
    s = clm.apply_sampling(logits, temperature, top_k, top_p)
    np.testing.assert_array_equal(s.kept, torch.isfinite(ref_scores).numpy())
    np.testing.assert_allclose(s.after, ref, atol=1e-6)
    np.testing.assert_allclose(s.before, torch.softmax(logits.double(), -1).numpy(), atol=1e-9)
    np.testing.assert_allclose(s.scaled, torch.softmax(logits.double() / temperature, -1).numpy(), atol=1e-9)
    assert s.after.sum() == pytest.approx(1.0)
    assert s.kept_mass == pytest.approx(s.scaled[s.kept].sum())
    finite = np.isfinite(s.filtered_logits())
    np.testing.assert_array_equal(finite, s.kept)


def test_cut_tokens_and_table():
    logits = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    s = clm.apply_sampling(logits, 1.0, 3, 1.0)
    assert s.cut(5) == [3, 4] and s.n_kept == 3
    table = s.frame(n=4)
    assert list(table["kept"]) == [True, True, True, False, False]
    assert table["renormalised"].iloc[:3].sum() == pytest.approx(1.0)
    ref = np.exp([5.0, 4.0, 3.0]) / np.exp([5.0, 4.0, 3.0]).sum()
    np.testing.assert_allclose(table["renormalised"].iloc[:3], ref)
    assert table["model"].sum() == pytest.approx(1.0)


def test_top_k_keeps_ties_like_transformers():
    logits = torch.tensor([3.0, 2.0, 2.0, 2.0, 1.0])
    s = clm.apply_sampling(logits, 1.0, 2, 1.0)
    np.testing.assert_array_equal(s.kept, torch.isfinite(hf_after(logits, 1.0, 2, 1.0)).numpy())
    assert s.n_kept == 4


def test_temperature_zero_is_greedy_and_edges():
    logits = torch.tensor([0.1, 2.5, 2.4, -1.0])
    g = clm.apply_sampling(logits, 0.0, 0, 1.0)
    np.testing.assert_array_equal(g.after, [0, 1, 0, 0])
    assert g.settings.greedy and "greedy" in g.notes[0]
    p0 = clm.apply_sampling(logits, 1.0, 0, 0.0)
    np.testing.assert_array_equal(p0.after, [0, 1, 0, 0])
    p1 = clm.apply_sampling(logits, 1.0, 0, 1.0)
    assert p1.n_kept == 4 and np.allclose(p1.after, p1.before)
    big_k = clm.apply_sampling(logits, 1.0, 100, 1.0)
    assert big_k.n_kept == 4


@pytest.mark.parametrize(
    "t,k,p", [(-0.1, 0, 1.0), (float("nan"), 0, 1.0), (1.0, -1, 1.0), (1.0, 0, 1.5), (1.0, 0, -0.2)]
)
def test_invalid_settings_are_explained(t, k, p):
    with pytest.raises(ExplorerError):
        clm.apply_sampling(torch.zeros(4), t, k, p)


def test_seeded_draws_are_reproducible_and_follow_the_distribution():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    assert clm.draw(probs, 7, 3) == clm.draw(probs, 7, 3)
    counts = np.bincount([clm.draw(probs, s, 0) for s in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(counts, probs, atol=0.03)
    assert {clm.draw(np.array([0.0, 0.0, 1.0, 0.0]), s) for s in range(50)} == {2}


# --------------------------------------------------------------------------- step-by-step generation


@pytest.mark.parametrize("text", ["The cat sat on the", "Once upon a time"])
def test_greedy_steps_equal_model_generate(tiny, text):
    prompt = clm.build_prompt(tiny.tokenizer, text)
    gen = clm.Generation.start(tiny, prompt)
    gen.generate(tiny, 12)
    with torch.no_grad():
        ref = tiny.model.generate(torch.tensor([prompt.ids]), max_new_tokens=12, do_sample=False)[0].tolist()
    assert gen.ids == ref


@pytest.mark.slow
def test_greedy_steps_equal_model_generate_real_model(smollm2):
    prompt = clm.build_prompt(smollm2.tokenizer, "Why is the sky blue?", chat=True)
    gen = clm.Generation.start(smollm2, prompt)
    seen = []
    gen.generate(smollm2, 10, progress=lambda done, total, step: seen.append((done, total)))
    with torch.no_grad():
        ref = smollm2.model.generate(torch.tensor([prompt.ids]), max_new_tokens=10, do_sample=False)[0].tolist()
    assert gen.ids == ref
    assert seen == [(i, 10) for i in range(1, len(gen.steps) + 1)]


def test_append_records_probabilities_and_undo(tiny):
    prompt = clm.build_prompt(tiny.tokenizer, "Hello there")
    gen = clm.Generation.start(tiny, prompt)
    d = gen.distribution(tiny)
    third = d.top[2]
    settings = clm.Settings(1.0, 2, 1.0)
    step = gen.append(tiny, third.token_id, settings=settings)
    assert gen.ids == prompt.ids + [third.token_id]
    assert step.model_prob == pytest.approx(third.prob, abs=1e-9) and step.rank == 3
    assert step.prob == 0.0  # top-k 2 cut it; a click still appends it
    top = gen.append(tiny, gen.distribution(tiny).top[0].token_id, settings=settings)
    assert top.rank == 1 and top.prob > top.model_prob
    assert gen.undo() is top and gen.undo() is step and gen.ids == prompt.ids
    assert gen.undo() is None
    with pytest.raises(ExplorerError, match="outside"):
        gen.append(tiny, -1)


def test_generation_stops_at_end_of_text_and_limit(tiny):
    gen = clm.Generation.start(tiny, [504, 3575])
    assert gen.stop_ids == (tiny.tokenizer.eos_token_id,)
    gen.append(tiny, tiny.tokenizer.eos_token_id)
    assert gen.finished
    with pytest.raises(ExplorerError, match="ended the text"):
        gen.greedy(tiny)
    gen.undo()
    short = clm.Generation.start(tiny, [504, 3575], max_new_tokens=3)
    short.generate(tiny, 10, settings=clm.Settings(1.5), seed=1)
    assert len(short.steps) <= 3 and (short.full or short.finished)
    # the model reads 128 positions: a 126-token prompt leaves room for 2
    assert clm.Generation.start(tiny, [5] * 126).max_new_tokens == 2


def test_sampling_steps_are_seeded(tiny):
    settings = clm.Settings(1.5, 0, 1.0)
    runs = []
    for seed in (3, 3, 4):
        gen = clm.Generation.start(tiny, [504, 3575, 282])
        gen.generate(tiny, 6, settings=settings, seed=seed)
        runs.append(gen.new_ids)
        assert all(s.how == "sampled" for s in gen.steps)
    assert runs[0] == runs[1] and runs[0] != runs[2]
    # top-k 1 sampling is greedy
    a = clm.Generation.start(tiny, [504, 3575, 282])
    a.generate(tiny, 5, settings=clm.Settings(1.0, 1, 1.0), seed=9)
    b = clm.Generation.start(tiny, [504, 3575, 282])
    b.generate(tiny, 5)
    assert a.new_ids == b.new_ids


def test_single_sample_follows_the_shaped_distribution(tiny):
    ids = [504, 3575, 282]
    settings = clm.Settings(0.9, 3, 1.0)
    gen = clm.Generation.start(tiny, ids)
    shaped = clm.apply_sampling(clm.next_token_logits(tiny, ids), 0.9, 3, 1.0)
    step = gen.sample(tiny, settings, seed=11)
    assert step.token_id == clm.draw(shaped.after, 11, len(ids))
    assert shaped.kept[step.token_id] and step.prob == pytest.approx(shaped.after[step.token_id])


# --------------------------------------------------------------------------- teacher forcing


def test_perplexity_is_exp_of_model_loss(tiny):
    enc = clm.build_prompt(tiny.tokenizer, "Next-token prediction trains every position at once.").encoded
    tf = clm.teacher_forcing(tiny, enc)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        out = tiny.model(input_ids=ids, labels=ids)
    assert tf.loss == pytest.approx(out.loss.item(), rel=1e-5)
    assert tf.perplexity == pytest.approx(math.exp(out.loss.item()), rel=1e-5)
    logp = torch.log_softmax(out.logits[0, :-1].double(), -1)
    ref = logp.gather(1, ids[0, 1:, None])[:, 0].exp().numpy()
    np.testing.assert_allclose(tf.target_probs, ref, rtol=1e-5)
    assert tf.n_pairs == len(enc.ids) - 1
    np.testing.assert_array_equal(tf.ranks == 1, tf.guess_ids == np.array(enc.ids[1:]))
    np.testing.assert_allclose(tf.surprisal_bits, -np.log2(tf.target_probs), rtol=1e-6)


@pytest.mark.slow
def test_perplexity_real_model(smollm2):
    enc = clm.build_prompt(smollm2.tokenizer, "The cat sat on the mat because it was tired.").encoded
    tf = clm.teacher_forcing(smollm2, enc)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        loss = smollm2.model(input_ids=ids, labels=ids).loss.item()
    assert tf.perplexity == pytest.approx(math.exp(loss), rel=1e-4)
    frame = tf.frame(smollm2.tokenizer)
    on = frame[frame["target"] == "␣on"].iloc[0]
    assert on["context"] == "The␣cat␣sat" and on["rank"] <= 3


def test_training_pairs_table(tiny):
    enc = clm.build_prompt(tiny.tokenizer, "a b c d e f g h i j k").encoded
    tf = clm.teacher_forcing(tiny, enc)
    pairs = tf.pairs(context_tokens=3)
    assert pairs[0] == (enc.pieces[0], enc.pieces[1])
    assert pairs[-1] == ("…" + "".join(enc.pieces[-4:-1]), enc.pieces[-1])
    frame = tf.frame(tiny.tokenizer)
    assert list(frame["target id"]) == enc.ids[1:] and len(frame) == len(enc.ids) - 1


def test_teacher_forcing_fills_the_prefix_cache_with_the_uncached_distributions(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "Every prefix of this text is read once.").ids
    clm.clear_cache()
    uncached = [clm.next_token_distribution(tiny, ids[:n]) for n in range(1, len(ids) + 1)]
    clm.clear_cache()
    kept = clm.next_token_distribution(tiny, ids[:3])  # already cached: stays as it is
    clm.teacher_forcing(tiny, ids)
    passes = clm.forward_count()
    cached = [clm.next_token_distribution(tiny, ids[:n]) for n in range(1, len(ids) + 1)]
    assert clm.forward_count() == passes  # no pass over any prefix
    np.testing.assert_array_equal(cached[2].logits, kept.logits)
    for a, b in zip(cached, uncached):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
        assert [c.token_id for c in a.top] == [c.token_id for c in b.top]


def test_target_log_probs_are_teacher_forcings_and_fill_the_prefix_cache(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "Scoring words needs only the actual tokens.").ids
    clm.clear_cache()
    lp = clm.target_log_probs(tiny, ids)
    passes = clm.forward_count()
    assert passes == 1 and lp.shape == (len(ids) - 1,) and lp.dtype == np.float64
    dist = clm.next_token_distribution(tiny, ids[:4])  # from the prefix cache
    assert clm.forward_count() == passes
    assert math.isclose(math.log(dist.probs[ids[4]]), lp[3], abs_tol=1e-5)
    clm.clear_cache()
    tf = clm.teacher_forcing(tiny, ids)
    np.testing.assert_allclose(lp, np.log(tf.target_probs), atol=1e-9)
    with torch.no_grad():
        logits = tiny.model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    ref = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()
    np.testing.assert_allclose(lp, ref, atol=1e-5)


def test_teacher_forcing_entropy_with_ruled_out_tokens(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "Some tokens are impossible here.").ids
    ruled_out = torch.zeros(clm.vocab_size(tiny.model), dtype=torch.bool)
    ruled_out[::3] = True
    hook = tiny.model.lm_head.register_forward_hook(lambda m, i, out: out.masked_fill(ruled_out, -math.inf))
    try:
        clm.clear_cache()
        tf = clm.teacher_forcing(tiny, ids)
        with torch.no_grad():
            logits = tiny.model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    finally:
        hook.remove()
        clm.clear_cache()
    ref = torch.distributions.Categorical(logits=logits).entropy().numpy() / math.log(2)
    assert np.isfinite(tf.entropy).all()
    np.testing.assert_allclose(tf.entropy, ref, rtol=1e-5)


def test_teacher_forcing_needs_two_tokens(tiny):
    with pytest.raises(ExplorerError, match="at least two tokens"):
        clm.teacher_forcing(tiny, [504])


def test_from_start_puts_the_start_token_before_a_text_once(tiny):
    tok = tiny.tokenizer
    enc = encode(tok, "The cat sat.")
    start = clm.start_token_id(tok)
    read = clm.from_start(tok, enc)
    assert read.ids == [start] + enc.ids and read.special == [True] + enc.special
    assert len(read.pieces) == len(read.word_ids) == len(read.offsets) == len(read.ids)
    tf = clm.teacher_forcing(tiny, read)
    assert tf.n_pairs == len(enc.ids) and tf.pairs()[0][1] == enc.pieces[0]  # every token of the text is scored
    assert clm.from_start(tok, read).ids == read.ids  # never twice
    typed = encode(tok, "<|endoftext|>The cat")  # a start token written in the text
    assert clm.from_start(tok, typed).ids == typed.ids


# --------------------------------------------------------------------------- prompts


def test_empty_prompt_starts_from_the_start_token(smollm2_tokenizer):
    for text in ("", "   \n ", None, "\x00\x07"):
        p = clm.build_prompt(smollm2_tokenizer, text)
        # SmolLM2-Instruct's BOS is the chat marker <|im_start|>: raw text starts from <|endoftext|>
        assert p.ids == [smollm2_tokenizer.convert_tokens_to_ids("<|endoftext|>")] and p.start_token_added
        assert "start-of-text token" in p.notes[0] and "<|endoftext|>" in p.notes[0]


def test_start_token_is_the_document_separator_only_when_the_vocabulary_has_it(smollm2_tokenizer, minilm_tokenizer):
    vocab = smollm2_tokenizer.get_vocab()
    assert clm.start_token_id(smollm2_tokenizer) == vocab["<|endoftext|>"] != smollm2_tokenizer.bos_token_id
    tok = copy.deepcopy(minilm_tokenizer)  # no <|endoftext|>: its unknown-token id is not taken for it
    tok.bos_token = "[CLS]"
    assert "<|endoftext|>" not in tok.get_vocab() and clm.start_token_id(tok) == tok.cls_token_id


def test_empty_prompt_without_start_token_is_refused(smollm2_tokenizer):
    tok = copy.deepcopy(smollm2_tokenizer)
    tok.bos_token = None
    tok.eos_token = None
    with pytest.raises(ExplorerError, match="no start-of-text token"):
        clm.build_prompt(tok, "")


def test_chat_template_shows_exact_text(smollm2_tokenizer):
    p = clm.build_prompt(smollm2_tokenizer, "  What is 2+2?  ", chat=True)
    ref = smollm2_tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert p.text == ref and p.text.endswith("<|im_start|>assistant\n")
    assert p.ids == smollm2_tokenizer(ref, add_special_tokens=False)["input_ids"]
    assert p.encoded.special[0] and p.encoded.pieces[0] == "<|im_start|>"
    raw = clm.build_prompt(smollm2_tokenizer, "What is 2+2?")
    assert raw.text == "What is 2+2?" and not raw.chat and len(raw.ids) < len(p.ids)
    empty = clm.build_prompt(smollm2_tokenizer, "", chat=True)
    assert "empty" in empty.notes[0] and empty.text.endswith("assistant\n")


def test_chat_without_template_is_explained(smollm2_tokenizer):
    tok = copy.deepcopy(smollm2_tokenizer)
    tok.chat_template = None
    assert not clm.has_chat_template(tok)
    with pytest.raises(ExplorerError, match="no chat template"):
        clm.build_prompt(tok, "Hi", chat=True)


def test_long_prompts_are_cut_with_the_limit_shown(smollm2_tokenizer):
    text = "word " * 400
    raw = clm.build_prompt(smollm2_tokenizer, text, max_tokens=50)
    assert len(raw.ids) == 50 and "limit here is 50" in raw.notes[0]
    chat = clm.build_prompt(smollm2_tokenizer, text, chat=True, max_tokens=60)
    assert len(chat.ids) <= 60 and chat.text.endswith("<|im_start|>assistant\n")
    assert "limit here is 60" in chat.notes[0]
    with pytest.raises(ExplorerError, match="chat template alone"):
        clm.build_prompt(smollm2_tokenizer, "hi", chat=True, max_tokens=10)


def test_odd_unicode_round_trips(smollm2_tokenizer):
    text = "Cafe\u0301 \u00fcber \u4e2d\u6587 \u03b1\u03b2\u03b3 \U0001f600\u200b end\x07"
    p = clm.build_prompt(smollm2_tokenizer, text)
    decoded = smollm2_tokenizer.decode(p.ids)
    assert decoded == "Café über 中文 αβγ \U0001f600\u200b end" and "\x07" not in p.text


# --------------------------------------------------------------------------- charts


def test_token_chips_escape_user_text_and_colour_by_probability():
    from explorer.charts import clm as charts

    out = charts.token_chips(['<script>alert("x")</script>', "ok"], titles=['a"b', "c"], probs=[1.0, 1e-6])
    assert "<script>" not in out and "&lt;script&gt;" in out and 'title="a&quot;b"' in out
    assert charts.prob_colour(1.0) in out and charts.prob_colour(1e-6) in out
    assert charts.prob_colour(1.0) != charts.prob_colour(0.001)


def test_decoding_bars_show_cut_tokens_and_other():
    from explorer.charts import clm as charts

    s = clm.apply_sampling(torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0]), 1.0, 2, 1.0)
    frame = s.frame(n=3)
    fig = charts.decoding_bars(
        list(frame["token"]),
        list(frame["model"]),
        list(frame["renormalised"]),
        list(frame["kept"]),
        token_ids=list(frame["id"]),
    )
    model, after, *legend = fig.data
    assert list(after.text[::-1]) == [f"{s.after[0]:.1%}", f"{s.after[1]:.1%}", "cut", "cut"]
    assert list(model.x[::-1]) == pytest.approx(list(frame["model"]))
    assert after.marker.color[0] == charts.OTHER_COLOURS[1] and model.customdata[0][0] == "all remaining tokens"
    # the legend's swatches are the bars' colours (a bar trace's swatch took its first bar's: the "(other)" row)
    assert not model.showlegend and not after.showlegend
    swatches = {t.name: t.marker.color for t in legend}
    assert swatches["model (temperature 1)"] == model.marker.color[-1]  # the most likely token's bar
    assert swatches["after the decoding settings"] == after.marker.color[-1]
    assert swatches["cut by top-k / top-p"] == after.marker.color[1] != after.marker.color[-1]  # a cut token
    assert swatches["all other tokens: after"] == after.marker.color[0]
    assert set(swatches.values()) == set(model.marker.color) | set(after.marker.color)
    assert (
        fig.layout.font.size == 13
        and charts.decoding_bars(["a"], [1.0], [1.0], [True], large=True).layout.font.size == 20
    )
    # made without plotly's validation (it is drawn on every step): plotly must accept the same figure validated
    import plotly.graph_objects as go

    for f in (fig, charts.decoding_bars(["a", "b"], [0.6, 0.4], [1.0, 0.0], [True, False], title="T", large=True)):
        assert go.Figure(f.to_plotly_json()).to_plotly_json() == f.to_plotly_json()
