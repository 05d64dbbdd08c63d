"""T5's sentinels: ``<extra_id_0>``, ``<extra_id_1>``, … stand for the dropped spans. Number them, put them
into a sequence in place of its noise spans (input) and list the spans after them (target), split a
target back into spans, and write the spans back into the input (reconstruction), on pieces, ids or text.

    input : The <extra_id_0> walks in <extra_id_1> park
    target: <extra_id_0> cute dog <extra_id_1> the <extra_id_2>
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence, TypeVar

from explorer.errors import ExplorerError
from explorer.span.noise import span_bounds

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
    """Token id → sentinel number for the sentinels a tokenizer knows (T5: 100 of them). Looked up by name
    first (a hundred lookups); the whole vocabulary is read only for a tokenizer that has none by that name."""
    unknown = getattr(tokenizer, "unk_token_id", None)
    out = {}
    for n in range(MAX_SENTINELS):
        i = tokenizer.convert_tokens_to_ids(sentinel(n))
        if isinstance(i, int) and i != unknown and i >= 0:
            out[i] = n
    if out:
        return out
    for tok, i in tokenizer.get_vocab().items():
        n = sentinel_number(tok)
        if n is not None:
            out[int(i)] = n
    return out


def sentinel_lookup(tokenizer: Any, count: int) -> dict[int, int] | None:
    """Sentinel number → token id for the first `count` sentinels; None if the tokenizer lacks them."""
    unk = getattr(tokenizer, "unk_token_id", None)
    out = {}
    for n in range(count):
        i = tokenizer.convert_tokens_to_ids(sentinel(n))
        if i is None or i == unk:
            return None
        out[n] = int(i)
    return out
