"""Attention weights: equal to the model's own output_attentions, summaries, offline bertviz pages, charts."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from explorer import ExplorerError, load
from explorer.charts import attention as charts
from explorer.inside import attention as A
from explorer.inside import bertviz as B
from explorer.inside import summaries as S
from tests.conftest import _save as save_model

TEXT = "The capital of France is Paris, and the capital of Italy is Rome."


def model_attentions(lm, text, **kw):
    """The model's own attention weights, computed here without explorer code."""
    ids = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = lm.model(**ids, output_attentions=True, **kw)
    return ids["input_ids"][0].tolist(), out


def stacked(attns):
    return np.stack([a[0].numpy() for a in attns])


@pytest.fixture(scope="session")
def attn_t5_dir(tmp_path_factory, minilm_tokenizer):
    """A random 2-layer, 2-head T5 with the MiniLM WordPiece vocabulary (an encoder-decoder to look inside)."""
    from transformers import T5Config, T5ForConditionalGeneration

    tok = minilm_tokenizer
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=tok.vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        decoder_start_token_id=tok.pad_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        architectures=["T5ForConditionalGeneration"],
    )
    return save_model(T5ForConditionalGeneration(cfg), tok, tmp_path_factory.mktemp("attn-t5"))


@pytest.fixture(scope="module")
def tiny_t5(attn_t5_dir):
    return load("seq2seq", str(attn_t5_dir))


# --------------------------------------------------------------------------- the weights are the model's own


def test_causal_lm_weights_equal_output_attentions(smollm2):
    att = A.get_attentions(smollm2, TEXT)
    ids, out = model_attentions(smollm2, TEXT)
    part = att.parts["self"]
    assert part.rows.ids == ids and part.causal
    assert part.weights.shape == (30, 9, len(ids), len(ids))
    np.testing.assert_allclose(part.weights, stacked(out.attentions), atol=1e-6)
    np.testing.assert_allclose(part.weights.sum(-1), 1.0, atol=1e-5)
    above = np.triu(np.ones((len(ids), len(ids)), dtype=bool), k=1)
    assert float(np.abs(part.weights[..., above]).max()) == 0.0


def test_encoder_weights_equal_output_attentions_and_look_both_ways(minilm):
    att = A.get_attentions(minilm, TEXT)
    ids, out = model_attentions(minilm, TEXT)
    part = att.parts["self"]
    assert part.rows.ids == ids and not part.causal
    assert part.rows.pieces[0] == "[CLS]" and part.rows.special[0] and part.rows.special[-1]
    np.testing.assert_allclose(part.weights, stacked(out.attentions), atol=1e-6)
    np.testing.assert_allclose(part.weights.sum(-1), 1.0, atol=1e-5)
    above = np.triu(np.ones((len(ids), len(ids)), dtype=bool), k=1)
    assert float(part.weights[..., above].max()) > 0.1  # an encoder reads later tokens too


