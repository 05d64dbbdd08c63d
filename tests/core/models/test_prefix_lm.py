"""The span-corruption model made from a causal LM (a prefix LM with T5's sentinels): a tiny Llama built
by the tests, checked against its own attention weights, a plain decoding loop and the causal LM it shares."""

from __future__ import annotations

import re

import pytest
import torch

from explorer import load
from explorer.models.made import prefix_artifact
from explorer.models.made.prefix_lm import PrefixLlamaForSpanCorruption, configure, prefix_lm_mask, span_tokenizer
from explorer.span import fill as span_fill
from explorer.span.corruption import corrupt_spans
from explorer.span.sentinels import sentinel

TEXT = "The children played football in the park until it got dark."


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_causal(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


@pytest.fixture()
def span_model(tiny_causal):
    tok = span_tokenizer(tiny_causal.tokenizer)
    model = PrefixLlamaForSpanCorruption.from_causal(tiny_causal.model, lora_rank=4, seed=1)
    configure(model, tok)
    with torch.no_grad():  # LoRA B starts at zero: give the updates a value, so they count in every check
        for n, p in model.named_parameters():
            if n.endswith("lora_B"):
                p.normal_(0, 0.02, generator=torch.Generator().manual_seed(len(n)))
    return model, tok


def _pair(tok, seed: int = 0) -> tuple[torch.Tensor, int]:
    c = corrupt_spans(tok, TEXT, seed=seed)
    prefix = tok(c.input_text).input_ids
    target = tok(c.target_text, add_special_tokens=False).input_ids + [tok.eos_token_id]
    return torch.tensor([prefix + target]), len(prefix)


def test_sentinels_are_new_tokens_after_the_vocabulary(tiny_causal):
    tok = span_tokenizer(tiny_causal.tokenizer)
    base = len(tiny_causal.tokenizer)
    assert [tok.convert_tokens_to_ids(sentinel(n)) for n in (0, 1, 99)] == [base, base + 1, base + 99]
    c = corrupt_spans(tok, TEXT, seed=0)
    ids = tok(c.input_text).input_ids
    assert ids[0] == tok.bos_token_id and sum(i >= base for i in ids) == len(c.spans)
    # a sentinel takes the space before it: the target reads back with none there
    decoded = tok.decode(tok(c.target_text, add_special_tokens=False).input_ids)
    assert decoded == re.sub(r"\s+(?=<extra_id_)", "", c.target_text)


def test_the_mask_is_a_prefix_lm_mask_in_the_models_own_attention_weights(span_model):
    model, tok = span_model
    ids, n = _pair(tok)
    with torch.no_grad():
        att = model(input_ids=ids, prefix_lengths=torch.tensor([n]), output_attentions=True).attentions
    T = ids.shape[1]
    for layer in att:
        w = layer[0]  # heads, T, T
        assert torch.all(w[:, :n, n:] == 0)  # the input never sees the target
        assert torch.all(w[:, :n, :n] > 0)  # the input sees the whole input, both directions
        later = torch.ones(T, T, dtype=torch.bool).triu(1)
        later[:n, :n] = False
        assert torch.all(w[:, later] == 0)  # the target sees nothing after itself
        assert torch.all(w[:, n:, :n] > 0)  # and the whole input


def test_a_target_token_never_changes_the_input_and_a_later_input_token_does(span_model):
    model, tok = span_model
    ids, n = _pair(tok)
    with torch.no_grad():
        base = model(input_ids=ids, prefix_lengths=torch.tensor([n])).logits
        other = ids.clone()
        other[0, -2] = 1234
        assert torch.equal(model(input_ids=other, prefix_lengths=torch.tensor([n])).logits[0, :n], base[0, :n])
        later = ids.clone()
        later[0, n - 2] = 1234  # an input token near the end: the input positions before it change
        moved = model(input_ids=later, prefix_lengths=torch.tensor([n])).logits
        assert (moved[0, 1 : n - 3] - base[0, 1 : n - 3]).abs().amax(-1).min() > 0


def test_generate_returns_the_target_only_and_matches_a_plain_decoding_loop(span_model):
    model, tok = span_model
    c = corrupt_spans(tok, TEXT, seed=0)
    ids = torch.tensor([tok(c.input_text).input_ids])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6)
    seq = ids[0].tolist()
    with torch.no_grad():  # no cache: the whole text read again at each step, the input as the prefix
        for _ in range(6):
            logits = model(input_ids=torch.tensor([seq]), prefix_lengths=torch.tensor([ids.shape[1]])).logits
            seq.append(int(logits[0, -1].argmax()))
            if seq[-1] == tok.eos_token_id:
                break
    assert out[0].tolist()[: len(seq) - ids.shape[1]] == seq[ids.shape[1] :]
    scored = model.generate(input_ids=ids, max_new_tokens=3, return_dict_in_generate=True, output_scores=True)
    assert len(scored.scores) == scored.sequences.shape[1] and scored.scores[0].shape[-1] == len(tok)


