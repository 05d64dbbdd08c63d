"""Whole-word predictions: scores against plain forward passes (tiny models), and on the real models."""

from __future__ import annotations

import re

import pytest
import torch

from explorer import load
from explorer import words as whole_words
from explorer.comparisons import masked_vs_causal as compare
from explorer.comparisons.sentence import word_index
from explorer.words.pieces import piece_classes

WORD = re.compile(r"[^\W_]+")


@pytest.fixture(scope="module")
def pair(tiny_mlm_dir, tiny_clm_dir):
    return load("mlm", str(tiny_mlm_dir)), load("clm", str(tiny_clm_dir))


def boundary_ids(tok) -> torch.Tensor:
    """What may follow a finished word, written out here independently of `explorer.words.pieces`: any
    piece that does not continue a word (WordPiece: no '##'; byte-level BPE: not bare letters/digits)."""
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    if not any(p.startswith("Ġ") for p in pieces):  # WordPiece
        keep = [not p.startswith("##") for p in pieces]
    else:
        texts = [tok.convert_tokens_to_string([p]) for p in pieces]  # "Ġbark" -> " bark", "Ċ" -> a new line
        keep = [not WORD.fullmatch(t) for t in texts]  # a space, punctuation, a new line, part of a character
    return torch.tensor([i for i, k in enumerate(keep) if k])


def log_probs(model, row: list[int], position: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(input_ids=torch.tensor([row])).logits[0, position].float(), -1)


def masked_reference(lm, ids: list[int], start: int, end: int, pieces: list[int]) -> float:
    """PLL-word-l2r of `pieces` in place of ids[start:end], times p(a word boundary in one more slot)."""
    mask = lm.tokenizer.mask_token_id
    before, after = ids[:start], ids[end:]
    total = sum(
        float(log_probs(lm.model, before + pieces[:j] + [mask] * (len(pieces) - j) + after, start + j)[p])
        for j, p in enumerate(pieces)
    )
    ending = log_probs(lm.model, before + pieces + [mask] + after, start + len(pieces))
    return total + float(torch.logsumexp(ending[boundary_ids(lm.tokenizer)], 0))


def causal_reference(lm, prefix: list[int], pieces: list[int]) -> float:
    """The chain rule over `pieces` after `prefix`, times p(a word boundary next), from plain passes."""
    row = prefix + pieces
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=torch.tensor([row])).logits[0].float(), -1)
    chain = sum(float(logp[len(prefix) + j - 1, p]) for j, p in enumerate(pieces))
    return chain + float(torch.logsumexp(logp[-1][boundary_ids(lm.tokenizer)], 0))


def spans(comp, mapping) -> list[tuple[int, int]]:
    out = []
    for w in comp.words:
        pos = [p for p, x in enumerate(mapping) if x == w.index]
        out.append((pos[0], pos[-1] + 1))
    return out


def test_piece_classes_of_both_tokenizers(pair, smollm2_tokenizer):
    mlm_lm, _ = pair
    wp = mlm_lm.tokenizer
    c = piece_classes(wp, len(wp))
    unb = wp.convert_tokens_to_ids(wp.tokenize("unbelievably"))
    assert c.start_space[unb[0]] and not c.cont[unb[0]]
    assert all(c.cont[i] and not c.boundary[i] for i in unb[1:])
    assert c.boundary[wp.convert_tokens_to_ids(".")] and c.boundary[wp.sep_token_id]
    b = piece_classes(smollm2_tokenizer, len(smollm2_tokenizer))
    bark, ed = smollm2_tokenizer.convert_tokens_to_ids(["Ġbark", "ed"])
    assert b.start_space[bark] and not b.start_bare[bark] and b.boundary[bark]
    assert b.cont[ed] and b.start_bare[ed] and not b.boundary[ed]
    assert b.boundary[smollm2_tokenizer.convert_tokens_to_ids(".")] and b.boundary[smollm2_tokenizer.eos_token_id]
    newline = smollm2_tokenizer.convert_tokens_to_ids("Ċ")  # a letter of the byte alphabet, a new line in text
    assert b.boundary[newline] and not b.cont[newline] and not b.start_bare[newline]


