"""GRPO (`explorer.training.grpo`): the advantages against TRL's group standardisation, the loss against TRL's
own `GRPOTrainer._compute_loss` (the policy term and the k3 KL per token), and a seeded tiny-model run that raises
held-out reward while the shared model stays as it was."""

from __future__ import annotations

import collections
import types

import pytest
import torch

from explorer.training import grpo
from explorer.training.loop import Trainer
from explorer.training.modelling import private_copy
from tests.core.training.test_rloo import HELD_OUT, PROMPTS, tiny_clm, word_reward  # noqa: F401 - fixture


def test_advantages_are_trls_group_standardisation():
    from trl.trainer.utils import nanstd

    r = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.5, 0.5, 0.5, 0.5], [-4.0, 4.0, 0.0, 0.0]])
    mean = r.mean(1, keepdim=True)
    trl = (r - mean) / (nanstd(r, dim=1).unsqueeze(1) + 1e-4)
    assert torch.allclose(grpo.grpo_advantages(r), trl, atol=1e-6)
    assert grpo.grpo_advantages(r)[1].abs().max() == 0  # equal rewards: nothing to learn from that group


class _Acc:
    sync_gradients = True

    def reduce(self, t, reduction="sum"):
        return t

    def gather(self, t):
        return t

    def gather_for_metrics(self, t):
        return t


def _trl_compute_loss(per_token, old, ref, advantages, mask, beta, epsilon=0.2):
    """TRL's own GRPO loss (`GRPOTrainer._compute_loss`, `loss_type="grpo"`), with the log-probabilities given."""
    from trl.trainer.grpo_trainer import GRPOTrainer

    stub = types.SimpleNamespace(
        epsilon_low=epsilon,
        epsilon_high=epsilon,
        beta=beta,
        loss_type="grpo",
        importance_sampling_level="token",
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        use_vllm=False,
        aux_loss_enabled=False,
        _entropy_bonus_enabled=False,
        current_gradient_accumulation_steps=1,
        args=types.SimpleNamespace(use_bias_correction_kl=False, delta=None),
        accelerator=_Acc(),
        model=types.SimpleNamespace(training=True),
        _metrics={"train": collections.defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (per_token, torch.zeros_like(per_token), None),
    )
    inputs = {
        "prompt_ids": torch.zeros(len(mask), 2, dtype=torch.long),
        "prompt_mask": torch.ones(len(mask), 2, dtype=torch.long),
        "completion_ids": torch.zeros(mask.shape, dtype=torch.long),
        "completion_mask": mask,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "advantages": advantages,
    }
    return GRPOTrainer._compute_loss(stub, None, inputs)


@pytest.mark.parametrize("beta", [0.0, 0.04, 0.5])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])  # on-policy, inside the clip range, clipped
def test_the_loss_equals_trls_grpo_loss(shift, beta):
    g = torch.Generator().manual_seed(2)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4, [1] * 5 + [0]], dtype=torch.float)
    per_token = -torch.rand(4, 6, generator=g) * mask
    old = per_token - shift * torch.tensor([1.0, -1.0, 1.0, -1.0])[:, None] * mask
    ref = (per_token - 0.3 * torch.randn(4, 6, generator=g)) * mask
    adv = grpo.grpo_advantages(torch.tensor([0.3, -1.2, 2.0, 0.4]))
    ours = grpo.grpo_loss(per_token, old, ref, adv, mask, beta)
    theirs = _trl_compute_loss(per_token, old, ref, adv, mask, beta)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)


def test_with_equal_rewards_only_the_kl_pulls_back_to_the_reference():
    """Advantages of 0 leave β·k3 alone: its gradient moves each token's log-probability towards the reference's
    (d/dlogπ of e^d − d − 1, d = log π_ref − log π, is 1 − e^d: positive where π is above π_ref)."""
    logps = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -1.0]])
    mask = torch.ones(1, 2)
    loss = grpo.grpo_loss(logps, logps.detach(), ref, torch.zeros(1), mask, beta=0.5)
    loss.backward()
    d = ref - logps.detach()
    assert loss.item() == pytest.approx(float(0.5 * (torch.exp(d) - d - 1).mean()), rel=1e-6)
    assert torch.allclose(logps.grad, 0.5 * (1 - torch.exp(d)) / 2)
    assert logps.grad[0, 0] > 0 > logps.grad[0, 1]  # above the reference: pushed down; below it: pushed up


def test_a_seeded_tiny_grpo_run_raises_held_out_reward_and_leaves_the_shared_model_alone(tiny_clm):  # noqa: F811
    snap = {k: v.clone() for k, v in tiny_clm.model.state_dict().items()}
    task = grpo.GRPOTask(
        tiny_clm.model,
        tiny_clm.tokenizer,
        PROMPTS,
        HELD_OUT,
        word_reward,
        k=8,
        beta=0.0,
        max_new_tokens=6,
        temperature=1.0,
        top_k=0,
        eval_samples=8,
    )
    # per-token means make its steps smaller than RLOO's summed log-probabilities: a larger rate for 30 steps
    trainer = Trainer(private_copy(tiny_clm.model), task, lr=1e-1, seed=0, eval_every=30, warmup=0)
    before = trainer.history[0]["eval_reward"]
    for _ in range(30):
        trainer.step()
    after = trainer.history[-1]["eval_reward"]
    assert after > before + 0.5, (before, after)
    state = tiny_clm.model.state_dict()
    assert all(torch.equal(state[k], snap[k]) for k in snap)
