"""What a token attribution explains: a word predicted at a blank, as the model itself reads it.

A question is the text's tokens without the blank's own (the *context*, the tokens that get credit) and one
or more *readings*: a row the model reads, with something written in the blank and the token ids read back
at given positions. The explained value is the sum of the readings' log-probabilities (minus those of a
contrast word: "why this word rather than that one"):

- a masked LM reads a word of n pieces as the pages score it (PLL-word-l2r): n rows, row i with the first i
  pieces written in and the rest still masked, reading piece i at its own position;
- a causal LM reads it by the chain rule: one row with the word written in, each piece read from the
  position before it (so the blank needs a token before it).

`score(model, question, context_embeddings)` is that value for a batch of context embeddings (the function
Captum differentiates); `sequences` builds the rows the model reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import max_positions


@dataclass(frozen=True)
class Reading:
    """One row the model reads: `region` written in the blank, `reads` = (logits position, token id) pairs."""

    region: tuple[int, ...]
    reads: tuple[tuple[int, int], ...]
    sign: float = 1.0


@dataclass(frozen=True)
class Question:
    """The context (every token but the blank's), where the blank sits in it, which context tokens are held
    fixed (special tokens and other blanks: never credited), and the readings."""

    context: tuple[int, ...]
    start: int
    fixed: tuple[bool, ...]
    readings: tuple[Reading, ...]


def word_readings(role: str, mask_id: int | None, start: int, pieces: Sequence[int], sign: float) -> list[Reading]:
    """How a model of `role` reads the word `pieces` at a blank starting at context position `start`."""
    pieces = tuple(int(p) for p in pieces)
    if role == "clm":
        if start < 1:
            raise ExplorerError(
                "A causal LM has nothing before the first token to predict it from.",
                "Explain a word that has at least one token before it.",
            )
        return [Reading(pieces, tuple((start - 1 + i, p) for i, p in enumerate(pieces)), sign)]
    if mask_id is None:
        raise ExplorerError("This masked LM has no mask token, so it cannot read a blank.")
    n = len(pieces)
    return [Reading(pieces[:i] + (mask_id,) * (n - i), ((start + i, pieces[i]),), sign) for i in range(n)]


def make_question(
    lm: LoadedModel, ids: Sequence[int], start: int, end: int, target: Sequence[int], contrast: Sequence[int] = ()
) -> Question:
    """The question "why `target` in ids[start:end]?" (and "rather than `contrast`?") for `lm`'s role."""
    model, tok = model_parts(lm)
    ids = [int(i) for i in ids]
    if not 0 <= start <= end <= len(ids):
        raise ExplorerError("The blank to explain is outside the text.")
    if not target:
        raise ExplorerError("There is no prediction to explain yet.", "Predict a word first.")
    if tuple(contrast) == tuple(target):
        raise ExplorerError("Pick a word other than the one explained to compare it with.")
    longest = len(ids) - (end - start) + max(len(target), len(contrast))
    if longest > max_positions(model):
        raise ExplorerError(f"The text is {longest} tokens long; this model reads at most {max_positions(model)}.")
    context = ids[:start] + ids[end:]
    mask_id = getattr(tok, "mask_token_id", None)
    special = set(tok.all_special_ids or []) | ({mask_id} if mask_id is not None else set())
    fixed = tuple(i in special for i in context)
    if all(fixed):
        raise ExplorerError(
            "There is nothing in the text but the blank, so nothing can take the credit.",
            "Type a longer text: an attribution shares the prediction out among the other tokens.",
        )
    role = lm.info.role
    readings = word_readings(role, mask_id, start, target, 1.0)
    if contrast:
        readings += word_readings(role, mask_id, start, contrast, -1.0)
    return Question(tuple(context), start, fixed, tuple(readings))


def embeddings(model: Module, ids: Sequence[int]) -> torch.Tensor:
    """The input embeddings of `ids` (1, T, d), detached: what attributions are taken with respect to."""
    with torch.no_grad():
        return model.get_input_embeddings()(torch.tensor([list(ids)])).detach().float()


def sequences(model: Module, q: Question, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The rows the model reads for a batch of context embeddings `ctx` (N, Tc, d): embeddings (N*R, L, d)
    (row n*R + r: context n, reading r, padded on the right), their attention mask and each row's length."""
    n, d = ctx.shape[0], ctx.shape[-1]
    regions = [embeddings(model, r.region)[0].to(ctx.dtype) if r.region else ctx.new_zeros(0, d) for r in q.readings]
    lengths = [ctx.shape[1] + len(r.region) for r in q.readings]
    longest = max(lengths)
    rows = []
    for region, length in zip(regions, lengths):
        row = torch.cat([ctx[:, : q.start], region.expand(n, -1, -1), ctx[:, q.start :]], dim=1)
        rows.append(torch.nn.functional.pad(row, (0, 0, 0, longest - length)))
    embeds = torch.stack(rows, dim=1).reshape(n * len(rows), longest, d)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for r, length in enumerate(lengths):
        mask[r, :length] = 1
    return embeds, mask.repeat(n, 1), lengths


def _logits_at(model: Module, embeds: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
    if hasattr(model, "logits_at"):  # the project's masked LM: the head only where it is read
        return model.logits_at(None, rows, cols, attention_mask=mask, inputs_embeds=embeds)
    keep = torch.unique(cols)  # a causal LM's head only at the columns read (a model that ignores it gives all)
    logits = model(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=keep).logits
    if logits.shape[1] == len(keep) != embeds.shape[1]:
        return logits[rows, torch.searchsorted(keep, cols)]
    return logits[rows, cols]


def read_value(q: Question, log_probs: Any, n: int) -> torch.Tensor:
    """The explained value per context (n,) from log-probabilities over the vocabulary at every read, in
    the order `reads_index` lists them."""
    reads = [(r, tid, reading.sign) for r, reading in enumerate(q.readings) for _, tid in reading.reads]
    per_read = len(reads)
    picked = log_probs.reshape(n, per_read, -1)[:, torch.arange(per_read), torch.tensor([t for _, t, _ in reads])]
    signs = torch.tensor([s for _, _, s in reads], dtype=picked.dtype)
    return (picked * signs).sum(-1)


def reads_index(q: Question, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every read of every context of a batch of n, in `read_value`'s order."""
    rows, cols = [], []
    for i in range(n):
        for r, reading in enumerate(q.readings):
            for col, _ in reading.reads:
                rows.append(i * len(q.readings) + r)
                cols.append(col)
    return torch.tensor(rows), torch.tensor(cols)


def score(model: Module, q: Question, ctx: torch.Tensor) -> torch.Tensor:
    """The explained value (log-probability of the word, minus the contrast word's) for each of a batch of
    context embeddings (N, Tc, d) -> (N,)."""
    embeds, mask, _ = sequences(model, q, ctx)
    rows, cols = reads_index(q, ctx.shape[0])
    logits = _logits_at(model, embeds, mask, rows, cols)
    return read_value(q, torch.log_softmax(logits.float(), dim=-1), ctx.shape[0])