def test_masked_word_scores_equal_plain_forward_passes(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    ids = list(comp.mlm_enc.ids)
    word_spans = spans(comp, comp.mlm_map)
    assert any(b - a > 1 for a, b in word_spans)  # "unbelievably" is several WordPiece pieces
    scores = whole_words.masked_word_scores(mlm_lm, ids, word_spans)
    for (a, b), score in zip(word_spans, scores):
        assert score == pytest.approx(masked_reference(mlm_lm, ids, a, b, ids[a:b]), abs=1e-4)


def test_causal_word_scores_equal_the_chain_rule_and_the_word_end(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    ids = list(comp.clm_ids)
    word_spans = spans(comp, comp.clm_map)
    assert any(b - a > 1 for a, b in word_spans)
    scores = whole_words.causal_word_scores(clm_lm, ids, word_spans)
    for (a, b), score in zip(word_spans, scores):
        assert score == pytest.approx(causal_reference(clm_lm, ids[:a], ids[a:b]), abs=1e-4)


@pytest.mark.parametrize("word", ["barked", "unbelievably"])
def test_masked_candidates_are_whole_words_scored_as_the_reference(pair, word):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    index = word_index(comp.text, word)
    a, b = spans(comp, comp.mlm_map)[index]
    ids = list(comp.mlm_enc.ids)
    got = whole_words.masked_word_candidates(mlm_lm, ids, a, b, k=6)
    tok = mlm_lm.tokenizer
    assert got.candidates and len(got.candidates) <= 6
    scores = [c.log_prob for c in got.candidates]
    assert scores == sorted(scores, reverse=True)
    for c in got.candidates:  # a word: no piece of another, its score its own PLL-word-l2r and ending
        assert "##" not in c.word and c.word == c.word.strip() and 1 <= len(c.ids) <= whole_words.MAX_PIECES
        assert not tok.convert_ids_to_tokens(c.ids[0]).startswith("##")
        assert c.log_prob == pytest.approx(masked_reference(mlm_lm, ids, a, b, list(c.ids)), abs=1e-4)
    assert got.answer.word == word and got.answer.ids == tuple(ids[a:b])
    assert got.answer.log_prob == pytest.approx(masked_reference(mlm_lm, ids, a, b, ids[a:b]), abs=1e-4)
    assert got.answer.log_prob == pytest.approx(whole_words.masked_word_scores(mlm_lm, ids, [(a, b)])[0], abs=1e-5)
    others = [c.log_prob for c in got.candidates if c.word.lower() != word]
    if len(others) < len(got.candidates):  # the answer is among the words shown: its rank among them
        assert got.answer_rank == 1 + sum(v > got.answer.log_prob for v in others)
    else:  # below the words shown: a rank past them, or none when it is below every word found
        assert (got.answer_rank is None or got.answer_rank > len(got.candidates)) and min(others) >= got.answer.log_prob
    assert got.recovered == (got.answer_rank == 1)


def test_causal_candidates_are_whole_words_scored_as_the_reference(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The dog barked at the unbelievably grumpy mailman.")
    a, b = spans(comp, comp.clm_map)[word_index(comp.text, "unbelievably")]
    ids = list(comp.clm_ids)
    got = whole_words.causal_word_candidates(clm_lm, ids[:a], ids[a:b], k=8)
    assert got.candidates
    for c in got.candidates:
        assert WORD.fullmatch(c.word), c.word
        assert c.log_prob == pytest.approx(causal_reference(clm_lm, ids[:a], list(c.ids)), abs=1e-4)
    assert got.answer.word == "unbelievably"
    assert got.answer.log_prob == pytest.approx(causal_reference(clm_lm, ids[:a], ids[a:b]), abs=1e-4)
    assert got.answer.log_prob == pytest.approx(whole_words.causal_word_scores(clm_lm, ids, [(a, b)])[0], abs=1e-5)


def test_a_typed_blank_has_candidates_and_no_answer(pair):
    mlm_lm, clm_lm = pair
    comp = compare.prepare(mlm_lm, clm_lm, "The ___ barked at the mailman.")
    index = compare.blank_index(comp)
    a, b = spans(comp, comp.mlm_map)[index]
    got = whole_words.masked_word_candidates(mlm_lm, comp.mlm_enc.ids, a, b, k=5)
    assert got.answer is None and got.answer_rank is None and got.recovered is None and got.candidates
    c = spans(comp, comp.clm_map)[index][0]
    got = whole_words.causal_word_candidates(clm_lm, comp.clm_ids[:c], None, k=5)
    assert got.answer is None and got.candidates


def test_bad_spans_are_refused(pair):
    mlm_lm, clm_lm = pair
    with pytest.raises(ValueError):
        whole_words.masked_word_candidates(mlm_lm, [1, 2, 3], 2, 5)
    with pytest.raises(ValueError):
        whole_words.causal_word_candidates(clm_lm, [], [5])


def test_real_models_read_barked_as_whole_words(smollm2):
    """The page's old reading: the masked side's top bar was the fragment '␣bar' (of 'barks') and the
    verdict was judged on the piece '␣bark'. Whole words: 'barks' is a word made of ␣bar + ks, the
    hidden word is 'barked', and no fragment is offered as a word."""
    mlm_lm = load("mlm")
    comp = compare.prepare(mlm_lm, smollm2, "The dog barked at the mailman.")
    index = word_index(comp.text, "barked")
    left, right = compare.predict_word(comp, mlm_lm, smollm2, index, k=8)
    words = [c.word for c in left.words.candidates]
    assert "bar" not in words and "barks" in words
    barks = next(c for c in left.words.candidates if c.word == "barks")
    assert barks.pieces == ("␣bar", "ks")
    assert left.words.answer.word == "barked" and left.words.answer.pieces == ("␣bark", "ed")
    assert left.n_pieces == 2 and left.recovered == (left.words.answer_rank == 1)
    scores = compare.score_words(comp, mlm_lm, smollm2).set_index("word")
    assert left.word_prob == pytest.approx(scores.loc["barked", "masked LM p(word)"], rel=1e-3)
    assert right.word_prob == pytest.approx(scores.loc["barked", "causal LM p(word)"], rel=1e-3)
    assert right.words.candidates[0].word == "was"  # "The dog" → was
    # the causal side's words are disjoint events of one distribution: their probabilities add up to at most 1
    assert sum(c.prob for c in right.words.candidates) <= 1 + 1e-6
