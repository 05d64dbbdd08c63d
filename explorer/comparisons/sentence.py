"""A sentence as words, the common ground between two tokenizers: the text split into words and
punctuation marks by one neutral rule (`split_words`), a typed blank (``___``, ``[MASK]``, ``<mask>``)
as a word of its own, each model's tokens mapped to words by character offsets (`token_words`), and the
text rebuilt with some words replaced. `explorer.comparisons.masked_vs_causal` predicts a word of it
from both sides and from the left.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from explorer.errors import ExplorerError
from explorer.tokens import Encoded

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
BLANK_RE = re.compile(r"_{2,}|\[mask\]|<mask>", re.IGNORECASE)
BLANK = "___"


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


def word_positions(mapping: list[int | None], index: int) -> list[int]:
    return [p for p, w in enumerate(mapping) if w == index]


def word_span(mapping: list[int | None], index: int) -> tuple[int, int]:
    """The token positions start:end of word `index` (its pieces are consecutive)."""
    positions = word_positions(mapping, index)
    return positions[0], positions[-1] + 1


@functools.lru_cache(maxsize=16)
def vocabulary(tokenizer: Any) -> frozenset:
    special = set(tokenizer.all_special_tokens) | {
        str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()
    }
    return frozenset((t, i) for t, i in tokenizer.get_vocab().items() if t not in special)


def same_vocabulary(a: Any, b: Any) -> bool:
    """Whether two tokenizers split text into the same pieces with the same ids (special tokens aside):
    then the two models read exactly the same tokens and no alignment across tokenizers is needed."""
    return a is b or (len(a) == len(b) and vocabulary(a) == vocabulary(b))


def with_blanks(text: str, words: list[Word], blank: str) -> tuple[str, list[Word]]:
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


def join_words(text: str, words: list[Word], shown: list[str]) -> str:
    """Rebuild text from words keeping the original spacing, with some words replaced."""
    out, last = [], None
    for w, s in zip(words, shown):
        if last is not None:
            out.append(text[last : w.start])
        out.append(s)
        last = w.end
    return "".join(out)
