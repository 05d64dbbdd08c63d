"""Masked vs causal on the same sentence: the same blank predicted from both sides vs from the left.

Words are the common ground between two tokenizers: the text is split into words by one
neutral rule (`split_words`), and each model's tokens are mapped to words by character
offsets. A word made of several pieces is scored as a whole:

- masked LM: all its pieces are hidden, and they are scored from left to right: each piece is
  predicted from both sides with the pieces after it still hidden and the ones before it shown
  (PLL-word-l2r, Kauf & Ivanova 2023), so the word's log-probability is the sum of the pieces';
  a word of one piece is simply masked;
- causal LM: the chain rule, the sum of each piece's log-probability given everything before it
  (the exact probability of the word after its left context).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from explorer import clm as causal
from explorer import mlm as masked
from explorer.errors import ExplorerError
from explorer.pseudo_likelihood import masked_word_log_probs  # noqa: F401 - re-exported
from explorer.tokens import Encoded, clean_text, display_piece, encode, model_max_tokens

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
BLANK_RE = re.compile(r"_{2,}|\[mask\]|<mask>", re.IGNORECASE)
BLANK = "___"
MAX_TOKENS = 96

OBJECTIVES = pd.DataFrame([
    {"objective": "Masked LM (cloze)", "what is hidden": "~15% of tokens ([MASK] / random / unchanged)",
     "what is predicted": "the hidden tokens, from both sides", "attention": "full (bidirectional)",
     "typical models": "BERT, RoBERTa, DistilBERT", "typical uses": "understanding: classification, search, tagging"},
    {"objective": "Causal LM (next token)", "what is hidden": "the future: every token after the current one",
     "what is predicted": "every next token, from the left only", "attention": "lower-triangular (causal)",
     "typical models": "GPT-2, Llama, SmolLM2", "typical uses": "generation: chat, completion, code"},
])


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


def _plain(piece: str) -> str:
    return piece.replace("##", "").replace("␣", "").replace("Ġ", "").strip().lower()


@dataclass
class Side:
    """One model's prediction for the chosen word."""

    kind: str  # "mlm" or "clm"
    model_name: str
    sees: str  # the text the model can use, with the blank
    top_pieces: list[str]
    top_probs: list[float]
    answer_piece: str | None  # the first piece of the original word (None for a typed blank)
    answer_rank: int | None
    answer_prob: float | None
    word_prob: float | None  # probability of the whole original word
    n_pieces: int

    @property
    def recovered(self) -> bool | None:
        return None if self.answer_rank is None else self.answer_rank == 1


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


def prepare(mlm_lm: Any, clm_lm: Any, text: str | None, *, max_tokens: int = MAX_TOKENS) -> Comparison:
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
    max_tokens = min(max_tokens, model_max_tokens(mtok, mlm_lm.model))
    clm_max = min(4 * max_tokens, model_max_tokens(ctok, clm_lm.model, cap=1_000_000) - 1)  # and the start token
    mask_tok, _ = masked.mask_token(mtok)
    mlm_text, mlm_words = _with_blanks(text, words, mask_tok)
    enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
    notes = list(enc.notes)
    kept = [w for w in words if mlm_words[w.index].end <= len(enc.text)]
    if enc.truncated and kept:  # cut after the last word the masked LM read whole
        words, text = kept, text[:kept[-1].end]
        mlm_text, mlm_words = _with_blanks(text, words, mask_tok)
        enc = encode(mtok, mlm_text, max_tokens=max_tokens, what="sentence")
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
        notes.append("The two models split text differently, so they are compared word by word: "
                     "a word's probability is the product of its pieces' probabilities.")
    return Comparison(text, words, enc, ids, mlm_map, clm_map, notes, shared)


@functools.lru_cache(maxsize=16)
def _vocabulary(tokenizer: Any) -> frozenset:
    special = set(tokenizer.all_special_tokens) | {str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()}
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
        parts += [text[last:w.start], shown]
        out.append(Word(w.index, shown, w.start + shift, w.start + shift + len(shown), w.blank))
        shift += len(shown) - len(w.text)
        last = w.end
    return "".join(parts) + text[last:], out


def blank_index(comp: Comparison) -> int | None:
    for w in comp.words:
        if w.blank:
            return w.index
    return None


