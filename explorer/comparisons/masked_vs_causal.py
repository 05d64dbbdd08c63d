"""Masked vs causal on the same sentence: the same blank predicted from both sides vs from the left.

Words are the common ground between two tokenizers (`explorer.comparisons.sentence`: the text split into
words by one neutral rule, each model's tokens mapped to words by character offsets). Both sides predict whole words, not the first pieces of words (`explorer.words`):

- masked LM: the blank is hidden as 1, 2 or 3 masks and decoded left to right, each piece from both
  sides with the later pieces still hidden (PLL-word-l2r, Kauf & Ivanova 2023), times the probability
  that the word ends there; the text's own word is scored the same way;
- causal LM: the chain rule, each piece given everything before it, times the probability that the
  word ends there: the exact probability of the word after its left context.

A word is "recovered" when it is the model's top word. The pieces' view (the first piece's
distribution, `piece_predictions`) stays available for the lesson on sub-words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from explorer import clm as causal
from explorer import mlm as masked
from explorer import words as whole_words
from explorer.comparisons.sentence import (
    BLANK,
    Word,
    join_words,
    same_vocabulary,
    split_words,
    token_words,
    with_blanks,
    word_positions,
    word_span,
)
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import Encoded, clean_text, display_piece, encode, model_max_tokens
from explorer.words.pieces import WordPredictions

MAX_TOKENS = 96

OBJECTIVES = pd.DataFrame(
    [
        {
            "objective": "Masked LM (cloze)",
            "what is hidden": "~15% of tokens ([MASK] / random / unchanged)",
            "what is predicted": "the hidden tokens, from both sides",
            "attention": "full (bidirectional)",
            "typical models": "BERT, RoBERTa, DistilBERT",
            "typical uses": "understanding: classification, search, tagging",
        },
        {
            "objective": "Causal LM (next token)",
            "what is hidden": "the future: every token after the current one",
            "what is predicted": "every next token, from the left only",
            "attention": "lower-triangular (causal)",
            "typical models": "GPT-2, Llama, SmolLM2",
            "typical uses": "generation: chat, completion, code",
        },
    ]
)


@dataclass
class Side:
    """One model's prediction for the chosen word: whole words, best first."""

    kind: str  # "mlm" or "clm"
    model_name: str
    sees: str  # the text the model can use, with the blank
    words: WordPredictions
    n_pieces: int  # how many pieces the hidden word is for this model's tokenizer

    @property
    def recovered(self) -> bool | None:
        """Whether the hidden word is the model's top word (None for a typed blank: no answer)."""
        return self.words.recovered

    @property
    def word_prob(self) -> float | None:
        return self.words.answer.prob if self.words.answer is not None else None


@dataclass
class PieceView:
    """The sub-word view of one side: the distribution of the word's first piece alone."""

    top_ids: list[int]
    top_pieces: list[str]
    top_probs: list[float]
    answer_id: int | None  # the first piece of the hidden word (None for a typed blank)
    answer_piece: str | None
    answer_rank: int | None
    answer_prob: float | None


@dataclass
class Comparison:
    text: str
    words: list[Word]
    mlm_enc: Encoded
    clm_ids: list[int]
    mlm_map: list[int | None]
    clm_map: list[int | None]
    notes: list[str]
    same_tokens: bool = False  # both tokenizers have one vocabulary (e.g. a masked LM made from the causal LM)


def prepare(mlm_lm: LoadedModel, clm_lm: LoadedModel, text: str | None, *, max_tokens: int = MAX_TOKENS) -> Comparison:
    """Clean the text, tokenize it for both models and align both tokenizations to words.

    Each model reads the same words, blanks written its own way. When the masked LM's limit cuts
    the text, the text is cut after the last word it kept whole, for both models."""
    text = clean_text(text, what="sentence")
    words = split_words(text)
    if not words:
        raise ExplorerError("The sentence has no words.", "Type a sentence such as 'The dog barked at the mailman.'")
    mtok = mlm_lm.tokenizer
    ctok = clm_lm.tokenizer
    # no more tokens than each model has positions (a small model may have fewer than MAX_TOKENS)
    # (and room for the masked LM's longest reading of a hidden word: 3 pieces and one slot after them)
    max_tokens = min(max_tokens, model_max_tokens(mtok, mlm_lm.model) - whole_words.MAX_PIECES)
    clm_max = min(4 * max_tokens, model_max_tokens(ctok, clm_lm.model, cap=1_000_000) - 1)  # and the start token
    mask_tok, _ = masked.mask_token(mtok)
    mlm_text, mlm_words = with_blanks(text, words, mask_tok)
    enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
    notes = list(enc.notes)
    kept = [w for w in words if mlm_words[w.index].end <= len(enc.text)]
    if enc.truncated and kept:  # cut after the last word the masked LM read whole
        words, text = kept, text[: kept[-1].end]
        mlm_text, mlm_words = with_blanks(text, words, mask_tok)
        enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
    blanks = sum(w.blank for w in words)
    if blanks > 1:
        raise ExplorerError(
            f"One blank at a time: this sentence has {blanks} blanks (___).",
            "Keep one ___: it is the word both models predict.",
        )
    mlm_map = token_words(enc, mlm_words)
    clm_text, clm_words = with_blanks(text, words, BLANK)
    cenc = encode(ctok, clm_text, max_tokens=clm_max, add_special_tokens=False, what="sentence")
    clm_map = token_words(cenc, clm_words)
    ids = list(cenc.ids)
    start = causal.start_token_id(ctok)
    if start is not None:  # so that the first word is predicted too (from the start token alone)
        ids = [start] + ids
        clm_map = [None] + clm_map
    shared = same_vocabulary(mtok, ctok)
    if not shared:
        notes.append(
            "The two models split text differently, so they are compared word by word: "
            "a word's probability is the product of its pieces' probabilities."
        )
    return Comparison(text, words, enc, ids, mlm_map, clm_map, notes, shared)


