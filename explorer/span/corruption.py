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

The sentinels themselves (numbering, corrupting a sequence, splitting a target, writing spans back):
`explorer.span.sentinels`. The noise mask: `explorer.span.noise`. Filling the spans back in (T5, or a masked LM offline):
`explorer.span.fill`. The three objectives compared on one sentence: `explorer.comparisons.objectives`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from explorer.errors import ExplorerError
from explorer.span.noise import random_spans_noise_mask, span_bounds
from explorer.span.sentinels import (
    SENTINEL_RE,
    corrupt_sequence,
    sentinel,
    sentinel_lookup,
    sentinel_number,
    target_text_of,
)
from explorer.tokens import DEFAULT_MAX_TOKENS, clean_text, encode

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
    by_number = sentinel_lookup(tokenizer, len(spans) + 1)
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
