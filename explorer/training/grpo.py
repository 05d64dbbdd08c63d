"""GRPO (Shao et al. 2024, DeepSeekMath; TRL's `GRPOTrainer`): RLHF's RL step with group-normalised advantages.

Like RLOO (`explorer.training.rloo`) the policy samples k answers per prompt and the reward model scores them;
no value model is needed. Two things differ. The **advantage** of an answer is its reward standardised within
its group, (r_i − mean(r)) / (std(r) + 10⁻⁴), so every prompt's group weighs the same whatever the spread of
its rewards. The **KL** to the reference is not folded into the reward: each token's loss gets β·k3, Schulman's
estimator e^d − d − 1 with d = log π_ref − log π (never negative), and the per-token losses are averaged over
each answer's length, then over the answers. The policy term is PPO's clipped ratio per token, as in RLOO.
"""

from __future__ import annotations

import torch

from explorer.training.rloo import EPSILON, RLOOTask

DEFAULT_BETA = 0.04  # the GRPO paper's (TRL's default is 0: no reference model)
STD_FLOOR = 1e-4  # TRL's: a group whose answers all score the same gets advantages of 0


def grpo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """Each answer's reward minus its group's mean, over the group's standard deviation (Bessel-corrected, as
    TRL's `nanstd`): (..., k) → (..., k)."""
    mean = rewards.mean(-1, keepdim=True)
    std = rewards.std(-1, keepdim=True) if rewards.shape[-1] > 1 else torch.zeros_like(mean)
    return (rewards - mean) / (std + STD_FLOOR)


def grpo_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    epsilon: float = EPSILON,
) -> torch.Tensor:
    """TRL's GRPO loss (`loss_type="grpo"`): per token −min(ρ_t·A, clip(ρ_t, 1 − ε, 1 + ε)·A) + β·k3_t with
    ρ_t = exp(log π_t − log π_old,t), averaged over each answer's tokens, then over the answers. Arguments are
    (k, L) per-token log-probabilities and mask; `advantages` is (k,)."""
    a = advantages.unsqueeze(-1)
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    per_token = -torch.min(ratio * a, clipped * a)
    if beta:
        d = ref_logps - logps
        per_token = per_token + beta * (torch.exp(d) - d - 1)
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


class GRPOTask(RLOOTask):
    """RL from a reward model as RLOO's task does it (sampling, scoring, evaluation, probes), with GRPO's
    advantages and loss."""

    def objective(self, s: dict) -> tuple[torch.Tensor, torch.Tensor]:
        advantages = grpo_advantages(s["rewards"])
        logps = s["logps"]
        return advantages, grpo_loss(logps, logps.detach(), s["ref"], advantages, s["mask"], self.beta)