def test_the_causal_lm_is_shared_and_never_written(tiny_causal):
    before = _state(tiny_causal.model)
    tok = span_tokenizer(tiny_causal.tokenizer)
    model = PrefixLlamaForSpanCorruption.from_causal(tiny_causal.model, lora_rank=4)
    configure(model, tok)
    shared = {id(p) for p in tiny_causal.model.parameters()}
    assert sum(id(p) in shared for p in model.parameters()) == len(shared)
    ids, n = _pair(tok)
    labels = ids.clone()
    labels[0, :n] = -100
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(id(p) not in shared for p in trained)
    opt = torch.optim.AdamW(trained, lr=1e-2)
    loss = model(input_ids=ids, prefix_lengths=torch.tensor([n]), labels=labels).loss
    loss.backward()
    opt.step()
    after = _state(tiny_causal.model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_the_artefact_round_trip_and_the_span_fill(span_model, tiny_causal, tmp_path):
    model, tok = span_model
    prefix_artifact.save(model, tmp_path, {"step": 0})
    again, tok2, _, meta = prefix_artifact.load(tiny_causal.model, tiny_causal.tokenizer, tmp_path)
    ids, n = _pair(tok)
    with torch.no_grad():
        a = model(input_ids=ids, prefix_lengths=torch.tensor([n])).logits
        b = again(input_ids=ids, prefix_lengths=torch.tensor([n])).logits
    assert torch.equal(a, b) and meta["recipe"]["sentinels"] == 100
    lm = prefix_artifact.loaded(tiny_causal, tmp_path)
    c = corrupt_spans(lm.tokenizer, TEXT, seed=2)
    fill = span_fill.fill_with_seq2seq(lm, c, max_new_tokens=8)
    assert fill.method == "seq2seq" and not fill.approximate and len(fill.spans) == len(c.spans)
    for f in fill.spans:  # each written token with the probability the model gave it
        assert len(f.probs) == len(f.tokens) and all(0 < p <= 1 for p in f.probs)


def test_the_mask_rows_prefix_both_ways_then_left_to_right_and_no_padding_key():
    m = prefix_lm_mask(torch.tensor([2]), torch.tensor([[1, 1, 1, 1, 0]]), 5, torch.float32)[0, 0] == 0
    assert m.tolist() == [
        [True, True, False, False, False],
        [True, True, False, False, False],
        [True, True, True, False, False],
        [True, True, True, True, False],
        [True, True, True, True, True],  # a padding row: what the rule allows, and itself (never empty)
    ]


def test_one_set_of_weights_three_masks(span_model, tiny_causal, tiny_bidir_dir, tmp_path):
    import numpy as np

    from explorer.comparisons.masks import three_masks

    model, tok = span_model
    prefix_artifact.save(model, tmp_path, {"step": 0})
    span_lm = prefix_artifact.loaded(tiny_causal, tmp_path)
    c = corrupt_spans(span_lm.tokenizer, TEXT, seed=0)
    causal, full, prefix = three_masks(
        tiny_causal, load("mlm", str(tiny_bidir_dir)), span_lm, c.input_text, c.target_text
    )
    n = len(causal.pieces)
    assert np.array_equal(causal.pattern, np.tril(np.ones((n, n), dtype=np.int8)))
    assert full.pattern.all() and len(full.pieces) == n + 1  # the masked LM's start token, then the same pieces
    k = len(span_lm.tokenizer(c.input_text).input_ids)
    assert prefix.pattern[:k, :k].all() and not prefix.pattern[:k, k:].any()  # the input: both ways, no target
    t = len(prefix.pieces)
    assert np.array_equal(prefix.pattern[k:, k:], np.tril(np.ones((t - k, t - k), dtype=np.int8)))
    assert prefix.pattern[k:, :k].all() and "<extra_id_0>" in prefix.pieces


# --------------------------------------------------------------------------- the real artefact


@pytest.fixture(scope="module")
def real_span():
    from explorer.models.catalogue import SMOLLM2_SPAN

    if not prefix_artifact.available():
        pytest.skip("the span-corruption artefact is not built (make build-span)")
    return load("seq2seq", SMOLLM2_SPAN)


def test_the_offline_span_model_answers_generate_as_a_seq2seq_model(real_span, smollm2):
    from explorer.span.sentinels import sentinel_ids

    before = _state(smollm2.model)
    tok = real_span.tokenizer
    c = corrupt_spans(tok, "She put the milk back in the fridge before she left for work.", seed=0)
    out = real_span.model.generate(**tok(c.input_text, return_tensors="pt"), max_new_tokens=24)
    generated = out[0].tolist()  # the target only, as a seq2seq model's generate returns it
    assert tok.decode(generated).startswith("<extra_id_0>") and generated[-1] == tok.eos_token_id
    spans = span_fill.parse_generated(generated, sentinel_ids(tok), [tok.eos_token_id])
    assert set(range(len(c.spans))) <= set(spans)
    assert real_span.extra["shares_weights_with"] == smollm2.info.model_id
    shared = {id(p) for p in smollm2.model.parameters()}
    assert sum(id(p) in shared for p in real_span.model.parameters()) == len(shared)
    after = _state(smollm2.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
