"""The cloze core (explorer.mlm) against plain transformers forward passes and BERT's recipe."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch

import explorer
from explorer import ExplorerError, mlm
from explorer.charts import mlm as mlm_charts
from explorer.tokens import word_groups

TEXT = "Paris is the capital of France, and the ornithologist was unbelievably happy."
LONG = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch and "
    "drinks a cup of tea with honey, thinking about the harvest, the weather and his old friends. "
) * 2


@pytest.fixture(scope="module")
def bert(tiny_mlm_dir):
    return explorer.load("mlm", str(tiny_mlm_dir))


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A tiny RoBERTa-style masked LM whose tokenizer spells the mask token `<mask>` (byte-level BPE)."""
    import copy

    from tokenizers import AddedToken, processors
    from transformers import RobertaConfig, RobertaForMaskedLM

    tok = copy.deepcopy(smollm2_tokenizer)
    tok.add_special_tokens(
        {"mask_token": AddedToken("<mask>", lstrip=True), "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>"}
    )
    cls, sep = tok.convert_tokens_to_ids("<s>"), tok.convert_tokens_to_ids("</s>")
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", cls), ("</s>", sep)]
    )
    torch.manual_seed(1)
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=1,
        architectures=["RobertaForMaskedLM"],
    )
    path = tmp_path_factory.mktemp("tiny-roberta")
    RobertaForMaskedLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def roberta(roberta_dir):
    return explorer.load("mlm", str(roberta_dir))


