"""Text in, tokens out: cleaning, length limits, display pieces and word alignment.

Every page that takes user text goes through `encode`, which handles empty, over-long
and odd input and raises `ExplorerError` with a message fit for the page.
"""

from __future__ import annotations

import unicodedata
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from explorer.errors import ExplorerError
from explorer.wording import count

if TYPE_CHECKING:
    from torch.nn import Module

MAX_CHARS = 5_000
DEFAULT_MAX_TOKENS = 128


@dataclass
class Encoded:
    """A tokenized text: ids (with special tokens), display pieces and alignment."""

    text: str
    ids: list[int]
    pieces: list[str]
    special: list[bool]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]
    truncated: bool = False
    original_length: int = 0
    limit: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def content_positions(self) -> list[int]:
        return [i for i, s in enumerate(self.special) if not s]


def clean_text(text: str | None, *, max_chars: int = MAX_CHARS, what: str = "text") -> str:
    """Normalise (NFC), drop control characters, refuse empty text, cut very long text."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ExplorerError(f"The {what} must be text.")
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn"))
    text = text.strip()
    if not text:
        raise ExplorerError(f"The {what} is empty.", "Type a sentence or pick one of the examples.")
    if len(text) > max_chars:
        text = text[:max_chars]
    return text


def cut_to_limit(text: str, max_chars: int, what: str = "text") -> tuple[str, str | None]:
    """A text box's input cut to its limit: (the first `max_chars` characters, a message saying so),
    or (the text, None) when it fits. Typed, pasted and linked text go through the same cut."""
    if len(text) <= max_chars:
        return text, None
    return text[:max_chars], (
        f"The {what} had {len(text):,} characters; this box takes up to {max_chars:,}, so "
        f"only the first {max_chars:,} are used."
    )


_LABELS: "weakref.WeakKeyDictionary[Any, dict[int, str]]" = weakref.WeakKeyDictionary()


def display_piece(tokenizer: Any, token_id: int) -> str:
    """A readable label for one token: sub-word markers kept, spaces shown as ␣ (remembered per
    tokenizer: a label never changes, and working it out asks the tokenizer several things)."""
    token_id = int(token_id)
    try:
        labels = _LABELS.setdefault(tokenizer, {})
    except TypeError:  # a tokenizer that cannot be weakly referenced
        return _label(tokenizer, token_id)
    label = labels.get(token_id)
    if label is None:
        label = labels[token_id] = _label(tokenizer, token_id)
    return label


def _label(tokenizer: Any, token_id: int) -> str:
    tok = tokenizer.convert_ids_to_tokens(int(token_id))
    if tok is None:
        return f"<{token_id}>"
    if tokenizer.all_special_ids and int(token_id) in tokenizer.all_special_ids:
        return tok
    if tok.startswith("##"):  # WordPiece continuation
        return tok
    if tok.startswith("<0x") and tok.endswith(">"):  # byte fallback
        return tok
    text = tokenizer.decode([int(token_id)], clean_up_tokenization_spaces=False)
    if not text:
        return tok
    text = text.replace("\n", "↵").replace("\t", "⇥")
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text.replace("\ufffd", "�")


def display_pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    return [display_piece(tokenizer, i) for i in ids]


NO_LIMIT = 1_000_000  # a tokenizer's `model_max_length` at or above this means "not set"
POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx")


def max_positions(model: Module | None, tokenizer: Any = None, *, default: int = NO_LIMIT) -> int:
    """How many tokens `model` reads at once, by one rule: the first position limit its configuration
    sets (`POSITION_FIELDS`; a wrapper's `encoder.config` where it has no config of its own), lowered to
    the tokenizer's `model_max_length` when a tokenizer is given and sets one (RoBERTa's 514 positions
    hold 512 tokens); `default` when neither says."""
    limits = []
    if model is not None:
        config = getattr(model, "config", None) or getattr(getattr(model, "encoder", None), "config", None)
        for name in POSITION_FIELDS:
            v = getattr(config, name, None)
            if isinstance(v, int) and v > 0:
                limits.append(v)
                break
    tm = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if isinstance(tm, int) and 0 < tm < NO_LIMIT:
        limits.append(tm)
    return min(limits) if limits else default


def model_max_tokens(tokenizer: Any, model: Module | None = None, cap: int = 512) -> int:
    """The most tokens a page lets a text have: `max_positions`, at most `cap`."""
    return min(cap, max_positions(model, tokenizer))


def encode(
    tokenizer: Any,
    text: str | None,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    add_special_tokens: bool = True,
    what: str = "text",
) -> Encoded:
    """Clean and tokenize `text`, keeping at most `max_tokens` tokens (special tokens included).

    Over-long text is cut (``truncated=True``) and a note says what the limit is.
    """
    text = clean_text(text, what=what)
    full = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = list(full["input_ids"])
    offsets = [tuple(o) for o in full.get("offset_mapping", [(0, 0)] * len(ids))]
    try:
        word_ids = list(full.word_ids())
    except (ValueError, AttributeError):
        word_ids = list(range(len(ids)))
    special_ids = set(tokenizer.all_special_ids or [])
    special = [i in special_ids and (o == (0, 0) or o[0] == o[1]) for i, o in zip(ids, offsets)]
    original = len(ids)
    truncated = False
    notes: list[str] = []
    if original > max_tokens:
        truncated = True
        # keep leading tokens and any trailing special tokens (e.g. [SEP], </s>)
        tail = 0
        while tail < len(ids) and special[len(ids) - 1 - tail]:
            tail += 1
        keep = max(1, max_tokens - tail)
        sel = list(range(keep)) + list(range(len(ids) - tail, len(ids)))
        ids = [ids[i] for i in sel]
        offsets = [offsets[i] for i in sel]
        word_ids = [word_ids[i] for i in sel]
        special = [special[i] for i in sel]
        cut_at = max((o[1] for o, s in zip(offsets, special) if not s), default=0)
        notes.append(
            f"The {what} is {original} tokens long; the limit here is {max_tokens}. "
            f"Only the first {count(len(ids), 'token')} (up to “…{text[max(0, cut_at - 30) : cut_at]}”) are used."
        )
        text = text[:cut_at] if cut_at else text
    if not any(not s for s in special):
        raise ExplorerError(f"The {what} has no tokens the model can read.", "Type a few words.")
    return Encoded(
        text=text,
        ids=ids,
        pieces=display_pieces(tokenizer, ids),
        special=special,
        word_ids=word_ids,
        offsets=offsets,
        truncated=truncated,
        original_length=original,
        limit=max_tokens,
        notes=notes,
    )


def word_groups(enc: Encoded) -> dict[int, list[int]]:
    """Word index → token positions of that word (special tokens excluded)."""
    groups: dict[int, list[int]] = {}
    for pos, (w, s) in enumerate(zip(enc.word_ids, enc.special)):
        if s or w is None:
            continue
        groups.setdefault(w, []).append(pos)
    return groups


def word_text(enc: Encoded, positions: list[int]) -> str:
    """The original text covered by token positions (without the space a byte-level token carries)."""
    spans = [enc.offsets[p] for p in positions if enc.offsets[p][1] > enc.offsets[p][0]]
    if not spans:
        return ""
    return enc.text[min(s for s, _ in spans) : max(e for _, e in spans)].strip()
