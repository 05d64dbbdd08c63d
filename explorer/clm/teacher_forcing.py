"""Teacher forcing: one pass scores every position's prediction of the actual next token."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn import Module

from explorer.clm.forward import FORCED_PASSES, as_ids, check_ids, keep_logits, piece_text
from explorer.clm.prefix import STORE, Rows
from explorer.clm.prompt import start_token_id
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, display_piece, display_pieces


@dataclass
class TeacherForcing:
    """Every position's prediction of the actual next token, from one forward pass.

    Position i reads tokens 0..i and is scored on token i+1, so a text of T tokens gives T-1
    training pairs; the loss is their mean surprisal (cross-entropy) and perplexity is exp(loss).
    """

    ids: list[int]
    pieces: list[str]
    target_probs: np.ndarray  # p(actual next token), one per pair
    surprisal: np.ndarray  # -ln p, nats
    ranks: np.ndarray  # rank of the actual next token (1 = the model's top guess)
    guess_ids: np.ndarray  # the model's most likely next token at each position
    guess_probs: np.ndarray
    entropy: np.ndarray  # bits, the model's uncertainty at each position

    @property
    def n_pairs(self) -> int:
        return len(self.target_probs)

    @property
    def surprisal_bits(self) -> np.ndarray:
        return self.surprisal / math.log(2)

    @property
    def loss(self) -> float:
        """Mean cross-entropy in nats per token: what training minimises."""
        return float(self.surprisal.mean())

    @property
    def perplexity(self) -> float:
        return float(math.exp(self.loss))

    @property
    def accuracy(self) -> float:
        """Share of positions where the model's top guess is the actual next token."""
        return float((self.ranks == 1).mean())

    def pairs(self, context_tokens: int = 8) -> list[tuple[str, str]]:
        """(context → target) pairs as display text; long contexts show their last tokens after '…'."""
        out = []
        for i in range(self.n_pairs):
            lo = max(0, i + 1 - context_tokens)
            ctx = ("…" if lo > 0 else "") + "".join(self.pieces[lo : i + 1])
            out.append((ctx, self.pieces[i + 1]))
        return out

    def frame(self, tokenizer: Any = None, context_tokens: int = 8) -> pd.DataFrame:
        rows = []
        for i, (ctx, target) in enumerate(self.pairs(context_tokens)):
            rows.append(
                {
                    "position": i + 1,
                    "context": ctx,
                    "target": target,
                    "target id": self.ids[i + 1],
                    "p(target)": float(self.target_probs[i]),
                    "surprisal (nats)": float(self.surprisal[i]),
                    "rank": int(self.ranks[i]),
                    "model's guess": piece_text(tokenizer, int(self.guess_ids[i])),
                    "p(guess)": float(self.guess_probs[i]),
                }
            )
        return pd.DataFrame(rows)


def from_start(tokenizer: Any, enc: Encoded) -> Encoded:
    """`enc` with the model's start token in front (`start_token_id`), unless it begins with a special
    token already (a BOS the tokenizer adds, a chat template's first marker).

    Without it the first token of a text has no context at all and the second is predicted from the
    first alone, a position a model never trained on: its surprisal is huge and says nothing about the
    text. From the start token, every token of the text is predicted, the first from the start only, as
    at the beginning of a document."""
    start = start_token_id(tokenizer)
    if start is None or not enc.ids or enc.special[0] or enc.ids[0] in set(tokenizer.all_special_ids or []):
        return enc
    return replace(
        enc,
        ids=[start] + list(enc.ids),
        pieces=[display_piece(tokenizer, start)] + list(enc.pieces),
        special=[True] + list(enc.special),
        word_ids=[None] + list(enc.word_ids),
        offsets=[(0, 0)] + list(enc.offsets),
        notes=list(enc.notes),
    )


def _checked_ids(model: Module, tokens: Encoded | Sequence[int] | torch.Tensor) -> list[int]:
    ids = as_ids(tokens)
    if len(ids) < 2:
        raise ExplorerError(
            "Teacher forcing needs a text of at least two tokens: each token is predicted from the ones before it.",
            "Type a longer text.",
        )
    check_ids(model, ids)
    return ids


def _rows(model: Module, ids: list[int]) -> Rows:
    """One reading of the whole text (from the kept reading of its beginning, `explorer.clm.prefix`), its
    rows also put in the next-token cache."""
    reading, first, logits = STORE.read_logits(model, ids, rows=True)
    keep_logits(model, ids, first, logits)
    return reading.rows


def target_log_probs(lm: LoadedModel, tokens: Encoded | Sequence[int] | torch.Tensor) -> np.ndarray:
    """ln p(actual next token) at every position (float64), from one cached pass: the part of
    `teacher_forcing` that scoring words needs (no ranks, guesses or entropy)."""
    model, _ = model_parts(lm)
    ids = _checked_ids(model, tokens)

    def compute() -> np.ndarray:
        return _rows(model, ids).target_lp.double().numpy()

    return FORCED_PASSES.get(model, ("targets", tuple(ids)), compute)


def teacher_forcing(lm: LoadedModel, tokens: Encoded | Sequence[int] | torch.Tensor) -> TeacherForcing:
    """Score a text the way next-token training does: all positions in parallel, one forward pass."""
    model, tokenizer = model_parts(lm)
    ids = _checked_ids(model, tokens)

    def compute() -> TeacherForcing:
        rows = _rows(model, ids)
        lp = rows.target_lp.double()
        pieces = display_pieces(tokenizer, ids) if tokenizer is not None else [f"<{i}>" for i in ids]
        return TeacherForcing(
            ids,
            pieces,
            lp.exp().numpy(),
            (-lp).numpy(),
            rows.ranks.numpy(),
            rows.best.numpy(),
            rows.best_lp.exp().numpy(),
            rows.entropy.numpy(),
        )

    key = (tuple(ids), tokenizer is not None)
    return FORCED_PASSES.get(model, key, compute)