@pytest.fixture(scope="module")
def no_mask_dir(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A BERT masked LM saved with a tokenizer that has no mask token."""
    from transformers import BertConfig, BertForMaskedLM

    cfg = BertConfig(
        vocab_size=len(smollm2_tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=32,
        max_position_embeddings=64,
        architectures=["BertForMaskedLM"],
    )
    path = tmp_path_factory.mktemp("tiny-no-mask")
    BertForMaskedLM(cfg).save_pretrained(path)
    smollm2_tokenizer.save_pretrained(path)
    return path


def reference(path: Path, ids: list[int]) -> torch.Tensor:
    """Log-probabilities from a freshly loaded plain AutoModelForMaskedLM (no explorer code)."""
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        return torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], -1)


# --------------------------------------------------------------------------- predictions


@pytest.mark.parametrize("which", ["bert", "roberta"])
def test_fill_mask_equals_plain_forward_pass(which, request):
    lm = request.getfixturevalue(which)
    path = request.getfixturevalue("tiny_mlm_dir" if which == "bert" else "roberta_dir")
    tok = lm.tokenizer
    enc = mlm.encode_text(lm, TEXT)
    positions = [2, 4, 7]
    result = mlm.fill_mask(lm, enc, positions, k=7)

    ids = tok(TEXT)["input_ids"]
    assert enc.ids == ids
    for p in positions:
        ids[p] = tok.mask_token_id
    assert result.input_ids == ids
    ref = reference(path, ids)
    assert [p.position for p in result.predictions] == positions
    for pred in result.predictions:
        row = ref[pred.position]
        top = torch.topk(row, 7)
        assert pred.top_ids == top.indices.tolist()
        assert pred.top_probs == pytest.approx(top.values.exp().tolist(), abs=1e-6)
        answer = enc.ids[pred.position]
        assert pred.original_id == answer and pred.original_piece == enc.pieces[pred.position]
        assert pred.loss == pytest.approx(float(-row[answer]), abs=1e-5)
        assert pred.original_prob == pytest.approx(float(row[answer].exp()), rel=1e-4)
        assert pred.original_rank == int((row > row[answer]).sum()) + 1
        assert pred.entropy == pytest.approx(float(-(row.exp() * row).sum()), abs=1e-4)
    assert result.mean_loss == pytest.approx(sum(p.loss for p in result.predictions) / 3)


def test_typed_mask_markers_become_the_models_own_mask(bert, roberta):
    for lm, token in ((bert, "[MASK]"), (roberta, "<mask>")):
        for typed in ("[MASK]", "<mask>", "[mask]"):
            enc = mlm.encode_text(lm, f"Paris is the {typed} of France.")
            blanks = mlm.typed_masks(enc, lm.tokenizer)
            assert len(blanks) == 1 and enc.pieces[blanks[0]] == token
            assert blanks[0] not in mlm.maskable_positions(enc, lm.tokenizer)
            result = mlm.fill_mask(lm, enc, [])  # a typed blank is predicted without clicking
            (pred,) = result.predictions
            assert pred.position == blanks[0] and pred.original_id is None and pred.loss is None
    enc = mlm.encode_text(roberta, "Paris is the <mask> of France.")
    assert enc.pieces[enc.pieces.index("<mask>") + 1] == "␣of"  # <mask> absorbs the space before it


def test_nothing_masked_says_how_to_mask(bert, roberta):
    for lm, token in ((bert, "[MASK]"), (roberta, "<mask>")):
        enc = mlm.encode_text(lm, "Paris is lovely.")
        with pytest.raises(ExplorerError, match="Nothing is masked") as info:
            mlm.fill_mask(lm, enc, [])
        assert "Click" in info.value.hint and token in info.value.hint


def test_special_and_out_of_range_positions_refused(bert):
    enc = mlm.encode_text(bert, "Paris is lovely.")
    with pytest.raises(ExplorerError, match=r"special token \[CLS\]"):
        mlm.fill_mask(bert, enc, [0])
    with pytest.raises(ExplorerError, match="outside the text"):
        mlm.fill_mask(bert, enc, [99])


def test_model_without_mask_token_is_explained(no_mask_dir):
    lm = explorer.load("mlm", str(no_mask_dir))
    with pytest.raises(ExplorerError, match="no mask token") as info:
        mlm.encode_text(lm, "Paris is lovely.")
    assert "bert-base-uncased" in info.value.hint and "distilroberta-base" in info.value.hint


def test_empty_long_and_odd_text(bert, roberta):
    with pytest.raises(ExplorerError, match="empty"):
        mlm.encode_text(bert, "   ")
    enc = mlm.encode_text(bert, "word " * 200)  # the tiny model holds 64 positions
    assert len(enc.ids) == 64 and enc.truncated and "limit here is 64" in enc.notes[0]
    enc = mlm.encode_text(bert, "I love Tokyo 🤖 東京")
    assert "[UNK]" in enc.pieces and any("🤖" in n and "[UNK]" in n for n in enc.notes)
    assert "東" in enc.pieces
    enc = mlm.encode_text(roberta, "I love Tokyo 🤖 東京")
    assert any("byte pieces" in n for n in enc.notes)
    mlm.fill_mask(roberta, enc, enc.content_positions[-2:])  # byte pieces can be masked and predicted


def test_whole_word_selection(bert):
    enc = mlm.encode_text(bert, TEXT)
    word = next(g for g in word_groups(enc).values() if enc.pieces[g[0]] == "un")  # un ##bel ##ie ##va ##bly
    assert len(word) == 5
    assert mlm.expand_to_words(enc, [word[2]]) == word
    assert mlm.positions_of_words(enc, ["UNBELIEVABLY", "paris"]) == [1] + word
    assert mlm.update_word_selection(enc, [1], [1, word[1]]) == [1] + word  # a piece on: the whole word
    assert mlm.update_word_selection(enc, [1] + word, [1] + word[1:]) == [1]  # a piece off: the whole word off
    result = mlm.fill_mask(bert, enc, [word[0]], whole_word=True)
    assert result.positions == word


# --------------------------------------------------------------------------- BERT's masking recipe


def _draws(lm, text, n, **kw):
    enc = mlm.encode_text(lm, text)
    return enc, [mlm.mask_tokens(enc, lm.tokenizer, seed=s, **kw) for s in range(n)]


@pytest.mark.parametrize("exact", [True, False])
def test_masking_rate_and_80_10_10_split_over_many_draws(bert, exact):
    enc, draws = _draws(bert, LONG, 400, exact=exact)
    n = len(draws[0].candidates)
    chosen = sum(len(d.chosen) for d in draws)
    assert chosen / (n * len(draws)) == pytest.approx(0.15, abs=0.01)
    if exact:
        assert {len(d.chosen) for d in draws} == {round(0.15 * n)}
    counts = Counter(a for d in draws for a in d.actions if a)
    assert counts[mlm.MASKED] / chosen == pytest.approx(0.8, abs=0.03)
    assert counts[mlm.RANDOM] / chosen == pytest.approx(0.1, abs=0.02)
    assert counts[mlm.KEPT] / chosen == pytest.approx(0.1, abs=0.02)
    per_position = Counter(p for d in draws for p in d.chosen)  # every token gets its turn
    assert set(per_position) == set(draws[0].candidates)


def test_special_tokens_never_masked(bert, roberta):
    for lm in (bert, roberta):
        enc, draws = _draws(lm, "[MASK] Paris is the capital 🤖 of France [MASK].", 200, rate=0.5)
        never = {p for p, i in enumerate(enc.ids) if i in lm.tokenizer.all_special_ids}
        assert {0, len(enc.ids) - 1} <= never and len(never) >= 4  # [CLS], [SEP], typed masks (and [UNK])
        for d in draws:
            assert not never.intersection(d.chosen)
            assert all(d.labels[p] == mlm.NO_LOSS for p in never)
        everything = mlm.mask_tokens(enc, lm.tokenizer, rate=1.0)
        assert set(everything.chosen) == set(enc.content_positions) - never


def test_training_pair_labels_come_from_the_text(bert):
    enc, draws = _draws(bert, LONG, 30)
    tok = bert.tokenizer
    for d in draws:
        assert d.original_ids == enc.ids
        for p, (inp, lab, act) in enumerate(zip(d.input_ids, d.labels, d.actions)):
            if not act:
                assert lab == mlm.NO_LOSS and inp == enc.ids[p]
                continue
            assert lab == enc.ids[p]
            if act == mlm.MASKED:
                assert inp == tok.mask_token_id
            elif act == mlm.KEPT:
                assert inp == enc.ids[p]
            else:
                assert inp not in tok.all_special_ids and not tok.convert_ids_to_tokens(inp).startswith("[unused")
    again = mlm.mask_tokens(enc, tok, seed=3)
    assert again == draws[3] and again != draws[4]  # seeded: same seed, same draw
    frame = mlm.training_pair_frame(draws[0], tok)
    assert frame["label"].tolist() == draws[0].labels and frame["input id"].tolist() == draws[0].input_ids
    assert (frame.loc[frame["label"] == -100, "label token"] == "(no loss)").all()


def test_whole_word_recipe_takes_whole_words(bert):
    enc, draws = _draws(bert, TEXT, 100, whole_word=True, rate=0.3)
    groups = list(word_groups(enc).values())
    for d in draws:
        chosen = set(d.chosen)
        assert chosen
        for g in groups:
            assert chosen.issuperset(g) or not chosen.intersection(g)


def test_bad_rate_refused(bert):
    enc = mlm.encode_text(bert, TEXT)
    with pytest.raises(ExplorerError, match="between 0 and 1"):
        mlm.mask_tokens(enc, bert.tokenizer, rate=15)


def test_training_pair_loss_equals_the_models_own_loss(bert, tiny_mlm_dir):
    from transformers import AutoModelForMaskedLM

    enc = mlm.encode_text(bert, LONG)
    draw = mlm.mask_tokens(enc, bert.tokenizer, seed=7)
    assert set(draw.counts().values()) != {0}
    trained = mlm.predict_training_pair(bert, draw, k=3)
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([draw.input_ids]), labels=torch.tensor([draw.labels])).loss
    assert trained.positions == draw.chosen
    assert trained.mean_loss == pytest.approx(float(loss), abs=1e-5)


# --------------------------------------------------------------------------- pseudo-log-likelihood


@pytest.mark.parametrize("which", ["bert", "roberta"])
def test_pseudo_log_likelihood_equals_one_by_one_masking(which, request):
    lm = request.getfixturevalue(which)
    path = request.getfixturevalue("tiny_mlm_dir" if which == "bert" else "roberta_dir")
    enc = mlm.encode_text(lm, "Paris is the capital of France [MASK].")
    seen = []
    pll = mlm.pseudo_log_likelihood(lm, enc, batch_size=3, progress=lambda f, m: seen.append(f))
    blank = mlm.typed_masks(enc, lm.tokenizer)
    assert pll.skipped == blank and pll.positions == [p for p in enc.content_positions if p not in blank]
    assert seen[-1] == 1.0 and len(seen) == math.ceil(len(pll.positions) / 3)
    expected = []
    for p in pll.positions:
        ids = list(enc.ids)
        ids[p] = lm.tokenizer.mask_token_id
        row = reference(path, ids)[p]
        expected.append(float(row[enc.ids[p]]))
        assert pll.ranks[pll.positions.index(p)] == int((row > row[enc.ids[p]]).sum()) + 1
    assert pll.log_probs == pytest.approx(expected, abs=1e-5)
    assert pll.total == pytest.approx(sum(expected), abs=1e-4)
    assert pll.pseudo_perplexity == pytest.approx(math.exp(-sum(expected) / len(expected)), rel=1e-5)
    whole = mlm.pseudo_log_likelihood(lm, enc, batch_size=64)
    assert whole.log_probs == pytest.approx(pll.log_probs, abs=1e-5)
    assert mlm.predictions.encoder_and_head(lm.model) is not None  # the head only at the scored positions, same numbers
    assert (pll.frame()["surprisal (nats)"] >= 0).all()


def test_pseudo_log_likelihood_batches_are_prefixes_of_the_whole(bert):
    enc = mlm.encode_text(bert, "The quick brown fox jumps over the lazy dog by the river bank.")
    whole = mlm.pseudo_log_likelihood(bert, enc)
    parts = list(mlm.pseudo_log_likelihood_batches(bert, enc, batch_size=4))
    assert [done for _, done, _ in parts] == list(range(4, len(whole.positions), 4)) + [len(whole.positions)]
    assert all(total == len(whole.positions) for _, _, total in parts)
    for part, done, _ in parts:  # each partial result is the whole one's first `done` tokens
        assert part.positions == whole.positions[:done] and part.pieces == whole.pieces[:done]
        assert part.log_probs == pytest.approx(whole.log_probs[:done], abs=1e-5)
        assert part.top_pieces == whole.top_pieces[:done] and part.ranks == whole.ranks[:done]
    assert parts[-1][0].total == pytest.approx(whole.total, abs=1e-4)


def test_only_blanks_cannot_be_scored(bert):
    enc = mlm.encode_text(bert, "[MASK] [MASK]")
    with pytest.raises(ExplorerError, match="nothing to score"):
        mlm.pseudo_log_likelihood(bert, enc)


def test_project_masked_lm():
    lm = explorer.load("mlm")  # bundled in assets/models: a damaged or missing one fails here
    enc = mlm.encode_text(lm, "Paris is the capital of France.")
    result = mlm.fill_mask(lm, enc, mlm.positions_of_words(enc, ["capital"]), k=5)
    ids = result.input_ids
    with torch.no_grad():
        row = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0, 4], -1)
    (pred,) = result.predictions
    assert pred.position == 4 and pred.top_ids == torch.topk(row, 5).indices.tolist()
    pll = mlm.pseudo_log_likelihood(lm, enc)
    odd = mlm.pseudo_log_likelihood(lm, mlm.encode_text(lm, "Paris is the banana of France."))
    assert odd.surprisals[3] > pll.surprisals[3]  # a trained model finds "banana" stranger than "capital"


# --------------------------------------------------------------------------- frames and charts


def test_frames_for_tables_and_csv(bert):
    enc = mlm.encode_text(bert, "Paris is the capital of France [MASK].")
    result = mlm.fill_mask(bert, enc, [4], k=5)
    summary = result.summary_frame()
    assert summary["position"].tolist() == [4, 7] and summary["answer"].tolist() == ["capital", "(blank)"]
    frame = result.predictions_frame()
    assert len(frame) == 10 and frame.groupby("position")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * 2
    pred = result.predictions[0]
    assert frame["probability"].head(5).tolist() == pred.top_probs
    assert "probability" in frame.to_csv(index=False).splitlines()[0]


def test_prediction_chart_highlights_the_answer(bert):
    enc = mlm.encode_text(bert, "Paris is the capital of France.")
    pred = mlm.fill_mask(bert, enc, [4], k=5).predictions[0]
    fig = mlm_charts.prediction_chart(pred)
    bar = fig.data[0]
    labels, colours = list(bar.y)[::-1], list(bar.marker.color)[::-1]
    highlighted = [lab for lab, c in zip(labels, colours) if c == "#e07b00"]
    assert len(highlighted) == 1 and "capital" in highlighted[0]
    if pred.original_rank > 5:  # the random tiny model: the answer is added below the top 5
        assert len(labels) == 6 and f"rank {pred.original_rank:,}" in labels[-1]
    assert f"rank {pred.original_rank:,}" in fig.layout.title.text and "loss" in fig.layout.title.text


def test_token_strips_escape_user_text():
    html_out = mlm_charts.fill_strip_html(
        ["[CLS]", "<script>", "x", "[SEP]"], [True, False, False, True], [2], [], "[MASK]"
    )
    assert "<script>" not in html_out and "&lt;script&gt;" in html_out
    assert html_out.count("[MASK]") == 1 and "hides “x”" in html_out
    recipe = mlm_charts.recipe_strip_html(
        ["a", "b", "c"], ["[MASK]", "zebra", "c"], [mlm.MASKED, mlm.RANDOM, mlm.KEPT], [False] * 3
    )
    for kind in ("masked", "random", "kept"):
        assert mlm_charts.KIND_STYLE[kind] in recipe
    fig = mlm_charts.surprisal_strip(["<s>", "a", "b"], [0.5, 3.0, 9.0], per_row=2)
    assert [list(r) for r in fig.data[0].z] == [[0.5, 3.0], [9.0, None]] and fig.data[0].text[0][0] == "&lt;s&gt;"


def test_small_probabilities_keep_their_digits():
    assert [mlm_charts.percent(p) for p in (0.453, 0.032, 0.000308, 0.0)] == ["45%", "3.2%", "0.031%", "0%"]
    fig = mlm_charts.prediction_bars(
        ["a", "b"], [0.004, 0.001], answer="b", answer_id=2, top_ids=[1, 2], answer_prob=0.001, answer_rank=2
    )
    assert list(fig.data[0].text) == ["0.1%", "0.4%"] and fig.layout.xaxis.tickformat == ".2%"


def test_a_masked_lm_is_passed_one_way_a_loaded_model(bert):
    enc = mlm.encode_text(bert, "Paris is the [MASK] of France.")
    with pytest.raises(TypeError, match="LoadedModel"):
        mlm.fill_mask((bert.model, bert.tokenizer), enc)  # the (model, tokenizer) pair is gone
    with pytest.raises(TypeError):
        mlm.pseudo_log_likelihood(bert, enc, tokenizer=bert.tokenizer)