def predict_word(comp: Comparison, mlm_lm: Any, clm_lm: Any, index: int, *, k: int = 10) -> tuple[Side, Side]:
    """Both models' predictions for word `index`: the masked LM with the whole word masked, the causal
    LM from the text to its left. For a typed blank there is no answer to rank."""
    if not 0 <= index < len(comp.words):
        raise ExplorerError(f"There is no word number {index + 1} in this sentence.")
    word = comp.words[index]
    mpos = _word_positions(comp.mlm_map, index)
    cpos = _word_positions(comp.clm_map, index)
    if not mpos or not cpos:
        raise ExplorerError(f"'{word.text}' was cut off by the length limit or is not a word the models can read.")
    # masked LM: whole-word masking, one forward pass (the masked-LM page's own function)
    fill = masked.fill_mask(mlm_lm, comp.mlm_enc, [] if word.blank else mpos, k=k)
    first = next(p for p in fill.predictions if p.position == mpos[0])
    mlm_word_prob = None
    if not word.blank:  # the first piece is read with the whole word hidden: that pass was just made
        first_lp = math.log(first.original_prob) if first.original_prob else -math.inf
        rest = masked_word_log_probs(mlm_lm, comp.mlm_enc.ids, [mpos], skip_first=True)[0]
        mlm_word_prob = math.exp(first_lp + rest)
    shown = [w.text if w.index != index else BLANK for w in comp.words]
    mlm_side = Side("mlm", mlm_lm.info.name, _join(comp.text, comp.words, shown), first.top_pieces, first.top_probs,
                    first.original_piece, first.original_rank, first.original_prob, mlm_word_prob, len(mpos))
    # causal LM: the next-token distribution after the left context (the causal-LM page's own function),
    # read from one pass over the whole text (cached, shared with score_words; the causal mask makes
    # its logits after the left context those of a pass over the left context alone)
    prefix = comp.clm_ids[:cpos[0]]
    if not prefix:
        raise ExplorerError("The causal LM has no start token to predict the first word from.")
    target_lp = causal.target_log_probs(clm_lm, comp.clm_ids)
    dist = causal.next_token_distribution(clm_lm, prefix, top_n=k)
    answer = None if word.blank else comp.clm_ids[cpos[0]]
    rank = prob = wprob = None
    if answer is not None:
        prob = float(dist.probs[answer])
        rank = causal.rank_of(dist.probs, answer)
        wprob = float(np.exp(np.sum(target_lp[cpos[0] - 1:cpos[-1]])))
    left = _join(comp.text, comp.words[:index], [w.text for w in comp.words[:index]]) + " " + BLANK
    clm_side = Side("clm", clm_lm.info.name, left.strip(), [c.piece for c in dist.top], [c.prob for c in dist.top],
                    display_piece(clm_lm.tokenizer, answer) if answer is not None else None,
                    rank, prob, wprob, len(cpos))
    return mlm_side, clm_side


def _join(text: str, words: list[Word], shown: list[str]) -> str:
    """Rebuild text from words keeping the original spacing, with some words replaced."""
    out, last = [], None
    for w, s in zip(words, shown):
        if last is not None:
            out.append(text[last:w.start])
        out.append(s)
        last = w.end
    return "".join(out)


def score_words(comp: Comparison, mlm_lm: Any, clm_lm: Any) -> pd.DataFrame:
    """Every word's probability under both models: masked LM with the word hidden (both sides
    visible), causal LM from its prefix. Typed blanks are skipped."""
    targets = [w for w in comp.words if not w.blank and _word_positions(comp.mlm_map, w.index)
               and _word_positions(comp.clm_map, w.index)]
    if not targets:
        raise ExplorerError("There is no word to score.", "Type a sentence without blanks.")
    m_lps = masked_word_log_probs(mlm_lm, comp.mlm_enc.ids, [_word_positions(comp.mlm_map, w.index)
                                                             for w in targets])
    clm_logp = causal.target_log_probs(clm_lm, comp.clm_ids)  # position i predicts token i+1
    rows = []
    for w, m_lp in zip(targets, m_lps):
        mpos = _word_positions(comp.mlm_map, w.index)
        cpos = _word_positions(comp.clm_map, w.index)
        c_lp = float(sum(clm_logp[p - 1] for p in cpos))
        rows.append({"word": w.text, "index": w.index, "masked LM p(word)": math.exp(m_lp),
                     "causal LM p(word)": math.exp(c_lp), "masked LM pieces": len(mpos),
                     "causal LM pieces": len(cpos),
                     "right context gain (bits)": (m_lp - c_lp) / math.log(2)})
    return pd.DataFrame(rows)


def attention_patterns(lm: Any, ids: list[int]) -> np.ndarray:
    """Which positions each position may attend to in every layer, read from the model's own attention
    weights: (layers, T, T), 1 where the weight is non-zero in any head, 0 where the model's mask hides it."""
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([ids]), output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise ExplorerError("This model does not return attention weights.")
    return torch.stack([(a[0].amax(0) > 0) for a in out.attentions]).to(torch.int8).numpy()


def attention_pattern(lm: Any, ids: list[int], layer: int = 0) -> np.ndarray:
    """One layer of `attention_patterns` (the first by default)."""
    return attention_patterns(lm, ids)[layer]


def sees_right_context(patterns: np.ndarray) -> list[bool]:
    """For each layer of `attention_patterns`: whether any position attends to a later one."""
    return [bool(np.triu(p, k=1).any()) for p in patterns]
