"""T5 span corruption: random noise spans, sentinels, targets, reconstruction and span filling.

The noise mask follows T5's ``random_spans_noise_mask`` (text-to-text-transfer-transformer,
``t5/data/preprocessors.py``; the NumPy port in Hugging Face's ``run_t5_mlm_flax.py``):

* ``num_noise_tokens = round(length * noise_density)`` (at least 1, at most ``length - 1``);
* ``num_noise_spans = round(num_noise_tokens / mean_noise_span_length)`` (at least 1);
* noise and non-noise tokens are each split into that many non-empty spans, uniformly at
  random, and the spans alternate, starting with non-noise (so the text always ends with a
  dropped span; T5 applies this to 512-token chunks where that matters little).

Each dropped span becomes one sentinel (``<extra_id_0>``, ``<extra_id_1>``, …) in the input; the
target lists every sentinel followed by the tokens it replaced, and ends with one more sentinel,
as in the T5 paper and the Hugging Face T5 documentation::

    input : The <extra_id_0> walks in <extra_id_1> park
    target: <extra_id_0> cute dog <extra_id_1> the <extra_id_2>

The noise mask itself: `explorer.span.noise`. Filling the spans back in (T5, or a masked LM offline):
`explorer.span.fill`. The three objectives compared on one sentence: `explorer.comparisons.objectives`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

from explorer.errors import ExplorerError
from explorer.span.noise import random_spans_noise_mask, span_bounds
from explorer.tokens import DEFAULT_MAX_TOKENS, clean_text, encode

T = TypeVar("T")

SENTINEL_RE = re.compile(r"<extra_id_(\d+)>")
MAX_SENTINELS = 100  # T5's vocabulary has <extra_id_0> … <extra_id_99>
PROPER_MODELS = "t5-small or google/flan-t5-small"


def sentinel(n: int) -> str:
    """The n-th sentinel token's text."""
    return f"<extra_id_{n}>"


def sentinel_number(item: Any) -> int | None:
    """The sentinel number of a token string (``<extra_id_3>`` → 3), None for other tokens."""
    if not isinstance(item, str):
        return None
    m = SENTINEL_RE.fullmatch(item.strip())
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- sequences with sentinels


def corrupt_sequence(
    items: Sequence[T], mask: Sequence[bool], make_sentinel: Callable[[int], T]
) -> tuple[list[T], list[T]]:
    """(input, target) for T5: each run of masked items → one sentinel in the input; the target
    is every sentinel followed by the items it replaced, then one final sentinel."""
    if len(items) != len(mask):
        raise ValueError("items and mask differ in length")
    bounds = span_bounds(mask)
    if len(bounds) > MAX_SENTINELS:
        raise ExplorerError(
            f"{len(bounds)} spans need more sentinels than T5 has ({MAX_SENTINELS}).",
            "Use a shorter text or a lower noise density.",
        )
    inputs: list[T] = []
    target: list[T] = []
    starts = {s: n for n, (s, _) in enumerate(bounds)}
    for i, (item, m) in enumerate(zip(items, mask)):
        if not m:
            inputs.append(item)
        elif i in starts:
            inputs.append(make_sentinel(starts[i]))
    for n, (s, e) in enumerate(bounds):
        target.append(make_sentinel(n))
        target.extend(items[s:e])
    target.append(make_sentinel(len(bounds)))
    return inputs, target


def split_target(target: Sequence[T], number: Callable[[T], int | None]) -> dict[int, list[T]]:
    """Sentinel number → the items that follow it in a target (up to the next sentinel)."""
    spans: dict[int, list[T]] = {}
    current: int | None = None
    for item in target:
        n = number(item)
        if n is not None:
            current = n
            spans.setdefault(n, [])
        elif current is not None:
            spans[current].append(item)
    return spans


def reconstruct(
    inputs: Sequence[T], target: Sequence[T], number: Callable[[T], int | None] = sentinel_number
) -> list[T]:
    """The original sequence from a corrupted input and its target (sentinels replaced by spans)."""
    spans = split_target(target, number)
    out: list[T] = []
    for item in inputs:
        n = number(item)
        if n is None:
            out.append(item)
        elif n in spans:
            out.extend(spans[n])
        else:
            raise ExplorerError(f"The target has no span for {sentinel(n)}.")
    return out