def test_masked_lm_weights_equal_output_attentions(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    att = A.get_attentions(lm, "Paris is the [MASK] of France.")
    ids, out = model_attentions(lm, "Paris is the [MASK] of France.")
    assert att.parts["self"].rows.ids == ids
    np.testing.assert_allclose(att.parts["self"].weights, stacked(out.attentions), atol=1e-6)


def test_encoder_decoder_has_encoder_decoder_and_cross_attention(tiny_t5):
    tok = tiny_t5.tokenizer
    att = A.get_attentions(tiny_t5, "the cat sat on the mat", target="a cat sat")
    target_ids = tok("a cat sat", add_special_tokens=False)["input_ids"]
    dec_ids = [tok.pad_token_id] + target_ids
    enc_ids = tok("the cat sat on the mat")["input_ids"]
    with torch.no_grad():
        out = tiny_t5.model(
            input_ids=torch.tensor([enc_ids]), decoder_input_ids=torch.tensor([dec_ids]), output_attentions=True
        )
    assert att.part_names == ["encoder", "decoder", "cross"]
    enc, dec, cross = (att.parts[n] for n in att.part_names)
    assert (
        enc.rows.ids == enc_ids and dec.rows.ids == dec_ids and cross.rows.ids == dec_ids and cross.cols.ids == enc_ids
    )
    np.testing.assert_allclose(enc.weights, stacked(out.encoder_attentions), atol=1e-6)
    np.testing.assert_allclose(dec.weights, stacked(out.decoder_attentions), atol=1e-6)
    np.testing.assert_allclose(cross.weights, stacked(out.cross_attentions), atol=1e-6)
    assert cross.weights.shape == (2, 2, len(dec_ids), len(enc_ids))
    for p in (enc, dec, cross):
        np.testing.assert_allclose(p.weights.sum(-1), 1.0, atol=1e-5)
    assert dec.causal and not enc.causal and not cross.causal
    assert float(np.triu(dec.weights[0, 0], k=1).max()) == 0.0
    assert dec.rows.special[0] and not any(dec.rows.special[1:])


def test_encoder_decoder_without_target_reads_the_models_own_output(tiny_t5):
    tok = tiny_t5.tokenizer
    enc_ids = tok("the cat sat on the mat")["input_ids"]
    with torch.no_grad():
        gen = tiny_t5.model.generate(
            input_ids=torch.tensor([enc_ids]), max_new_tokens=A.MAX_NEW_TOKENS, do_sample=False
        )
    special = set(tok.all_special_ids)
    expected = []
    for i in gen[0].tolist()[1:]:
        if i == tok.eos_token_id:
            break
        if i not in special:
            expected.append(i)
    att = A.get_attentions(tiny_t5, "the cat sat on the mat")
    assert att.target_generated
    assert att.parts["decoder"].rows.ids == [tok.pad_token_id] + expected
    assert any("own greedy output" in n for n in att.notes)


def test_bad_input_raises_explorer_error(minilm):
    with pytest.raises(ExplorerError):
        A.get_attentions(minilm, "   ")


# --------------------------------------------------------------------------- summaries


def test_aggregate_mean_max_and_single_head(minilm):
    w = A.get_attentions(minilm, TEXT).parts["self"].weights
    np.testing.assert_allclose(S.aggregate(w, 2, "mean"), w[2].mean(0))
    np.testing.assert_allclose(S.aggregate(w, 2, "max"), w[2].max(0))
    np.testing.assert_array_equal(S.aggregate(w, 5, 11), w[5, 11])
    np.testing.assert_allclose(S.aggregate(w, 2, "mean").sum(-1), 1.0, atol=1e-5)
    assert (S.aggregate(w, 2, "max").sum(-1) > 1.0).all()  # max over heads is not a distribution
    with pytest.raises(ExplorerError, match="Layer 6"):
        S.aggregate(w, 6, "mean")
    with pytest.raises(ExplorerError, match="Head 12"):
        S.aggregate(w, 0, 12)


def test_hide_special_renormalises_or_keeps_the_models_weights(minilm):
    part = A.get_attentions(minilm, TEXT).parts["self"]
    m = S.aggregate(part.weights, 0, "mean")
    n = len(part.rows)
    kept = S.hide_special(m, part.rows.special, part.cols.special, renormalize=False)
    assert kept.rows == kept.cols == list(range(1, n - 1))  # [CLS] and [SEP] gone
    np.testing.assert_array_equal(kept.matrix, m[1:-1, 1:-1])
    np.testing.assert_allclose(kept.matrix.sum(-1) + kept.hidden_share, 1.0, atol=1e-5)
    assert kept.hidden_share.min() > 0
    renorm = S.hide_special(m, part.rows.special, part.cols.special, renormalize=True)
    np.testing.assert_allclose(renorm.matrix.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(renorm.matrix, m[1:-1, 1:-1] / m[1:-1, 1:-1].sum(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(renorm.raw, m[1:-1, 1:-1])


def _synthetic_part(n=5):
    prev = np.zeros((n, n))
    prev[0, 0] = 1.0
    for i in range(1, n):
        prev[i, i - 1] = 1.0
    first = np.zeros((n, n))
    first[:, 0] = 1.0
    toks = A.Tokens(ids=list(range(n)), pieces=[f"t{i}" for i in range(n)], special=[True] + [False] * (n - 1))
    return A.AttentionPart("self", np.stack([prev, first])[None], toks, toks, causal=True)


def test_head_scores_find_previous_token_heads_and_sinks():
    part = _synthetic_part()
    np.testing.assert_allclose(S.head_scores(part, "previous token"), [[1.0, 0.25]])
    # rows 0 and 1 of the previous-token head both look at token 0 (the special one)
    np.testing.assert_allclose(S.head_scores(part, "first token"), [[0.4, 1.0]])
    np.testing.assert_allclose(S.head_scores(part, "special tokens"), [[0.4, 1.0]])
    np.testing.assert_allclose(S.head_scores(part, "self"), [[0.2, 0.2]])
    np.testing.assert_allclose(S.head_scores(part, "entropy (bits)"), [[0.0, 0.0]], atol=1e-9)
    top = S.top_heads(S.head_scores(part, "previous token"), "previous token")
    assert top.iloc[0].to_dict() == {"layer": 0, "head": 0, "previous token": 1.0}


def test_smollm2_has_a_previous_token_head(smollm2):
    part = A.get_attentions(smollm2, "one two three four five six seven eight nine ten").parts["self"]
    scores = S.head_scores(part, "previous token")
    layer, head = np.unravel_index(np.nanargmax(scores), scores.shape)
    w = part.weights[layer, head]
    # in that head most tokens put their largest weight on the token just before them
    assert sum(int(np.argmax(w[i]) == i - 1) for i in range(1, len(w))) >= len(w) // 2


def test_grid_and_bertviz_defaults_fit_their_budgets(smollm2):
    att = A.get_attentions(smollm2, TEXT)
    part = att.parts["self"]
    layers = S.default_grid_layers(part)
    assert 1 <= len(layers) <= S.GRID_DEFAULT_LAYERS and layers[0] == 0 and layers[-1] == 29
    S.check_grid(part, layers)
    with pytest.raises(ExplorerError, match="cells"):
        S.check_grid(part, list(range(30)), budget=10_000)
    model_layers = B.default_bertviz_layers(att, "model")
    assert model_layers == [0, 10, 19, 29]
    B.check_bertviz(att, B.default_bertviz_layers(att, "head"), None, "head")


# --------------------------------------------------------------------------- bertviz, offline


def test_bertviz_head_view_is_offline_and_shows_the_models_weights(smollm2):
    att = A.get_attentions(smollm2, TEXT)
    doc = B.bertviz_html(att, view="head", layers=[0, 5, 29], heads=[1, 2])
    # nothing for the browser to fetch: no script/link tags with src/href, no CDN, no web address at all
    assert B.external_urls(doc) == []
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", doc)
    assert "cdnjs" not in doc and "require.min.js" not in doc
    assert set(re.findall(r"https?://[^\s\"'<>)]+", doc)) <= set(B.XML_NAMESPACES)
    # the libraries are inlined
    assert "d3 v5.7.0" in doc and "jQuery v3.7.1" in doc and "w.requirejs = requirejs" in doc
    params = B.parse_bertviz_params(doc)
    assert params["include_layers"] == [0, 5, 29] and params["heads"] == [1, 2]
    data = params["attention"][0]
    assert data["left_text"] == att.parts["self"].rows.pieces
    shown = np.array(data["attn"])
    assert shown.shape == (3, 9, len(att.parts["self"].rows), len(att.parts["self"].rows))
    np.testing.assert_allclose(shown, att.parts["self"].weights[[0, 5, 29]], atol=0.5 * 10**-B.DECIMALS + 1e-9)


def test_bertviz_model_view_for_an_encoder_decoder(tiny_t5):
    att = A.get_attentions(tiny_t5, "the cat sat on the mat", target="a cat sat")
    doc = B.bertviz_html(att, view="model", layers=[1], heads=[0])
    assert B.external_urls(doc) == []
    params = B.parse_bertviz_params(doc)
    assert [d["name"] for d in params["attention"]] == ["Encoder", "Decoder", "Cross"]
    assert params["include_heads"] == [0] and params["include_layers"] == [1]
    cross = np.array(params["attention"][2]["attn"])
    np.testing.assert_allclose(cross[0, 0], att.parts["cross"].weights[1, 0], atol=1e-4)


def test_user_text_cannot_break_out_of_the_page(minilm):
    evil = 'Hi </script><img src=x onerror="alert(1)"> <!-- there'
    att = A.get_attentions(minilm, evil)
    doc = B.bertviz_html(att, view="head", layers=[0])
    assert "<img src=x" not in doc and "</script><img" not in doc and "<!-- there" not in doc
    assert "&lt;img src=x" in doc  # the caption shows the text, escaped
    assert B.parse_bertviz_params(doc)["attention"][0]["left_text"] == att.parts["self"].rows.pieces


def test_bertviz_refuses_long_texts_and_heavy_choices_with_a_message(minilm):
    long_text = " ".join(["word"] * 150)
    att = A.get_attentions(minilm, long_text, max_tokens=200)
    assert att.tokens() > B.BERTVIZ_MAX_TOKENS
    with pytest.raises(ExplorerError, match="limited to 100 tokens"):
        B.bertviz_html(att, view="head")
    att = A.get_attentions(minilm, " ".join(["word"] * 90), max_tokens=200)
    with pytest.raises(ExplorerError, match="fewer layers"):
        B.bertviz_html(att, view="model", layers=list(range(6)))
    with pytest.raises(ExplorerError, match="No layers"):
        B.check_bertviz(att, [], None, "head")


def test_vendored_libraries_have_licences_and_provenance():
    readme = (B.VENDOR / "README.md").read_text()
    for folder, version in (("d3", "5.7.0"), ("jquery", "3.7.1"), ("require-shim", None)):
        assert (B.VENDOR / folder / "LICENSE").stat().st_size > 500
        assert f"`{folder}/`" in readme
        if version:
            assert version in readme
    assert "d3 v5.7.0" in B.vendor_js() and "Mike Bostock" in (B.VENDOR / "d3" / "LICENSE").read_text()


# --------------------------------------------------------------------------- charts


def test_heatmap_shows_the_exact_weights_with_token_labels(minilm):
    part = A.get_attentions(minilm, TEXT).parts["self"]
    m = S.aggregate(part.weights, 3, 4)
    fig = charts.attention_heatmap(m, part.rows.pieces, part.cols.pieces, title="t")
    trace = fig.data[0]
    np.testing.assert_array_equal(np.array(trace.z), m.astype(np.float64))
    assert [y.replace("\u200b", "") for y in trace.y] == part.rows.pieces
    assert f"weight {m[1, 2]:.6f}" in trace.hovertext[1][2] and "(position 2)" in trace.hovertext[1][2]
    big = charts.attention_heatmap(m, part.rows.pieces, part.cols.pieces, large=True)
    assert big.layout.font.size > fig.layout.font.size


def test_heads_grid_tiles_hold_each_heads_weights(smollm2):
    part = A.get_attentions(smollm2, "a b c d").parts["self"]
    layers = [0, 29]
    fig = charts.heads_grid(part.weights[layers], layers, part.rows.pieces, part.cols.pieces)
    z = np.array(fig.data[0].z, dtype=float)
    n = len(part.rows)
    assert z.shape == (2 * (n + 1) - 1, 9 * (n + 1) - 1)
    np.testing.assert_allclose(z[n + 1 :, 3 * (n + 1) : 3 * (n + 1) + n], part.weights[29, 3])
    assert np.isnan(z[n, 0])  # gap between layers
    assert list(fig.layout.yaxis.ticktext) == ["layer 0", "layer 29"]
    where = np.array(fig.data[0].customdata)
    assert list(where[n + 1 + 2, 3 * (n + 1) + 1]) == [29, 3, 2, 1]
    assert fig.data[0].hovertext[n + 1 + 2][3 * (n + 1) + 1] == f"{part.rows.pieces[2]} → {part.cols.pieces[1]}"


def test_big_heads_grid_hovers_with_positions_instead_of_tokens():
    w = np.random.default_rng(0).dirichlet(np.ones(120), size=(1, 2, 120)).astype(np.float32)
    fig = charts.heads_grid(w, [5], [f"t{i}" for i in range(120)], [f"t{i}" for i in range(120)])
    assert fig.data[0].hovertext is None and "from position %{customdata[2]}" in fig.data[0].hovertemplate
    np.testing.assert_allclose(np.array(fig.data[0].z)[:, 121:], w[0, 1])
