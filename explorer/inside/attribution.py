"""Token attribution: which tokens of the text made the model predict a word ("why did it say that?").

Three methods, each a number per token of the context (`explorer.inside.readings` says what is explained:
the log-probability of the word at the blank, as the page reads it, or that minus the log-probability of
another word, "why this word rather than that one"):

- **gradient × input** (Captum's `InputXGradient`): the gradient of the value with respect to each token's
  embedding, dotted with the embedding. One forward and one backward pass; a first-order guess.
- **Integrated Gradients** (Captum's `IntegratedGradients`, Sundararajan et al. 2017): the same product,
  averaged along a straight path from a baseline (every context token's embedding set to zero; special
  tokens and other blanks kept) to the text. The credits add up to value(text) - value(baseline); Captum's
  convergence delta says how far the `steps`-point path integral is from that. The steps run in batches.
- **attention × gradient** (`explorer.inside.rollout`): the gradient-weighted attention, rolled out through
  the layers (Chefer et al. 2021): the attention paths, weighted by what matters to this prediction.

A causal LM reads only to the left, so every method gives exactly zero to the tokens after the blank.
Results are cached per (model, text, target, method) for every session of the process, as forward passes are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.inside.readings import Question, embeddings, make_question, score
from explorer.inside.rollout import rollout
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import display_pieces

GRADIENT = "gradient × input"
INTEGRATED = "Integrated Gradients"
ATTENTION = "attention × gradient"
METHODS = (INTEGRATED, GRADIENT, ATTENTION)
METHOD_NOTES = {
    GRADIENT: "the gradient of the prediction with respect to each token's embedding, times the embedding "
    "(one forward and one backward pass)",
    INTEGRATED: "gradient × input averaged along a path from an empty text (every token's embedding at zero) "
    "to this one; the credits add up to the change in log-probability along that path",
    ATTENTION: "the attention maps of every layer, each head weighted by the gradient of the prediction, "
    "followed through the layers (Chefer et al. 2021); how much a token matters, not which way",
}
DEFAULT_STEPS = 32
MAX_STEPS = 256
STEP_BATCH = 16  # Integrated Gradients' path points per forward/backward pass (and per progress report)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Attribution:
    """Credit per context token for one prediction. `pieces` are the context's tokens with `BLANK` inserted
    at `blank`; `scores[i]` is None at the blank and at tokens that take no credit (special tokens, other
    blanks). `value` is the explained log-probability (difference); for Integrated Gradients,
    `baseline_value` is the same at the baseline and `delta` Captum's convergence delta."""

    pieces: tuple[str, ...]
    scores: tuple[float | None, ...]
    blank: int
    method: str
    value: float
    baseline_value: float | None = None
    delta: float | None = None
    steps: int | None = None
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return float(sum(s for s in self.scores if s is not None))

    def left(self) -> list[float | None]:
        return list(self.scores[: self.blank])

    def right(self) -> list[float | None]:
        return list(self.scores[self.blank + 1 :])


BLANK = "___"
_CACHE = ForwardCache(64)  # per model: (ids, blank, target, contrast, method, steps) -> Attribution


def attribute(
    lm: LoadedModel,
    ids: Sequence[int],
    start: int,
    end: int,
    target: Sequence[int],
    *,
    contrast: Sequence[int] = (),
    method: str = INTEGRATED,
    steps: int = DEFAULT_STEPS,
    progress: Progress | None = None,
) -> Attribution:
    """Credit each token of `ids` (all but ids[start:end], the blank) for the word `target` (token ids) at
    the blank; with `contrast`, for `target` rather than `contrast`. A masked LM reads the blank with its
    pieces masked (whatever ids[start:end] holds), a causal LM from the tokens before it."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown attribution method {method!r}.", f"Pick one of: {', '.join(METHODS)}.")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ExplorerError(f"Integrated Gradients takes 1 to {MAX_STEPS} steps, not {steps}.")
    model, tok = model_parts(lm)
    q = make_question(lm, ids, start, end, target, contrast)
    steps = int(steps) if method == INTEGRATED else None

    def compute() -> Attribution:
        began = time.perf_counter()
        credit, value, base, delta = _run(model, q, method, steps, progress)
        pieces = display_pieces(tok, list(q.context))
        scores = [None if fixed else float(c) for c, fixed in zip(credit.tolist(), q.fixed)]
        return Attribution(
            tuple(pieces[: q.start] + [BLANK] + pieces[q.start :]),
            tuple(scores[: q.start] + [None] + scores[q.start :]),
            q.start,
            method,
            value,
            base,
            delta,
            steps,
            time.perf_counter() - began,
        )

    if not is_frozen(model):  # a model in training changes: never cached
        return compute()
    key = (tuple(int(i) for i in ids), int(start), int(end), tuple(target), tuple(contrast), method, steps)
    return _CACHE.get(model, key, compute)


def _run(model, q: Question, method: str, steps: int | None, progress: Progress | None):
    from captum.attr import InputXGradient, IntegratedGradients

    ctx = embeddings(model, q.context)
    if method == ATTENTION:
        credit, value = rollout(model, q, ctx)
        _report(progress, 1, 1)
        return credit, value, None, None
    fixed = torch.tensor(q.fixed)[None, :, None]
    calls, last = [0], []
    total = 1 if method == GRADIENT else -(-steps // STEP_BATCH)

    def forward(x: torch.Tensor) -> torch.Tensor:
        # tokens that take no credit stay at their own embedding whatever Captum scales (their credit is 0)
        value = score(model, q, torch.where(fixed, ctx, x))
        calls[0] += 1
        last[:] = [value.detach()]
        _report(progress, min(calls[0], total), total)
        return value

    with torch.enable_grad():
        if method == GRADIENT:
            attr = InputXGradient(forward).attribute(ctx.clone().requires_grad_(True))
            value = float(last[0][0])  # the one forward pass Captum made, at the text itself
            base = delta = None
        else:
            baseline = torch.where(fixed, ctx, torch.zeros_like(ctx))
            attr = IntegratedGradients(forward).attribute(
                ctx, baselines=baseline, n_steps=steps, method="gausslegendre", internal_batch_size=STEP_BATCH
            )
            # Captum's convergence delta, sum(credits) - (value - base), with both ends in float32 as the path's
            # points are (a frozen masked LM multiplies in bfloat16 when no gradient is taken, as Captum's own is)
            value, base = (float(v) for v in score(model, q, torch.cat([ctx, baseline])).detach())
            delta = float(attr.detach().sum()) - (value - base)
    # tokens held fixed get 0 by construction: no gradient reaches them, and x - baseline is 0 there
    return attr.detach()[0].sum(-1), value, base, delta


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
