"""Masked vs causal: numbers equal the single-model functions and plain forward passes; real masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer import ExplorerError, load
from explorer import clm as causal
from explorer import mlm as masked
from explorer.comparisons import masked_vs_causal as compare
from explorer.comparisons import masks
from explorer.comparisons.sentence import split_words, word_index


@pytest.fixture(scope="module")
def pair(tiny_mlm_dir, tiny_clm_dir):
    return load("mlm", str(tiny_mlm_dir)), load("clm", str(tiny_clm_dir))


def test_words_align_across_tokenizers(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    assert [w.text for w in comp.words][:3] == ["The", "dog", "barked"]
    for mapping in (comp.mlm_map, comp.clm_map):
        assert sorted({w for w in mapping if w is not None}) == list(range(len(comp.words)))
    # "unbelievably" is several WordPiece pieces, all mapped to word 5
    assert comp.mlm_map.count(5) > 1
    assert any("split text differently" in n for n in comp.notes)


def test_piece_view_equals_single_model_functions(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the mailman.")
    left, right = compare.piece_predictions(comp, mlm_lm, clm_lm, 2, k=5)
    mpos = [p for p, w in enumerate(comp.mlm_map) if w == 2]
    fill = masked.fill_mask(mlm_lm, comp.mlm_enc, mpos, k=5)
    assert left.top_pieces == fill.predictions[0].top_pieces and left.top_ids == fill.predictions[0].top_ids
    assert left.top_probs == pytest.approx(fill.predictions[0].top_probs)
    assert left.answer_id == comp.mlm_enc.ids[mpos[0]]
    cpos = [p for p, w in enumerate(comp.clm_map) if w == 2]
    dist = causal.next_token_distribution(clm_lm, comp.clm_ids[: cpos[0]], top_n=5)
    assert right.top_pieces == [c.piece for c in dist.top] and right.answer_id == comp.clm_ids[cpos[0]]
    # against a plain forward pass
    with torch.no_grad():
        logits = clm_lm.model(torch.tensor([comp.clm_ids[: cpos[0]]])).logits[0, -1]
    assert right.answer_prob == pytest.approx(float(logits.softmax(-1)[comp.clm_ids[cpos[0]]]), rel=1e-4)


def test_the_piece_view_reads_the_left_context_from_the_whole_text_pass(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    for index in (0, 2, 5):
        causal.clear_cache()
        cpos = [p for p, w in enumerate(comp.clm_map) if w == index]
        alone = causal.next_token_distribution(clm_lm, comp.clm_ids[: cpos[0]], top_n=5)  # its own pass
        causal.clear_cache()
        _, right = compare.piece_predictions(comp, mlm_lm, clm_lm, index, k=5)
        assert causal.forward_count() == 1  # the whole text only
        assert right.top_pieces == [c.piece for c in alone.top]
        assert right.top_probs == pytest.approx([c.prob for c in alone.top], abs=1e-6)
        assert right.answer_prob == pytest.approx(float(alone.probs[comp.clm_ids[cpos[0]]]), abs=1e-6)
        assert right.answer_rank == causal.rank_of(alone.probs, comp.clm_ids[cpos[0]])


def test_both_sides_predict_whole_words_and_judge_the_whole_word(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    index = word_index(comp.text, "unbelievably")
    left, right = compare.predict_word(comp, mlm_lm, clm_lm, index, k=5)
    assert left.n_pieces == comp.mlm_map.count(index) > 1 and right.n_pieces == comp.clm_map.count(index) > 1
    for side in (left, right):
        assert side.words.answer.word == "unbelievably"  # the whole word, not its first piece
        assert side.recovered == (side.words.answer_rank == 1)
        assert all("##" not in c.word and " " not in c.word for c in side.words.candidates)
    assert left.sees == "The dog barked at the ___ grumpy mailman." and right.sees == "The dog barked at the ___"


def test_long_text_is_cut_after_a_whole_word_for_both_models(pair):
    mlm_lm, clm_lm = pair
    text = "___ " + " ".join(f"the unbelievably grumpy cat {i} sat." for i in range(40))
    comp = compare.prepare(mlm_lm, clm_lm, text, max_tokens=40)
    assert len(comp.mlm_enc.ids) <= 40 and any("limit" in n for n in comp.notes)
    assert text.startswith(comp.text) and comp.text == text[: comp.words[-1].end]
    assert [w.text for w in comp.words] == [w.text for w in split_words(comp.text)]
    for mapping in (comp.mlm_map, comp.clm_map):  # every word kept is read whole by both models
        assert sorted({w for w in mapping if w is not None}) == list(range(len(comp.words)))
    last = [w for w in comp.words if not w.blank][-1]
    assert comp.mlm_map.count(last.index) == len(mlm_lm.tokenizer.tokenize(last.text))


def test_word_scores_are_the_hidden_word_panel_s_scores(pair):
    """The strip scores every word as the hidden-word panel scores it (both sides, the word's end
    included); the scores' own reference checks are in tests/core/words/test_whole_words.py."""
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    scores = compare.score_words(comp, mlm_lm, clm_lm)
    assert (scores["masked LM pieces"] > 1).any()  # a word of several pieces is scored too
    assert list(scores["word"]) == [w.text for w in comp.words]
    for _, row in scores.iterrows():
        left, right = compare.predict_word(comp, mlm_lm, clm_lm, int(row["index"]), k=3)
        assert left.word_prob == pytest.approx(row["masked LM p(word)"], rel=1e-4)
        assert right.word_prob == pytest.approx(row["causal LM p(word)"], rel=1e-4)
        gain = (math.log(row["masked LM p(word)"]) - math.log(row["causal LM p(word)"])) / math.log(2)
        assert row["right context gain (bits)"] == pytest.approx(gain, abs=1e-6)


