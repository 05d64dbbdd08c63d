"""T5 span corruption: random noise spans (`noise`), sentinels, inputs and targets (`corruption`), and
the spans filled back in by T5 or, offline, by a masked LM (`fill`)."""

from explorer.span.noise import random_spans_noise_mask, span_bounds, span_statistics
from explorer.span.corruption import (
    MAX_SENTINELS,
    PROPER_MODELS,
    SENTINEL_RE,
    Corruption,
    Span,
    corrupt_sequence,
    corrupt_spans,
    corruption_summary,
    reconstruct,
    reconstruct_text,
    sentinel,
    sentinel_ids,
    sentinel_number,
    split_target,
    target_text_of,
)
from explorer.span.fill import Fill, SpanFill, fill_with_mlm, fill_with_seq2seq, parse_generated

__all__ = [
    # noise
    "random_spans_noise_mask",
    "span_bounds",
    "span_statistics",
    # corruption
    "MAX_SENTINELS",
    "PROPER_MODELS",
    "SENTINEL_RE",
    "Corruption",
    "Span",
    "corrupt_sequence",
    "corrupt_spans",
    "corruption_summary",
    "reconstruct",
    "reconstruct_text",
    "sentinel",
    "sentinel_ids",
    "sentinel_number",
    "split_target",
    "target_text_of",
    # fill
    "Fill",
    "SpanFill",
    "fill_with_mlm",
    "fill_with_seq2seq",
    "parse_generated",
]
