"""Direct Preference Optimization (DPO; Rafailov et al. 2023): alignment from preference pairs with no
separate reward model.

For a prompt x with a preferred answer y_w and a rejected one y_l, the policy π (the model being
tuned) and a frozen reference π_ref (the model before tuning) each give the log-probability of each
answer given the prompt (the sum over the answer's tokens, the prompt's tokens not counted). The
**implicit reward** of an answer is β·(log π(y|x) − log π_ref(y|x)): how much more likely the policy
makes it than the reference did. DPO's loss is −log σ(r(y_w) − r(y_l)), the Bradley–Terry loss of
a reward model, written with the implicit rewards: it raises the chosen answer and lowers the
rejected one, relative to the reference, and β says how far from the reference that may go.

Before any training π = π_ref, so every reward is 0, every margin 0 and every loss ln 2 ≈ 0.693.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.training import pair_scores
from explorer.training.limits import MAX_SEQ_LEN
from explorer.training.pair_scores import Progress, encode_pairs, pair_batch, reference_log_probs, split_pairs
from explorer.training.preferences import PreferencePair
from explorer.training.tasks import ExampleTask

DEFAULT_BETA = 0.1
TIE = 1e-4  # margins this close to 0 are ties (counted as half right): the policy has not moved yet


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = DEFAULT_BETA,
) -> dict[str, torch.Tensor]:
    """Per pair: the DPO loss −log σ(margin), the implicit rewards β·(log π − log π_ref) of both answers,
    and the margin (chosen reward − rejected reward). Inputs are summed answer log-probabilities."""
    if not beta > 0:
        raise ExplorerError(f"β must be positive (it is {beta:g}).")
    chosen = beta * (policy_chosen - ref_chosen)
    rejected = beta * (policy_rejected - ref_rejected)
    margin = chosen - rejected
    return {"loss": -F.logsigmoid(margin), "chosen_reward": chosen, "rejected_reward": rejected, "margin": margin}


def preference_accuracy(margin: torch.Tensor) -> float:
    """The share of pairs whose chosen answer gets the higher reward (a tie counts half)."""
    if margin.numel() == 0:
        return float("nan")
    right = (margin > TIE).float() + 0.5 * (margin.abs() <= TIE).float()
    return float(right.mean())


def chosen_nll(logp: torch.Tensor, batch: dict) -> torch.Tensor:
    """The chosen answers' mean negative log-likelihood per token (the first half of a `_batch`'s rows)."""
    n = logp.shape[0] // 2
    tokens = (batch["labels"][:n, 1:] != -100).sum(dim=1).clamp(min=1)
    return -(logp[:n] / tokens).mean()


class DPOTask(ExampleTask):
    """Preference pairs as DPO batches. The reference log-probabilities are computed once, from the
    model before training (`reference`, never changed), so no second model is kept: by
    `score_reference()` (with progress, in a run's own thread), or else when first needed.
    `persist`: the pairs are the bundled ones, whose reference scores may be kept on disk.

    `nll_weight` α > 0 adds α × the chosen answers' negative log-likelihood per token to the loss (RPO,
    Pang et al. 2024; Llama 3's DPO used α = 0.2): DPO alone can raise the margin by lowering both
    answers, and a small model then loses its words; this keeps the chosen answers likely."""

    nll_weight: float = 0.0

    def __init__(
        self,
        reference: Module,
        tokenizer: Any,
        pairs: Sequence[PreferencePair],
        *,
        batch: int,
        seq_len: int = MAX_SEQ_LEN,
        beta: float = DEFAULT_BETA,
        seed: int = 0,
        held_out: float = 0.2,
        persist: bool = False,
    ):
        if len(pairs) < 2:
            raise ExplorerError("DPO needs at least two preference pairs (one to learn from, one held out).")
        dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), beta)  # checks β
        self.tokenizer, self.batch_size, self.beta = tokenizer, batch, float(beta)
        self.encoded, kept, self.notes = encode_pairs(tokenizer, pairs, seq_len)
        self.pairs = [pairs[i] for i in kept]
        if len(self.pairs) < 2:
            raise ExplorerError("Only one pair fits in the token limit; DPO needs at least two.")
        self.train_idx, self.test_idx = split_pairs(len(self.pairs), held_out, seed)
        self.train_probe = self.train_idx[:: max(1, len(self.train_idx) // 12)][:12]  # train accuracy, cheaply
        self._reference, self.persist = reference, persist
        self._ref: tuple[torch.Tensor, torch.Tensor] | None = None
        self._start: Any = None  # (a weak reference to) the policy while it is still the reference's copy
        self.step_metrics: dict = {}

    def score_reference(self, progress: Progress | None = None, interrupt: Callable[[], None] | None = None) -> None:
        """Score every pair with the reference model, unless done already (then it is no longer held)."""
        if self._ref is None:
            self._ref = reference_log_probs(
                self._reference,
                self.tokenizer,
                self.encoded,
                persist=self.persist,
                interrupt=interrupt,
                progress=progress,
            )
            self._reference = None

    @property
    def ready(self) -> bool:
        """Whether the reference's scores are there (training and evaluation can start at once)."""
        return self._ref is not None

    @property
    def ref_chosen(self) -> torch.Tensor:
        self.score_reference()
        return self._ref[0]

    @property
    def ref_rejected(self) -> torch.Tensor:
        self.score_reference()
        return self._ref[1]

    def starts_from_reference(self, policy: Module) -> None:
        """`policy` is an untrained copy of the reference: until its first training step its scores are the
        reference's, so its evaluation before training costs no forward pass."""
        self._start = weakref.ref(policy)

    def _make(self, idx: Sequence[int]) -> dict:
        out = pair_batch(self.tokenizer, [self.encoded[i] for i in idx])
        out["pairs"] = torch.tensor(list(idx), dtype=torch.long)
        return out

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["attention_mask"].sum())

    def _terms(self, logp: torch.Tensor, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        n = len(idx)
        return dpo_loss(logp[:n], logp[n:], self.ref_chosen[idx], self.ref_rejected[idx], self.beta)

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        if model.training:
            self._start = None  # the policy is about to move away from the reference
        logp = pair_scores.answer_log_probs(model, batch)
        terms = self._terms(logp, batch["pairs"])
        if model.training:  # what this training batch shows, for the live charts
            d = {k: v.detach() for k, v in terms.items()}
            self.step_metrics = {
                "chosen_reward": float(d["chosen_reward"].mean()),
                "rejected_reward": float(d["rejected_reward"].mean()),
                "margin": float(d["margin"].mean()),
                "batch_accuracy": preference_accuracy(d["margin"]),
            }
        loss = terms["loss"].mean()
        if self.nll_weight:
            loss = loss + self.nll_weight * chosen_nll(logp, batch)
        return loss

    def scores(self, model: Module, idx: Sequence[int], interrupt=None) -> dict[str, torch.Tensor]:
        """Policy log-probabilities and the DPO terms of the pairs `idx` under `model`."""
        idx = list(idx)
        t = torch.tensor(idx, dtype=torch.long)
        if self._start is not None and self._start() is model:  # not trained yet: π = π_ref
            c, r = self.ref_chosen[t].clone(), self.ref_rejected[t].clone()
        else:
            c, r = pair_scores.pair_log_probs(
                model, self.tokenizer, [self.encoded[i] for i in idx], interrupt=interrupt
            )
        return {
            "policy_chosen": c,
            "policy_rejected": r,
            **dpo_loss(c, r, self.ref_chosen[t], self.ref_rejected[t], self.beta),
        }

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        held = self.scores(model, self.test_idx, interrupt)
        train = self.scores(model, self.train_probe, interrupt)
        return {
            "eval_loss": float(held["loss"].mean()),
            "accuracy": preference_accuracy(held["margin"]),
            "train_accuracy": preference_accuracy(train["margin"]),
            "eval_chosen_reward": float(held["chosen_reward"].mean()),
            "eval_rejected_reward": float(held["rejected_reward"].mean()),
            "eval_margin": float(held["margin"].mean()),
        }

    def table(self, model: Module | None = None):
        """Pair by pair: log π and log π_ref of both answers, the implicit rewards, margin, loss, and whether
        the pair is held out; `model=None` is the reference itself (before training)."""
        import pandas as pd

        idx = list(range(len(self.pairs)))
        if model is None:
            c, r = self.ref_chosen, self.ref_rejected
        else:
            c, r = pair_scores.pair_log_probs(model, self.tokenizer, self.encoded)
        terms = dpo_loss(c, r, self.ref_chosen, self.ref_rejected, self.beta)
        held = set(self.test_idx)
        return pd.DataFrame(
            {
                "prompt": [self.pairs[i].prompt for i in idx],
                "kind": [self.pairs[i].kind for i in idx],
                "split": ["held out" if i in held else "train" for i in idx],
                "log π(chosen)": c.tolist(),
                "log π(rejected)": r.tolist(),
                "log π_ref(chosen)": self.ref_chosen.tolist(),
                "log π_ref(rejected)": self.ref_rejected.tolist(),
                "reward(chosen)": terms["chosen_reward"].tolist(),
                "reward(rejected)": terms["rejected_reward"].tolist(),
                "margin": terms["margin"].tolist(),
                "DPO loss": terms["loss"].tolist(),
            }
        )


def likelihood_preference(table) -> float:
    """The share of pairs where the model already gives the chosen answer the higher log-probability
    (before any preference training; long answers are penalised by this, which is why DPO compares
    with the reference instead)."""
    return float((table["log π_ref(chosen)"] > table["log π_ref(rejected)"]).mean()) if len(table) else math.nan
