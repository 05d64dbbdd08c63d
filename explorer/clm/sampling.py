"""Decoding settings: temperature, top-k and top-p applied as model.generate applies them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from explorer.clm.distribution import TOP_N, entropy_bits, top_order
from explorer.clm.forward import piece_text
from explorer.errors import ExplorerError


@dataclass(frozen=True)
class Settings:
    """Decoding settings. temperature 0 = greedy; top_k 0 = off; top_p 1 = off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def checked(self) -> "Settings":
        t, k, p = float(self.temperature), int(self.top_k), float(self.top_p)
        if not math.isfinite(t) or t < 0:
            raise ExplorerError(
                f"Temperature must be 0 or more (got {self.temperature}).",
                "0 means greedy: always the most likely token.",
            )
        if k < 0:
            raise ExplorerError(f"top-k must be 0 (off) or a positive number of tokens (got {self.top_k}).")
        if not math.isfinite(p) or not 0 <= p <= 1:
            raise ExplorerError(
                f"top-p must be between 0 and 1 (got {self.top_p}).",
                "1 keeps every token; 0 keeps only the most likely one.",
            )
        return Settings(t, k, p)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        parts = ["temperature 0 (greedy)" if self.greedy else f"temperature {self.temperature:g}"]
        parts.append(f"top-k {self.top_k}" if self.top_k else "top-k off")
        parts.append(f"top-p {self.top_p:g}" if self.top_p < 1 else "top-p off")
        return ", ".join(parts)


GREEDY = Settings(0.0)


@dataclass
class Sampled:
    """A distribution reshaped by decoding settings."""

    settings: Settings
    logits: np.ndarray  # the model's logits
    before: np.ndarray  # softmax(logits): the model's own distribution
    scaled: np.ndarray  # softmax(logits / temperature), nothing cut (one-hot at the argmax when greedy)
    kept: np.ndarray  # bool: tokens that survive top-k and top-p
    after: np.ndarray  # scaled restricted to `kept`, renormalised to sum to 1
    notes: list[str] = field(default_factory=list)

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def kept_mass(self) -> float:
        """Share of the temperature-scaled mass that survives the cut (before renormalising)."""
        return float(self.scaled[self.kept].sum())

    @property
    def best(self) -> int:
        """The most likely token of the distribution sampled from (after the settings)."""
        return int(np.argmax(self.after))

    @property
    def best_prob(self) -> float:
        return float(self.after[self.best])

    @property
    def entropy(self) -> float:
        """Entropy in bits of the distribution sampled from (after the settings): 0 when one token is left."""
        return entropy_bits(self.after)

    @property
    def effective_choices(self) -> float:
        """2 ** entropy: a draw is as uncertain as a fair choice between this many tokens."""
        return float(2**self.entropy)

    def filtered_logits(self) -> np.ndarray:
        """Logits / temperature with cut tokens at -inf (what ``model.generate`` samples from)."""
        t = self.settings.temperature or 1.0
        out = self.logits.astype(np.float64) / t
        out[~self.kept] = -np.inf
        return out

    def cut(self, n: int = TOP_N) -> list[int]:
        """Ids of the model's `n` most likely tokens that the settings removed."""
        order = top_order(self.before, n)
        return [int(i) for i in order if not self.kept[i]]

    def frame(self, tokenizer: Any = None, n: int = TOP_N) -> pd.DataFrame:
        """The model's `n` most likely tokens, before and after the settings."""
        order = top_order(self.before, n)
        rows = [
            {
                "rank": r + 1,
                "token": piece_text(tokenizer, int(i)),
                "id": int(i),
                "model": float(self.before[i]),
                "after temperature": float(self.scaled[i]),
                "kept": bool(self.kept[i]),
                "renormalised": float(self.after[i]),
            }
            for r, i in enumerate(order)
        ]
        rest = np.ones(len(self.before), dtype=bool)
        rest[order] = False
        rows.append(
            {
                "rank": None,
                "token": "(other)",
                "id": None,
                "model": float(self.before[rest].sum()),
                "after temperature": float(self.scaled[rest].sum()),
                "kept": bool(self.kept[rest].any()),
                "renormalised": float(self.after[rest].sum()),
            }
        )
        return pd.DataFrame(rows)


def apply_sampling(
    logits: np.ndarray | torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> Sampled:
    """Reshape a next-token distribution the way ``model.generate(do_sample=True)`` does.

    In order: divide the logits by `temperature`; keep the `top_k` most likely tokens (ties with
    the k-th are kept); then keep the smallest set of most likely tokens whose (renormalised)
    probability reaches `top_p`; the survivors are renormalised. Temperature 0 is greedy (only
    the most likely token), top-p 0 keeps only the most likely token, top-p 1 and top-k 0 are off.
    """
    s = Settings(temperature, top_k, top_p).checked()
    lg = torch.as_tensor(np.asarray(logits), dtype=torch.float64).reshape(-1)
    before = torch.softmax(lg, -1)
    notes: list[str] = []
    if s.greedy:
        best = int(torch.argmax(lg))
        kept = torch.zeros_like(lg, dtype=torch.bool)
        kept[best] = True
        onehot = kept.double()
        notes.append("Temperature 0 is greedy decoding: the most likely token gets all the probability.")
        return Sampled(
            s, lg.numpy().astype(np.float32), before.numpy(), onehot.numpy(), kept.numpy(), onehot.numpy(), notes
        )
    scaled_logits = lg / s.temperature
    scaled = torch.softmax(scaled_logits, -1)
    kept = scaled_logits > -math.inf
    if s.top_k:
        k = min(s.top_k, lg.numel())
        kth = torch.topk(scaled_logits, k).values[-1]
        kept &= scaled_logits >= kth
    if s.top_p < 1:
        masked = scaled_logits.masked_fill(~kept, -math.inf)
        p = torch.softmax(masked, -1)
        order = torch.argsort(p, descending=True, stable=True)
        mass_above = torch.cumsum(p[order], 0) - p[order]  # probability of the tokens ranked above each one
        keep_sorted = mass_above < s.top_p
        keep_sorted[0] = True  # at least one token
        keep_p = torch.zeros_like(kept)
        keep_p[order] = keep_sorted
        kept &= keep_p
        if s.top_p == 0:
            notes.append("top-p 0 keeps only the most likely token, like greedy decoding.")
    after = torch.where(kept, scaled, torch.zeros_like(scaled))
    after = after / after.sum()
    return Sampled(s, lg.numpy().astype(np.float32), before.numpy(), scaled.numpy(), kept.numpy(), after.numpy(), notes)


def draw(probs: np.ndarray, seed: int, position: int = 0) -> int:
    """One seeded draw from a distribution: the same seed and position always give the same token."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(position)) % (2**63))
    p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
    return int(torch.multinomial(p, 1, generator=g))
