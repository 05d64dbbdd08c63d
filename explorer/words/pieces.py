"""Pieces of words: which vocabulary entries begin a word, continue one, or follow a finished word,
and the bookkeeping of whole-word candidates (one entry per word, best first, the answer's rank).

Byte-level BPE (GPT-2, Llama, SmolLM2) marks a piece that follows a space with "Ġ", SentencePiece
with "▁"; WordPiece (BERT) marks a piece that continues a word with "##". A word boundary is what may
follow a finished word: a piece that begins a new word, punctuation, a special token (the end of text).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

AUTO = "auto"
_WORD = re.compile(r"[^\W_]+")  # letters and digits, any script

BEAM = 4  # hypotheses kept per step
MAX_PIECES = 3  # a blank holds a word of 1 to 3 pieces


@dataclass(frozen=True)
class WordCandidate:
    word: str  # as the model would write it (no leading space)
    log_prob: float
    ids: tuple[int, ...]
    pieces: tuple[str, ...] = ()

    @property
    def prob(self) -> float:
        return math.exp(self.log_prob)


@dataclass
class WordPredictions:
    """The words a model puts in one blank, best first, and where the text's own word ranks."""

    candidates: list[WordCandidate]
    answer: WordCandidate | None = None  # the text's own word (None for a typed blank)
    answer_rank: int | None = None  # 1 = the top word; None when it ranks below every word found
    notes: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool | None:
        return None if self.answer is None else self.answer_rank == 1

    def top(self, k: int) -> list[WordCandidate]:
        return self.candidates[:k]

    def with_answer(self, *, answer_first: bool = True) -> list[WordCandidate]:
        """The candidates best first and the text's own word (when there is one), first or last, each word once."""
        answer = [self.answer] if self.answer is not None else []
        words = answer + list(self.candidates) if answer_first else list(self.candidates) + answer
        first: dict[str, WordCandidate] = {}
        for w in words:
            first.setdefault(w.word, w)
        return list(first.values())


# --------------------------------------------------------------------------- pieces of words


@dataclass(frozen=True)
class PieceClasses:
    """Which vocabulary entries may start a word (after a space, or with none), continue one, or
    follow a finished word (a word boundary: a space, punctuation, a special token)."""

    start_space: torch.Tensor
    start_bare: torch.Tensor
    cont: torch.Tensor
    boundary: torch.Tensor


def scheme(tokens: list[str]) -> str:
    if any(t.startswith("Ġ") for t in tokens):
        return "bpe"
    if any(t.startswith("▁") for t in tokens):
        return "sentencepiece"
    return "wordpiece"


@functools.lru_cache(maxsize=8)
def piece_classes(tokenizer: Any, size: int) -> PieceClasses:
    """The classes of every id below `size` (the model's vocabulary, which may exceed the tokenizer's)."""
    kind = scheme(tokenizer.convert_ids_to_tokens(tokenizer("a unbelievably", add_special_tokens=False)["input_ids"]))
    specials = set(getattr(tokenizer, "all_special_ids", []) or [])
    n = min(size, len(tokenizer))
    tokens = tokenizer.convert_ids_to_tokens(list(range(n)))
    classes = [torch.zeros(size, dtype=torch.bool) for _ in range(4)]
    start_space, start_bare, cont, boundary = classes
    marker = {"bpe": "Ġ", "sentencepiece": "▁"}.get(kind, "")
    for i, t in enumerate(tokens):
        if t is None:
            continue
        if i in specials:
            boundary[i] = True
            continue
        if kind == "wordpiece":
            if t.startswith("##"):
                cont[i] = bool(_WORD.fullmatch(t[2:]))
            else:
                start_space[i] = start_bare[i] = bool(_WORD.fullmatch(t))
                boundary[i] = True
            continue
        text = _bytes_text(tokenizer, t) if kind == "bpe" else t.replace(marker, " ")
        if text is None:  # part of a character of several bytes (an emoji, some scripts): not a word's piece
            boundary[i] = True
        elif text.startswith(" "):
            start_space[i] = bool(_WORD.fullmatch(text[1:]))
            boundary[i] = True
        elif _WORD.fullmatch(text):
            start_bare[i] = cont[i] = True
        else:
            boundary[i] = True  # punctuation, a new line…
    return PieceClasses(start_space, start_bare, cont, boundary)


