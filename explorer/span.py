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

Filling the spans back in (T5, or a masked LM offline): `explorer.span_fill`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import pandas as pd

from explorer.errors import ExplorerError
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


# --------------------------------------------------------------------------- the noise mask (T5)


def _random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` items into `num_segments` non-empty segments, all splits equally likely."""
    first_in_segment = np.arange(num_items - 1) < (num_segments - 1)
    rng.shuffle(first_in_segment)
    first_in_segment = np.pad(first_in_segment, [[1, 0]])
    segment_id = np.cumsum(first_in_segment)
    return np.bincount(segment_id, minlength=num_segments)


def random_spans_noise_mask(length: int, noise_density: float = 0.15, mean_noise_span_length: float = 3.0,
                            seed: int | np.random.Generator = 0, *, anywhere: bool = False) -> np.ndarray:
    """T5's noise mask: a boolean array of `length`, True where a token is dropped.

    The counts are deterministic (see the module docstring); only the span boundaries are random.
    One guard is added to T5's code: never more noise spans than non-noise tokens (it only
    matters at densities far above T5's 0.15).

    ``anywhere=True`` is not T5: the same counts, but the text may start with a dropped span and
    end with kept tokens (the kept tokens are split into one more segment, whose first and last
    may be empty), so every mask with these counts is equally likely.
    """
    if not 0.0 < noise_density < 1.0:
        raise ExplorerError("The noise density must be between 0 and 1.")
    if mean_noise_span_length < 1.0:
        raise ExplorerError("The mean span length must be at least 1 token.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    orig_length = int(length)
    length = max(orig_length, 2)  # avoid degeneracy, as T5 does
    num_noise_tokens = int(np.round(length * noise_density))
    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
    num_noise_spans = int(np.round(num_noise_tokens / mean_noise_span_length))
    num_noise_spans = max(num_noise_spans, 1)
    num_nonnoise_tokens = length - num_noise_tokens
    num_noise_spans = min(num_noise_spans, num_nonnoise_tokens)
    noise_span_lengths = _random_segmentation(num_noise_tokens, num_noise_spans, rng)
    if anywhere:
        nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens + 2, num_noise_spans + 1, rng)
        nonnoise_span_lengths[[0, -1]] -= 1
        interleaved = np.append(np.stack([nonnoise_span_lengths[:-1], noise_span_lengths], axis=1).reshape(-1),
                                nonnoise_span_lengths[-1])
        return np.repeat(np.arange(len(interleaved)) % 2 == 1, interleaved)[:orig_length]
    nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens, num_noise_spans, rng)
    interleaved = np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1).reshape(-1)
    span_starts = np.cumsum(interleaved)[:-1]
    span_start_indicator = np.zeros(length, dtype=np.int64)
    span_start_indicator[span_starts] = 1
    span_num = np.cumsum(span_start_indicator)
    is_noise = span_num % 2 == 1
    return is_noise[:orig_length]


def span_bounds(mask: Sequence[bool]) -> list[tuple[int, int]]:
    """[start, end) of every run of True in `mask`, in order."""
    out: list[tuple[int, int]] = []
    start = None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


def span_statistics(length: int, noise_density: float = 0.15, mean_noise_span_length: float = 3.0,
                    seeds: int = 500, *, anywhere: bool = False) -> tuple[list[int], list[float]]:
    """Span lengths (all spans) and noise densities (one per seed) of masks for seeds 0 … seeds−1."""
    lengths: list[int] = []
    densities: list[float] = []
    for seed in range(int(seeds)):
        mask = random_spans_noise_mask(length, noise_density, mean_noise_span_length, seed, anywhere=anywhere)
        lengths += [e - s for s, e in span_bounds(mask)]
        densities.append(float(np.mean(mask)))
    return lengths, densities


# --------------------------------------------------------------------------- sequences with sentinels


def corrupt_sequence(items: Sequence[T], mask: Sequence[bool],
                     make_sentinel: Callable[[int], T]) -> tuple[list[T], list[T]]:
    """(input, target) for T5: each run of masked items → one sentinel in the input; the target
    is every sentinel followed by the items it replaced, then one final sentinel."""
    if len(items) != len(mask):
        raise ValueError("items and mask differ in length")
    bounds = span_bounds(mask)
    if len(bounds) > MAX_SENTINELS:
        raise ExplorerError(f"{len(bounds)} spans need more sentinels than T5 has ({MAX_SENTINELS}).",
                            "Use a shorter text or a lower noise density.")
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


def reconstruct(inputs: Sequence[T], target: Sequence[T],
                number: Callable[[T], int | None] = sentinel_number) -> list[T]:
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


def corrupt_spans(tokenizer: Any, text: str, *, noise_density: float = 0.15, mean_noise_span_length: float = 3.0,
                  seed: int = 0, anywhere: bool = False, max_tokens: int = DEFAULT_MAX_TOKENS) -> Corruption:
    """Tokenize `text` and apply T5 span corruption with a seeded noise mask.

    `anywhere=True` lifts T5's end bias (see `random_spans_noise_mask`).
    """
    text = clean_text(text, what="sentence")
    if SENTINEL_RE.search(text):
        raise ExplorerError("The sentence already contains a sentinel such as <extra_id_0>.",
                            "Type plain text: the sentinels are added by the corruption.")
    enc = encode(tokenizer, text, max_tokens=max_tokens, add_special_tokens=False, what="sentence")
    keep = [i for i, s in enumerate(enc.special) if not s]
    ids = [enc.ids[i] for i in keep]
    offsets = [enc.offsets[i] for i in keep]
    pieces = [enc.pieces[i] for i in keep]
    if len(ids) < 2:
        raise ExplorerError("The sentence is too short to corrupt: it has a single token.",
                            "Type a sentence of a few words.")
    mask = [bool(m) for m in random_spans_noise_mask(len(ids), noise_density, mean_noise_span_length, int(seed),
                                                     anywhere=anywhere)]
    bounds = span_bounds(mask)
    spans = []
    for n, (s, e) in enumerate(bounds):
        cs, ce = _char_range(enc.text, offsets, s, e)
        spans.append(Span(n, s, e, pieces[s:e], ids[s:e], enc.text[cs:ce], cs, ce))

    input_text, cursor = "", 0
    for sp in spans:
        input_text += enc.text[cursor:sp.char_start] + sp.sentinel
        cursor = sp.char_end
    input_text += enc.text[cursor:]
    target_text = target_text_of([sp.text for sp in spans])

    input_pieces, target_pieces = corrupt_sequence(pieces, mask, sentinel)
    by_number = _sentinel_lookup(tokenizer, len(spans) + 1)
    input_ids = target_ids = None
    if by_number is not None:
        input_ids, target_ids = corrupt_sequence(ids, mask, lambda n: by_number[n])
    notes = list(enc.notes)
    return Corruption(text=enc.text, pieces=pieces, ids=ids, mask=mask, spans=spans, input_text=input_text,
                      target_text=target_text, input_pieces=input_pieces, target_pieces=target_pieces,
                      input_ids=input_ids, target_ids=target_ids, noise_density=float(noise_density),
                      mean_noise_span_length=float(mean_noise_span_length), seed=int(seed), notes=notes)


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


# --------------------------------------------------------------------------- three objectives compared


@dataclass
class ObjectiveView:
    """One objective on the tokens of a sentence: what the model's input shows at each token,
    which tokens are hidden from it and which are predicted (the loss positions)."""

    name: str
    shown: list[str]
    hidden: list[bool]
    predicted: list[bool]
    model_sees: str
    model_predicts: str
    loss_positions: int
    example_models: str


def compare_objectives(corruption: Corruption, tokenizer: Any, *, mlm_rate: float = 0.15,
                       seed: int = 0) -> list[ObjectiveView]:
    """Masked LM (BERT's recipe, `explorer.mlm.mask_tokens`), next-token prediction and span
    corruption on the same tokens. `tokenizer` must be the one `corruption` was made with and
    have a mask token (BERT's WordPiece tokenizer does)."""
    from explorer import mlm

    pieces = corruption.pieces
    n = len(pieces)
    enc = mlm.encode_text(None, corruption.text, tokenizer=tokenizer, max_tokens=n + 8)
    content = enc.content_positions
    if [enc.ids[p] for p in content] != corruption.ids:
        raise ExplorerError("The masked-LM tokens do not line up with the span-corruption tokens.",
                            "Compare with the masked LM's own tokenizer.")
    masking = mlm.mask_tokens(enc, tokenizer, mlm_rate, seed)
    actions = [masking.actions[p] for p in content]
    mlm_view = ObjectiveView(
        name="Masked LM (BERT)",
        shown=[masking.input_pieces[p] for p in content],
        hidden=[a in (mlm.MASKED, mlm.RANDOM) for a in actions],
        predicted=[bool(a) for a in actions],
        model_sees="the whole sentence, both sides, with about 15% of the tokens picked: 80% of those become "
                   "[MASK], 10% a random token, 10% stay unchanged",
        model_predicts="the original token at each picked position",
        loss_positions=sum(bool(a) for a in actions),
        example_models="BERT, RoBERTa, MiniLM-MLM",
    )
    clm_view = ObjectiveView(
        name="Next token (GPT)",
        shown=list(pieces),
        hidden=[False] * n,
        predicted=[i > 0 for i in range(n)],
        model_sees="at each position, only the tokens to its left (a causal mask hides the future)",
        model_predicts="every next token, from the second one on",
        loss_positions=n - 1,
        example_models="GPT-2, SmolLM2",
    )
    starts = {sp.start: sp.sentinel for sp in corruption.spans}
    span_view = ObjectiveView(
        name="Span corruption (T5)",
        shown=[starts.get(i, "") if m else p for i, (p, m) in enumerate(zip(pieces, corruption.mask))],
        hidden=list(corruption.mask),
        predicted=list(corruption.mask),
        model_sees=f"the encoder reads the shortened input ({len(corruption.input_pieces)} tokens: "
                   f"one sentinel per dropped span)",
        model_predicts=f"the decoder writes the target ({len(corruption.target_pieces)} tokens: each sentinel "
                       f"followed by its span, then a closing sentinel)",
        loss_positions=len(corruption.target_pieces),
        example_models="T5, Flan-T5, mT5",
    )
    return [mlm_view, clm_view, span_view]


def objectives_frame(views: Sequence[ObjectiveView], n_tokens: int) -> pd.DataFrame:
    """The comparison as a table: what each objective hides, predicts and where its loss is."""
    return pd.DataFrame([{
        "objective": v.name,
        "what is hidden": f"{sum(v.hidden)} of {n_tokens} tokens" if any(v.hidden) else "nothing (only the future)",
        "the model sees": v.model_sees,
        "the model predicts": v.model_predicts,
        "loss positions": v.loss_positions,
        "models trained this way": v.example_models,
    } for v in views])