def test_blank_has_no_answer(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The ___ barked at the mailman.")
    i = compare.blank_index(comp)
    assert comp.words[i].blank
    left, right = compare.predict_word(comp, mlm_lm, clm_lm, i)
    assert left.words.answer is None and right.words.answer is None and left.recovered is None
    assert left.words.candidates and right.words.candidates
    assert right.sees == "The ___"


def test_one_blank_at_a_time(pair):
    mlm_lm, clm_lm = pair
    with pytest.raises(ExplorerError, match="One blank at a time: this sentence has 2 blanks"):
        compare.prepare(mlm_lm, clm_lm, "The ___ barked at the ___.")
    assert word_index("The dog barked.", "barked") == 2
    with pytest.raises(ExplorerError, match="not a word"):
        word_index("The dog barked.", "cat")


def test_masks_are_the_models_real_masks(pair, smollm2):
    mlm_lm, clm_lm = pair
    ids = mlm_lm.tokenizer("a b c d e f")["input_ids"]
    assert masks.attention_pattern(mlm_lm, ids).min() == 1  # full
    for lm in (clm_lm, smollm2):
        pat = masks.attention_pattern(lm, list(range(10, 17)))
        assert np.array_equal(pat, np.tril(np.ones_like(pat)))


def test_bad_input(pair):
    mlm_lm, clm_lm = pair
    with pytest.raises(ExplorerError, match="empty"):
        compare.prepare(mlm_lm, clm_lm, "   ")
    comp = compare.prepare(mlm_lm, clm_lm, "Hi 🤖 日本語 there")
    assert len(comp.words) >= 3
    with pytest.raises(ExplorerError, match="no word number"):
        compare.predict_word(comp, mlm_lm, clm_lm, 99)
    with pytest.raises(ExplorerError, match="mask token"):
        compare.prepare(clm_lm, clm_lm, "The dog barked.")


def test_a_long_sentence_fits_models_with_few_positions(pair):
    """Fuzzing regression: 600 characters gave the tiny masked LM (64 positions) 96 tokens, and a
    RuntimeError from its position embeddings."""
    mlm_lm, clm_lm = pair
    text = "word " * 120
    comp = compare.prepare(mlm_lm, clm_lm, text)
    # room kept for the longest reading of a hidden word: 3 pieces and one slot after them
    assert len(comp.mlm_enc.ids) == mlm_lm.model.config.max_position_embeddings - 3 == 61
    assert len(comp.clm_ids) <= clm_lm.model.config.max_position_embeddings
    assert any("limit" in n for n in comp.notes)
    scores = compare.score_words(comp, mlm_lm, clm_lm)
    assert len(scores) == len(comp.words) and np.isfinite(scores["right context gain (bits)"]).all()
    left, right = compare.predict_word(comp, mlm_lm, clm_lm, len(comp.words) - 1, k=3)
    assert 1 <= len(left.words.candidates) <= 3 and 1 <= len(right.words.candidates) <= 3


def test_word_bars_show_words_the_hidden_one_always_and_no_leftovers():
    from explorer.charts.compare import word_bars
    from explorer.words.pieces import WordCandidate, WordPredictions

    c = [
        WordCandidate(w, math.log(p), (i,), (f"␣{w}",))
        for i, (w, p) in enumerate([("dog", 0.6), ("cat", 0.2), ("cow", 0.05), ("horseboy", 0.0004)])
    ]
    answer = WordCandidate("fox", math.log(0.0002), (9,), ("␣fox",))
    fig = word_bars(WordPredictions(c, answer, None))
    labels = [y.strip() for y in fig.data[0].y][::-1]  # top bar first
    assert labels == ["dog", "cat", "cow", "fox (below)"]  # the leftover under 0.1% is gone, the hidden word stays
    assert list(fig.data[0].marker.color[::-1]).count(fig.data[0].marker.color[-1]) == 3  # one bar highlighted
    fig = word_bars(WordPredictions(c[:2] + [answer], answer, 3))
    assert [y.strip() for y in fig.data[0].y][::-1] == ["dog", "cat", "fox"]  # shown in its place, at 3