def blank_index(comp: Comparison) -> int | None:
    for w in comp.words:
        if w.blank:
            return w.index
    return None


def _positions(comp: Comparison, index: int) -> tuple[list[int], list[int]]:
    if not 0 <= index < len(comp.words):
        raise ExplorerError(f"There is no word number {index + 1} in this sentence.")
    mpos = word_positions(comp.mlm_map, index)
    cpos = word_positions(comp.clm_map, index)
    if not mpos or not cpos:
        raise ExplorerError(
            f"'{comp.words[index].text}' was cut off by the length limit or is not a word the models can read."
        )
    if cpos[0] < 1:
        raise ExplorerError("The causal LM has no start token to predict the first word from.")
    return mpos, cpos


def predict_word(
    comp: Comparison, mlm_lm: LoadedModel, clm_lm: LoadedModel, index: int, *, k: int = 10
) -> tuple[Side, Side]:
    """Both models' whole-word predictions for word `index`: the masked LM with the word hidden (both
    sides visible), the causal LM from the text to its left. A typed blank has no answer to rank."""
    mpos, cpos = _positions(comp, index)
    word = comp.words[index]
    mlm_words = whole_words.masked_word_candidates(mlm_lm, comp.mlm_enc.ids, mpos[0], mpos[-1] + 1, k=k)
    answer = None if word.blank else comp.clm_ids[cpos[0] : cpos[-1] + 1]
    clm_words = whole_words.causal_word_candidates(clm_lm, comp.clm_ids[: cpos[0]], answer, k=k)
    shown = [w.text if w.index != index else BLANK for w in comp.words]
    left = join_words(comp.text, comp.words[:index], [w.text for w in comp.words[:index]]) + " " + BLANK
    return (
        Side(
            "mlm", mlm_lm.info.name, join_words(comp.text, comp.words, shown), mlm_words, 0 if word.blank else len(mpos)
        ),
        Side("clm", clm_lm.info.name, left.strip(), clm_words, 0 if word.blank else len(cpos)),
    )


def piece_predictions(
    comp: Comparison, mlm_lm: LoadedModel, clm_lm: LoadedModel, index: int, *, k: int = 10
) -> tuple[PieceView, PieceView]:
    """The sub-word view: each model's distribution for the word's FIRST piece alone (the masked LM
    with all the word's pieces hidden, the causal LM after the left context), as the models' heads give
    it. A fragment such as "␣bar" (of "barks") can top it: `predict_word` ranks whole words instead."""
    mpos, cpos = _positions(comp, index)
    word = comp.words[index]
    fill = masked.fill_mask(mlm_lm, comp.mlm_enc, [] if word.blank else mpos, k=k)
    first = next(p for p in fill.predictions if p.position == mpos[0])
    mlm_view = PieceView(
        first.top_ids,
        first.top_pieces,
        first.top_probs,
        first.original_id,
        first.original_piece,
        first.original_rank,
        first.original_prob,
    )
    # the next-token distribution after the left context, read from one (cached) pass over the whole text
    causal.target_log_probs(clm_lm, comp.clm_ids)
    dist = causal.next_token_distribution(clm_lm, comp.clm_ids[: cpos[0]], top_n=k)
    answer = None if word.blank else comp.clm_ids[cpos[0]]
    clm_view = PieceView(
        [c.token_id for c in dist.top],
        [c.piece for c in dist.top],
        [c.prob for c in dist.top],
        answer,
        display_piece(clm_lm.tokenizer, answer) if answer is not None else None,
        causal.rank_of(dist.probs, answer) if answer is not None else None,
        float(dist.probs[answer]) if answer is not None else None,
    )
    return mlm_view, clm_view


def score_words(comp: Comparison, mlm_lm: LoadedModel, clm_lm: LoadedModel) -> pd.DataFrame:
    """Every word's probability under both models, as `predict_word` scores the hidden word: the masked
    LM with the word hidden (both sides visible), the causal LM from its left; each times the
    probability that the word ends there. Typed blanks are skipped."""
    targets = [
        w
        for w in comp.words
        if not w.blank
        and word_positions(comp.mlm_map, w.index)
        and word_positions(comp.clm_map, w.index)
        and word_positions(comp.clm_map, w.index)[0] > 0
    ]
    if not targets:
        raise ExplorerError("There is no word to score.", "Type a sentence without blanks.")
    mspans = [word_span(comp.mlm_map, w.index) for w in targets]
    cspans = [word_span(comp.clm_map, w.index) for w in targets]
    m_lps = whole_words.masked_word_scores(mlm_lm, comp.mlm_enc.ids, mspans)
    c_lps = whole_words.causal_word_scores(clm_lm, comp.clm_ids, cspans)
    rows = []
    for w, m_lp, c_lp, (ma, mb), (ca, cb) in zip(targets, m_lps, c_lps, mspans, cspans):
        rows.append(
            {
                "word": w.text,
                "index": w.index,
                "masked LM p(word)": math.exp(m_lp),
                "causal LM p(word)": math.exp(c_lp),
                "masked LM pieces": mb - ma,
                "causal LM pieces": cb - ca,
                "right context gain (bits)": (m_lp - c_lp) / math.log(2),
            }
        )
    return pd.DataFrame(rows)
