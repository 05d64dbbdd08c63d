"""T5's noise mask (``random_spans_noise_mask``): which tokens of a text span corruption drops,
as spans of random lengths, and the span lengths and densities it gives over many seeds."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.errors import ExplorerError


def _random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` items into `num_segments` non-empty segments, all splits equally likely."""
    first_in_segment = np.arange(num_items - 1) < (num_segments - 1)
    rng.shuffle(first_in_segment)
    first_in_segment = np.pad(first_in_segment, [[1, 0]])
    segment_id = np.cumsum(first_in_segment)
    return np.bincount(segment_id, minlength=num_segments)


def random_spans_noise_mask(
    length: int,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    seed: int | np.random.Generator = 0,
    *,
    anywhere: bool = False,
) -> np.ndarray:
    """T5's noise mask: a boolean array of `length`, True where a token is dropped.

    The counts are deterministic (see the `explorer.span` docstring); only the span boundaries are random.
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
        interleaved = np.append(
            np.stack([nonnoise_span_lengths[:-1], noise_span_lengths], axis=1).reshape(-1), nonnoise_span_lengths[-1]
        )
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


def span_statistics(
    length: int,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    seeds: int = 500,
    *,
    anywhere: bool = False,
) -> tuple[list[int], list[float]]:
    """Span lengths (all spans) and noise densities (one per seed) of masks for seeds 0 … seeds−1."""
    lengths: list[int] = []
    densities: list[float] = []
    for seed in range(int(seeds)):
        mask = random_spans_noise_mask(length, noise_density, mean_noise_span_length, seed, anywhere=anywhere)
        lengths += [e - s for s, e in span_bounds(mask)]
        densities.append(float(np.mean(mask)))
    return lengths, densities
