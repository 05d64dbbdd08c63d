"""The next-token distribution: probabilities, top candidates, the rest, entropy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from explorer.clm.forward import as_ids, next_token_logits, piece_text
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded

TOP_N = 10  # candidates listed by default


def softmax(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """Probabilities (float64) from logits; -inf logits get probability 0."""
    x = torch.as_tensor(logits).double()
    return torch.softmax(x, dim=-1).numpy()


def entropy_bits(probs: np.ndarray) -> float:
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def rank_of(probs: np.ndarray, token_id: int) -> int:
    """1-based rank of a token (1 = most likely)."""
    return int((probs > probs[int(token_id)]).sum()) + 1


@dataclass
class Candidate:
    token_id: int
    piece: str
    prob: float
    logit: float
    rank: int  # 1 = most likely


@dataclass
class NextToken:
    """The model's distribution over the next token after `context_ids`."""

    context_ids: list[int]
    logits: np.ndarray  # float32, one per vocabulary entry
    probs: np.ndarray  # float64, sums to 1
    top: list[Candidate]

    @property
    def other(self) -> float:
        """Probability mass outside the listed candidates."""
        return max(0.0, 1.0 - sum(c.prob for c in self.top))

    @property
    def entropy(self) -> float:
        """Entropy in bits: 0 when the model is sure; log2(vocabulary) when it has no idea."""
        return entropy_bits(self.probs)

    @property
    def effective_choices(self) -> float:
        """2 ** entropy: as uncertain as a fair choice between this many tokens."""
        return float(2**self.entropy)

    def frame(self) -> pd.DataFrame:
        rows = [
            {"rank": c.rank, "token": c.piece, "id": c.token_id, "probability": c.prob, "logit": c.logit}
            for c in self.top
        ]
        rows.append({"rank": None, "token": "(other)", "id": None, "probability": self.other, "logit": None})
        return pd.DataFrame(rows)


def top_order(probs: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` largest values, largest first, ties in index order: a stable
    ``argsort(-probs)[:n]`` without sorting the whole vocabulary."""
    probs = np.asarray(probs)
    if not 0 < n < len(probs):
        return np.argsort(-probs, kind="stable")[:n]
    nth = np.partition(probs, len(probs) - n)[len(probs) - n]  # the n-th largest value
    near = np.flatnonzero(probs >= nth)  # the n largest and any ties with the last of them
    return near[np.argsort(-probs[near], kind="stable")][:n]


def top_candidates(probs: np.ndarray, logits: np.ndarray, tokenizer: Any, n: int) -> list[Candidate]:
    n = max(1, min(int(n), len(probs)))
    order = top_order(probs, n)
    return [
        Candidate(int(i), piece_text(tokenizer, int(i)), float(probs[i]), float(logits[i]), r + 1)
        for r, i in enumerate(order)
    ]


def next_token_distribution(
    lm: LoadedModel, tokens: Encoded | Sequence[int] | torch.Tensor, *, top_n: int = TOP_N
) -> NextToken:
    """Softmax of the model's last-position logits: what it predicts after `tokens` (`lm`: a `LoadedModel`)."""
    _, tokenizer = model_parts(lm)
    ids = as_ids(tokens)
    return distribution_of(ids, next_token_logits(lm, ids).numpy(), tokenizer, top_n=top_n)


def distribution_of(ids: list[int], logits: np.ndarray, tokenizer: Any, *, top_n: int = TOP_N) -> NextToken:
    """The distribution after `ids` from the model's logits there."""
    probs = softmax(logits)
    return NextToken(list(ids), logits, probs, top_candidates(probs, logits, tokenizer, top_n))
