"""Logit lens: the last layer is the model's real prediction; other layers are the final head read off that layer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explorer import ExplorerError, load
from explorer.charts import attention as charts
from explorer.inside import lens as L


def real_probs(lm, text):
    ids = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return lm.model(**ids).logits[0].softmax(-1)


def layer_output(lm, module, text):
    """What `module` returns in a forward pass (captured with a hook, independently of hidden_states)."""
    seen = {}

    def hook(_mod, _inp, out):
        seen["h"] = out[0] if isinstance(out, tuple) else out

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            lm.model(**lm.tokenizer(text, return_tensors="pt"))
    finally:
        handle.remove()
    return seen["h"][0]


def test_last_layer_is_the_causal_lms_real_prediction(smollm2):
    text = "The capital of France is"
    res = L.logit_lens(smollm2, text, k=5)
    probs = real_probs(smollm2, text)
    top = probs.topk(5, dim=-1)
    assert res.layer_names[0] == "embeddings" and res.layer_names[-1] == "layer 29" and len(res.layer_names) == 31
    np.testing.assert_array_equal(res.top_ids[-1], top.indices.numpy())
    np.testing.assert_allclose(res.top_probs[-1], top.values.numpy(), atol=1e-5)
    assert smollm2.tokenizer.decode([int(res.top_ids[-1, -1, 0])]) == " Paris"
    np.testing.assert_allclose(res.final_prob[-1], res.top_probs[-1, :, 0])
    assert (res.final_rank[-1] == 0).all()
    assert (res.final_rank[:5, -1] > 0).all()  # early layers do not know the answer yet


def test_middle_layer_is_the_final_norm_and_head_applied_to_that_layer(smollm2):
    text = "The capital of France is"
    m = smollm2.model
    h = layer_output(smollm2, m.model.layers[10], text)
    with torch.no_grad():
        probs = m.lm_head(m.model.norm(h)).softmax(-1)
    res = L.logit_lens(smollm2, text, k=3)
    top = probs.topk(3, dim=-1)
    np.testing.assert_array_equal(res.top_ids[11], top.indices.numpy())  # row 0 is the embeddings
    np.testing.assert_allclose(res.top_probs[11], top.values.numpy(), atol=1e-5)


def test_masked_lm_lens_uses_the_whole_mlm_head(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    text = "Paris is the [MASK] of France."
    res = L.logit_lens(lm, text, k=4)
    np.testing.assert_array_equal(res.top_ids[-1], real_probs(lm, text).topk(4, dim=-1).indices.numpy())
    with torch.no_grad():
        first = lm.model.cls(layer_output(lm, lm.model.bert.encoder.layer[0], text)).softmax(-1)
        emb = layer_output(lm, lm.model.bert.embeddings, text)
        words = lm.model.bert.embeddings.word_embeddings.weight
        cos = torch.nn.functional.normalize(emb, dim=-1) @ torch.nn.functional.normalize(words, dim=-1).T
    np.testing.assert_allclose(res.top_probs[1], first.topk(4, dim=-1).values.numpy(), atol=1e-5)
    assert res.embeddings_nearest  # BERT's head shares the word embeddings: the row is their nearest tokens
    np.testing.assert_array_equal(res.top_ids[0], cos.topk(4, dim=-1).indices.numpy())
    mask_pos = lm.tokenizer(text)["input_ids"].index(lm.tokenizer.mask_token_id)
    assert res.mask_positions == [mask_pos] and L.default_position(res) == mask_pos


def test_project_masked_lm_last_layer_matches_its_prediction():
    lm = load("mlm")  # bundled in assets/models: a damaged or missing one fails here
    text = "Paris is the [MASK] of France."
    res = L.logit_lens(lm, text, k=3)
    pos = L.default_position(res)
    assert int(res.top_ids[-1, pos, 0]) == int(real_probs(lm, text)[pos].argmax())


def test_table_and_default_position_for_a_causal_lm(smollm2):
    res = L.logit_lens(smollm2, "The capital of France is", k=3)
    pos = L.default_position(res)
    assert pos == len(res.tokens) - 1
    table = res.table(pos)
    assert list(table["layer"]) == ["embeddings (nearest tokens, cosine)"] + res.layer_names[1:]
    assert table.iloc[-1]["#1"] == "␣Paris" and table.iloc[-1]["final token rank"] == 1
    assert table.iloc[-1]["p1"] == pytest.approx(float(res.top_probs[-1, pos, 0]), abs=1e-4)
    assert res.position_labels()[-1] == "␣is →"
    with pytest.raises(ExplorerError):
        res.table(99)


def test_lens_chart_puts_top_tokens_in_cells(smollm2):
    res = L.logit_lens(smollm2, "The capital of France is", k=2)
    fig = charts.lens_heatmap(
        res.top1(), res.top_probs[:, :, 0], res.position_labels(), res.layer_names, hover_lists=res.hover()
    )
    tr = fig.data[0]
    assert tr.text[-1][-1] == "␣Paris"
    np.testing.assert_allclose(np.array(tr.z), res.top_probs[:, :, 0])
    assert "1. ␣Paris" in tr.hovertext[-1][-1] and list(tr.y) == res.layer_names


def test_roles_without_an_lm_head_are_refused_with_a_message(minilm):
    with pytest.raises(ExplorerError, match="no head that predicts tokens"):
        L.logit_lens(minilm, "hello world")


def test_typed_mask_becomes_the_models_mask_token():
    roberta_like = SimpleNamespace(mask_token="<mask>")
    assert L.prepare_text(roberta_like, "a [MASK] b") == "a <mask> b"
    bert_like = SimpleNamespace(mask_token="[MASK]")
    assert L.prepare_text(bert_like, "a [MASK] b") == "a [MASK] b"


def test_long_text_is_cut_to_the_lens_limit_with_a_note(tiny_clm_dir):
    lm = load("clm", str(tiny_clm_dir))
    res = L.logit_lens(lm, " ".join(["word"] * 100), max_tokens=256)
    assert len(res.tokens) == L.MAX_TOKENS == res.top_ids.shape[1]
    assert any(f"limit here is {L.MAX_TOKENS}" in n for n in res.notes)


def test_embeddings_row_names_the_token_read_and_no_row_lists_reserved_tokens(smollm2):
    """Read through the head, SmolLM2's embedding of ' France' came out as '<filename>' (a reserved token
    with a long embedding vector); decoded against the tied embeddings it is ' France' itself."""
    text = "The capital of France is"
    res = L.logit_lens(smollm2, text, k=5)
    ids = smollm2.tokenizer(text)["input_ids"]
    assert res.embeddings_nearest
    np.testing.assert_array_equal(res.top_ids[0, :, 0], ids)  # each position's own token
    np.testing.assert_allclose(res.top_probs[0, :, 0], 1.0, atol=1e-4)  # cosine with itself
    assert res.row_label(0) == "embeddings (nearest tokens, cosine)" and "cosine" in res.hover()[0][3]
    reserved = L.never_predicted(smollm2.tokenizer, "clm")
    assert {6, 3, 7} <= set(reserved)  # <filename>, <repo_name>, <gh_stars>
    assert not set(reserved) & {0, 1, 2}  # end of text and the chat markers can be predicted
    assert not np.isin(res.top_ids, reserved).any()
    assert not any("<filename>" in p for layer in res.top_pieces for pos in layer for p in pos)
    probs = real_probs(smollm2, text)  # the probabilities shown are still the model's own
    np.testing.assert_allclose(res.top_probs[-1], probs.gather(-1, torch.tensor(res.top_ids[-1])).numpy(), atol=1e-5)


def test_masked_lm_lists_no_special_token_as_a_prediction(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    res = L.logit_lens(lm, "Paris is the [MASK] of France.", k=10)
    special = set(lm.tokenizer.all_special_ids)
    assert special <= set(L.never_predicted(lm.tokenizer, "mlm"))
    assert not np.isin(res.top_ids[1:], list(special)).any()