def _bytes_text(tokenizer: Any, token: str) -> str | None:
    """A byte-level BPE token's text ("Ġbark" -> " bark", "Ċ" -> a new line); None for part of a character."""
    text = tokenizer.convert_tokens_to_string([token])
    return None if "\ufffd" in text else text


def starts_with_space(tokenizer: Any, token_id: int) -> bool:
    """Whether a piece carries the space before its word (␣bark does, ed does not)."""
    t = tokenizer.convert_ids_to_tokens(int(token_id)) or ""
    return t.startswith(("Ġ", "▁")) or (scheme([t]) == "wordpiece" and not t.startswith("##"))


def space_class(tokenizer: Any, before: Sequence[int], answer: tuple | None, space: bool | None | str) -> bool | None:
    """AUTO: the class of the word's own first piece; for a typed blank, after a space unless it opens
    the text (a text's first word has no space before it)."""
    if space != AUTO:
        return space
    if answer:
        return starts_with_space(tokenizer, answer[0])
    specials = set(getattr(tokenizer, "all_special_ids", []) or [])
    return not (not before or all(int(i) in specials for i in before))


def word_text(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), clean_up_tokenization_spaces=False).strip()


def collect(
    tokenizer: Any,
    found: list[tuple[float, tuple[int, ...]]],
    answer: tuple[int, ...] | None,
    answer_lp: float | None,
    k: int,
) -> WordPredictions:
    """Candidates (log-prob, ids) → one entry per word (its best tokenization), best first."""
    from explorer.tokens import display_piece

    best: dict[str, WordCandidate] = {}
    for lp, ids in found:
        text = word_text(tokenizer, ids)
        key = text.lower()
        if text and (key not in best or lp > best[key].log_prob):
            best[key] = WordCandidate(text, float(lp), ids, tuple(display_piece(tokenizer, i) for i in ids))
    ranked = sorted(best.values(), key=lambda c: -c.log_prob)
    if answer is None:
        return WordPredictions(ranked[:k])
    text = word_text(tokenizer, answer)
    mine = WordCandidate(text, float(answer_lp), answer, tuple(display_piece(tokenizer, i) for i in answer))
    other = best.get(text.lower())
    if other is not None and other.log_prob > mine.log_prob:
        mine = WordCandidate(text, other.log_prob, other.ids, other.pieces)  # found by a better tokenization
    rest = [c for c in ranked if c.word.lower() != text.lower()]
    rank = 1 + sum(c.log_prob > mine.log_prob for c in rest)
    shown = sorted(rest[: max(k - 1, 0)] + [mine], key=lambda c: -c.log_prob) if rank <= k else rest[:k]
    # below every word found, its rank is unknown (only a lower bound): None, "not among the words found"
    return WordPredictions(shown, mine, rank if rank <= len(rest) else None)


def floor(found: list[tuple[float, tuple]], answer_lp: float | None, k: int) -> float:
    """The score under which a word can neither enter the top `k` nor pass the text's own word. Scores
    only fall as pieces (or the word's end) are added, so a partial word under it can be dropped."""
    scores = sorted((lp for lp, _ in found), reverse=True)
    kth = scores[k - 1] if len(scores) >= k else -math.inf
    return min(kth, answer_lp) if answer_lp is not None else kth


def top(logp: torch.Tensor, allowed: torch.Tensor, n: int) -> list[tuple[float, int]]:
    masked = logp.masked_fill(~allowed[: logp.shape[-1]], -math.inf)
    top = torch.topk(masked, min(n, int(allowed.sum())))
    return [(float(v), int(i)) for v, i in zip(top.values, top.indices) if v > -math.inf]


# --------------------------------------------------------------------------- masked LM


def first_pieces(classes: PieceClasses, space: bool | None) -> torch.Tensor:
    """Pieces that may begin the word: after a space, with none, or either (the text's first word)."""
    if space is None:
        return classes.start_space | classes.start_bare
    return classes.start_space if space else classes.start_bare


def ends(logp: torch.Tensor, classes: PieceClasses) -> float:
    """ln p(the word ends here): the probability mass, in a next-piece distribution, of word boundaries."""
    return float(torch.logsumexp(logp[classes.boundary[: logp.shape[-1]]], 0))
