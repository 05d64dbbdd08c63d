"""T5 span corruption: random noise spans (`noise`), T5's sentinels (`sentinels`), a text's input and
target (`corruption`), and
the spans filled back in by T5 or, offline, by a masked LM (`fill`)."""

from explorer.span.noise import random_spans_noise_mask, span_bounds, span_statistics
from explorer.span.sentinels import (
    MAX_SENTINELS,
    PROPER_MODELS,
    SENTINEL_RE,
    corrupt_sequence,
    reconstruct,
    reconstruct_text,
    sentinel,
    sentinel_ids,
    sentinel_lookup,
    sentinel_number,
    split_target,
    target_text_of,
)
from explorer.span.corruption import Corruption, Span, corrupt_spans, corruption_summary
from explorer.span.fill import Fill, SpanFill, fill_with_mlm, fill_with_seq2seq, parse_generated

__all__ = [
    # noise
    "random_spans_noise_mask",
    "span_bounds",
    "span_statistics",
    # sentinels
    "MAX_SENTINELS",
    "PROPER_MODELS",
    "SENTINEL_RE",
    "corrupt_sequence",
    "reconstruct",
    "reconstruct_text",
    "sentinel",
    "sentinel_ids",
    "sentinel_lookup",
    "sentinel_number",
    "split_target",
    "target_text_of",
    # corruption
    "Corruption",
    "Span",
    "corrupt_spans",
    "corruption_summary",
    # fill
    "Fill",
    "SpanFill",
    "fill_with_mlm",
    "fill_with_seq2seq",
    "parse_generated",
]
