"""Masked vs causal on the same sentence: the same blank predicted from both sides vs from the left.

Words are the common ground between two tokenizers: the text is split into words by one
neutral rule (`split_words`), and each model's tokens are mapped to words by character
offsets. Both sides predict whole words, not the first pieces of words (`explorer.words`):

- masked LM: the blank is hidden as 1, 2 or 3 masks and decoded left to right, each piece from both
  sides with the later pieces still hidden (PLL-word-l2r, Kauf & Ivanova 2023), times the probability
  that the word ends there; the text's own word is scored the same way;
- causal LM: the chain rule, each piece given everything before it, times the probability that the
  word ends there: the exact probability of the word after its left context.

A word is "recovered" when it is the model's top word. The pieces' view (the first piece's
distribution, `piece_predictions`) stays available for the lesson on sub-words.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from explorer import clm as causal
from explorer import mlm as masked
from explorer import words as whole_words
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import Encoded, clean_text, display_piece, encode, model_max_tokens
from explorer.words.pieces import WordPredictions

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
BLANK_RE = re.compile(r"_{2,}|\[mask\]|<mask>", re.IGNORECASE)
BLANK = "___"
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
class Word:
    index: int
    text: str
    start: int
    end: int
    blank: bool = False


def split_words(text: str) -> list[Word]:
    """Words and punctuation marks of `text` with character spans; `___`, [MASK] or <mask> are blanks."""
    out: list[Word] = []
    for m in re.finditer(BLANK_RE.pattern + "|" + WORD_RE.pattern, text, flags=re.IGNORECASE):
        out.append(Word(len(out), m.group(0), m.start(), m.end(), bool(BLANK_RE.fullmatch(m.group(0)))))
    return out


def token_words(enc: Encoded, words: list[Word]) -> list[int | None]:
    """For each token of `enc`, the index of the word it belongs to (None for special tokens)."""
    out: list[int | None] = []
    for (s, e), special in zip(enc.offsets, enc.special):
        if special or e <= s:
            out.append(None)
            continue
        while s < e and enc.text[s].isspace():  # byte-level BPE tokens carry the space before a word
            s += 1
        hit = None
        for w in words:
            if w.start < e and s < w.end:
                hit = w.index
                break
        out.append(hit)
    return out


def _word_positions(mapping: list[int | None], index: int) -> list[int]:
    return [p for p, w in enumerate(mapping) if w == index]


def _span(mapping: list[int | None], index: int) -> tuple[int, int]:
    """The token positions start:end of word `index` (its pieces are consecutive)."""
    positions = _word_positions(mapping, index)
    return positions[0], positions[-1] + 1


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
    mlm_text, mlm_words = _with_blanks(text, words, mask_tok)
    enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
    notes = list(enc.notes)
    kept = [w for w in words if mlm_words[w.index].end <= len(enc.text)]
    if enc.truncated and kept:  # cut after the last word the masked LM read whole
        words, text = kept, text[: kept[-1].end]
        mlm_text, mlm_words = _with_blanks(text, words, mask_tok)
        enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
    blanks = sum(w.blank for w in words)
    if blanks > 1:
        raise ExplorerError(
            f"One blank at a time: this sentence has {blanks} blanks (___).",
            "Keep one ___: it is the word both models predict.",
        )
    mlm_map = token_words(enc, mlm_words)
    clm_text, clm_words = _with_blanks(text, words, BLANK)
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


@functools.lru_cache(maxsize=16)
def _vocabulary(tokenizer: Any) -> frozenset:
    special = set(tokenizer.all_special_tokens) | {
        str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()
    }
    return frozenset((t, i) for t, i in tokenizer.get_vocab().items() if t not in special)


def same_vocabulary(a: Any, b: Any) -> bool:
    """Whether two tokenizers split text into the same pieces with the same ids (special tokens aside):
    then the two models read exactly the same tokens and no alignment across tokenizers is needed."""
    return a is b or (len(a) == len(b) and _vocabulary(a) == _vocabulary(b))


def _with_blanks(text: str, words: list[Word], blank: str) -> tuple[str, list[Word]]:
    """`text` with every blank written as `blank`, and its words with their places in that text."""
    parts, out, last, shift = [], [], 0, 0
    for w in words:
        shown = blank if w.blank else w.text
        parts += [text[last : w.start], shown]
        out.append(Word(w.index, shown, w.start + shift, w.start + shift + len(shown), w.blank))
        shift += len(shown) - len(w.text)
        last = w.end
    return "".join(parts) + text[last:], out


def word_index(text: str, word: str) -> int:
    """The index (in `split_words(text)`) of the first word of `text` equal to `word`."""
    for w in split_words(text):
        if w.text == word:
            return w.index
    raise ExplorerError(f"'{word}' is not a word of the sentence.")


def blank_index(comp: Comparison) -> int | None:
    for w in comp.words:
        if w.blank:
            return w.index
    return None


def _positions(comp: Comparison, index: int) -> tuple[list[int], list[int]]:
    if not 0 <= index < len(comp.words):
        raise ExplorerError(f"There is no word number {index + 1} in this sentence.")
    mpos = _word_positions(comp.mlm_map, index)
    cpos = _word_positions(comp.clm_map, index)
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
    left = _join(comp.text, comp.words[:index], [w.text for w in comp.words[:index]]) + " " + BLANK
    return (
        Side("mlm", mlm_lm.info.name, _join(comp.text, comp.words, shown), mlm_words, 0 if word.blank else len(mpos)),
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


def _join(text: str, words: list[Word], shown: list[str]) -> str:
    """Rebuild text from words keeping the original spacing, with some words replaced."""
    out, last = [], None
    for w, s in zip(words, shown):
        if last is not None:
            out.append(text[last : w.start])
        out.append(s)
        last = w.end
    return "".join(out)


def score_words(comp: Comparison, mlm_lm: LoadedModel, clm_lm: LoadedModel) -> pd.DataFrame:
    """Every word's probability under both models, as `predict_word` scores the hidden word: the masked
    LM with the word hidden (both sides visible), the causal LM from its left; each times the
    probability that the word ends there. Typed blanks are skipped."""
    targets = [
        w
        for w in comp.words
        if not w.blank
        and _word_positions(comp.mlm_map, w.index)
        and _word_positions(comp.clm_map, w.index)
        and _word_positions(comp.clm_map, w.index)[0] > 0
    ]
    if not targets:
        raise ExplorerError("There is no word to score.", "Type a sentence without blanks.")
    mspans = [_span(comp.mlm_map, w.index) for w in targets]
    cspans = [_span(comp.clm_map, w.index) for w in targets]
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