def reconstruct_text(input_text: str, target_text: str) -> str:
    """The original text from a corrupted input text and a target text such as
    ``<extra_id_0> cute dog <extra_id_1> the <extra_id_2>``."""
    parts = SENTINEL_RE.split(target_text)
    spans = {int(parts[i]): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}

    def fill(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in spans:
            raise ExplorerError(f"The target has no span for {sentinel(n)}.")
        return spans[n]

    return SENTINEL_RE.sub(fill, input_text)


def target_text_of(span_texts: Sequence[str]) -> str:
    """``<extra_id_0> span0 <extra_id_1> span1 … <extra_id_k>``."""
    parts = []
    for n, t in enumerate(span_texts):
        parts.append(sentinel(n))
        if t:
            parts.append(t)
    parts.append(sentinel(len(span_texts)))
    return " ".join(parts)


def sentinel_ids(tokenizer: Any) -> dict[int, int]:
    """Token id → sentinel number for the sentinels a tokenizer knows (T5: 100 of them)."""
    out: dict[int, int] = {}
    for tok, i in tokenizer.get_vocab().items():
        n = sentinel_number(tok)
        if n is not None:
            out[int(i)] = n
    return out


def _sentinel_lookup(tokenizer: Any, count: int) -> dict[int, int] | None:
    """Sentinel number → token id for the first `count` sentinels; None if the tokenizer lacks them."""
    unk = getattr(tokenizer, "unk_token_id", None)
    out = {}
    for n in range(count):
        i = tokenizer.convert_tokens_to_ids(sentinel(n))
        if i is None or i == unk:
            return None
        out[n] = int(i)
    return out


# --------------------------------------------------------------------------- corruption of a text


@dataclass(frozen=True)
class Span:
    """One dropped span: token positions [start, end) and the characters they cover."""

    number: int
    start: int
    end: int
    pieces: list[str]
    ids: list[int]
    text: str
    char_start: int
    char_end: int

    @property
    def sentinel(self) -> str:
        return sentinel(self.number)

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class Corruption:
    """A text after T5 span corruption, at the token level and as text."""

    text: str
    pieces: list[str]
    ids: list[int]
    mask: list[bool]
    spans: list[Span]
    input_text: str
    target_text: str
    input_pieces: list[str]
    target_pieces: list[str]
    input_ids: list[int] | None  # None when the tokenizer has no sentinel tokens
    target_ids: list[int] | None
    noise_density: float
    mean_noise_span_length: float
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def n_noise(self) -> int:
        return int(sum(self.mask))

    @property
    def input_sentinel_positions(self) -> list[int]:
        return [i for i, p in enumerate(self.input_pieces) if sentinel_number(p) is not None]


def _char_range(text: str, offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    covered = [o for o in offsets[start:end] if o[1] > o[0]]
    if not covered:
        at = offsets[start][0] if start < len(offsets) else len(text)
        return at, at
    s, e = min(o[0] for o in covered), max(o[1] for o in covered)
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def corrupt_spans(
    tokenizer: Any,
    text: str,
    *,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    seed: int = 0,
    anywhere: bool = False,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Corruption:
    """Tokenize `text` and apply T5 span corruption with a seeded noise mask.

    `anywhere=True` lifts T5's end bias (see `random_spans_noise_mask`).
    """
    text = clean_text(text, what="sentence")
    if SENTINEL_RE.search(text):
        raise ExplorerError(
            "The sentence already contains a sentinel such as <extra_id_0>.",
            "Type plain text: the sentinels are added by the corruption.",
        )
    enc = encode(tokenizer, text, max_tokens=max_tokens, add_special_tokens=False, what="sentence")
    keep = [i for i, s in enumerate(enc.special) if not s]
    ids = [enc.ids[i] for i in keep]
    offsets = [enc.offsets[i] for i in keep]
    pieces = [enc.pieces[i] for i in keep]
    if len(ids) < 2:
        raise ExplorerError(
            "The sentence is too short to corrupt: it has a single token.", "Type a sentence of a few words."
        )
    mask = [
        bool(m)
        for m in random_spans_noise_mask(len(ids), noise_density, mean_noise_span_length, int(seed), anywhere=anywhere)
    ]
    bounds = span_bounds(mask)
    spans = []
    for n, (s, e) in enumerate(bounds):
        cs, ce = _char_range(enc.text, offsets, s, e)
        spans.append(Span(n, s, e, pieces[s:e], ids[s:e], enc.text[cs:ce], cs, ce))

    input_text, cursor = "", 0
    for sp in spans:
        input_text += enc.text[cursor : sp.char_start] + sp.sentinel
        cursor = sp.char_end
    input_text += enc.text[cursor:]
    target_text = target_text_of([sp.text for sp in spans])

    input_pieces, target_pieces = corrupt_sequence(pieces, mask, sentinel)
    by_number = _sentinel_lookup(tokenizer, len(spans) + 1)
    input_ids = target_ids = None
    if by_number is not None:
        input_ids, target_ids = corrupt_sequence(ids, mask, lambda n: by_number[n])
    notes = list(enc.notes)
    return Corruption(
        text=enc.text,
        pieces=pieces,
        ids=ids,
        mask=mask,
        spans=spans,
        input_text=input_text,
        target_text=target_text,
        input_pieces=input_pieces,
        target_pieces=target_pieces,
        input_ids=input_ids,
        target_ids=target_ids,
        noise_density=float(noise_density),
        mean_noise_span_length=float(mean_noise_span_length),
        seed=int(seed),
        notes=notes,
    )


def corruption_summary(c: Corruption) -> dict[str, float]:
    """Token counts: the input gets shorter, the target is short."""
    return {
        "original tokens": len(c.pieces),
        "input tokens": len(c.input_pieces),
        "target tokens": len(c.target_pieces),
        "dropped tokens": c.n_noise,
        "spans": len(c.spans),
        "noise density": c.n_noise / len(c.pieces),
        "mean span length": c.n_noise / max(len(c.spans), 1),
    }
