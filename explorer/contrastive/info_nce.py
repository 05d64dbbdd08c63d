"""InfoNCE, the contrastive loss: `info_nce` is the in-batch contrastive loss (SimCSE, CLIP, sentence-transformers'
MultipleNegativesRankingLoss): for anchors a_i and positives p_i, the logits are
cos(a_i, p_j) / temperature, the positive of row i is column i, every other column is an
in-batch negative, and the loss is the cross-entropy of each row against its diagonal.
`parse_pairs` reads (anchor, positive) pairs typed one pair a line; `infonce_frame` is the loss row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from explorer.contrastive.embeddings import cosine_matrix
from explorer.errors import ExplorerError
from explorer.tokens import clean_text

# --------------------------------------------------------------------------- InfoNCE


@dataclass
class InfoNCE:
    """In-batch contrastive loss for a batch of (anchor, positive) pairs."""

    similarity: np.ndarray  # [n, n] cosine(anchor_i, positive_j)
    temperature: float
    logits: np.ndarray  # similarity / temperature
    probs: np.ndarray  # row-wise softmax: how much each candidate takes of row i's denominator
    row_loss: np.ndarray  # -log probs[i, i]
    loss: float  # mean of row_loss (or of rows and columns when symmetric)
    symmetric: bool = False
    column_loss: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        """Share of anchors whose own positive is the most similar candidate."""
        return float(np.mean(self.similarity.argmax(axis=1) == np.arange(len(self.similarity))))

    @property
    def positive_similarity(self) -> float:
        """Mean cosine of the pairs that belong together (the diagonal)."""
        return float(np.mean(np.diag(self.similarity)))

    @property
    def negative_similarity(self) -> float:
        """Mean cosine of the pairs that do not (everything off the diagonal)."""
        off = ~np.eye(len(self.similarity), dtype=bool)
        return float(np.mean(self.similarity[off]))

    def contributions(self) -> np.ndarray:
        """Term (i, j) of row i's loss, log(1 + Σ_j≠i exp((s_ij − s_ii)/τ)): exp((s_ij − s_ii)/τ)
        for each negative j (0 on the diagonal). A term near 0 means that negative is already far
        enough; the row's loss is log(1 + the row's sum)."""
        diag = np.diag(self.logits)[:, None]
        terms = np.exp(self.logits - diag)
        np.fill_diagonal(terms, 0.0)
        return terms


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def info_nce(
    anchors: np.ndarray, positives: np.ndarray, temperature: float = 0.05, *, symmetric: bool = False
) -> InfoNCE:
    """InfoNCE over cosine similarities: row i's target is column i, the rest are negatives."""
    a, p = np.asarray(anchors, dtype=np.float64), np.asarray(positives, dtype=np.float64)
    if a.shape != p.shape or a.ndim != 2:
        raise ExplorerError("Every anchor needs exactly one positive.")
    if len(a) < 2:
        raise ExplorerError(
            "A contrastive batch needs at least two pairs (otherwise there are no negatives).", "Add another pair."
        )
    if not temperature > 0:
        raise ExplorerError("The temperature must be above 0.")
    sim = cosine_matrix(a, p)
    logits = sim / temperature
    logp = _log_softmax(logits, axis=1)
    row_loss = -np.diag(logp)
    col_loss = None
    loss = float(row_loss.mean())
    if symmetric:
        col_loss = -np.diag(_log_softmax(logits, axis=0))
        loss = float((row_loss.mean() + col_loss.mean()) / 2)
    return InfoNCE(sim, float(temperature), logits, np.exp(logp), row_loss, loss, symmetric, col_loss)


# --------------------------------------------------------------------------- batches of pairs


def parse_pairs(text: str, *, need_positives: bool = True, limit: int = 16) -> list[tuple[str, str]]:
    """Lines of ``anchor | positive`` → pairs. Without `need_positives`, the positive may be missing
    (it is then made by augmentation) and is returned as ""."""
    pairs: list[tuple[str, str]] = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        anchor, sep, positive = line.partition("|")
        if not anchor.strip():
            raise ExplorerError(f"Line {n} has no anchor sentence before the '|'.")
        if need_positives and not positive.strip():
            raise ExplorerError(
                f"Line {n} has no positive: write 'anchor | positive'.",
                "Or make the positives by augmentation (dropout or word dropout).",
            )
        pairs.append(
            (clean_text(anchor, what="anchor"), clean_text(positive, what="positive") if positive.strip() else "")
        )
    if len(pairs) < 2:
        raise ExplorerError(
            "A contrastive batch needs at least two pairs (otherwise there are no negatives).",
            "Write one 'anchor | positive' pair per line.",
        )
    if len(pairs) > limit:
        raise ExplorerError(f"{len(pairs)} pairs is more than this page shows at once ({limit}).", "Remove some lines.")
    return pairs


def infonce_frame(result: InfoNCE, anchors: Sequence[str], positives: Sequence[str]) -> pd.DataFrame:
    """One row per anchor: its positive, the hardest in-batch negative, P(positive) and its loss term."""
    rows = []
    terms = result.contributions()
    for i, (a, p) in enumerate(zip(anchors, positives)):
        neg = result.similarity[i].copy()
        neg[i] = -np.inf
        j = int(neg.argmax())
        rows.append(
            {
                "anchor": a,
                "positive": p,
                "cos(anchor, positive)": float(result.similarity[i, i]),
                "hardest negative": positives[j],
                "cos(anchor, negative)": float(result.similarity[i, j]),
                "P(positive)": float(result.probs[i, i]),
                "negatives' weight": float(terms[i].sum()),
                "loss term": float(result.row_loss[i]),
            }
        )
    return pd.DataFrame(rows)
