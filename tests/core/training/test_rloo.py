"""RLHF's RL step (RLOO): the advantages and KL estimators against their formulas, the loss against TRL's own
`RLOOTrainer._compute_loss`, the gradient against one derived by hand on a 2-token toy policy, the per-token
log-probabilities against TRL's helpers, and a seeded tiny-model run that raises held-out reward while the
shared model stays as it was."""

from __future__ import annotations

import collections
import types

import pytest
import torch

from explorer import load
from explorer.errors import ExplorerError
from explorer.training import rloo
from explorer.training.loop import Trainer
from explorer.training.modelling import private_copy


def test_leave_one_out_advantage_is_the_reward_minus_the_others_mean():
    r = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.5, 0.5, 0.5, 0.5]])
    a = rloo.rloo_advantages(r)
    expected = [[1 - 11 / 3, 2 - 10 / 3, 3 - 9 / 3, 6 - 6 / 3], [0.0] * 4]
    assert torch.allclose(a, torch.tensor(expected))
    assert torch.allclose(a.sum(-1), torch.zeros(2), atol=1e-6)  # a group's advantages sum to 0
    with pytest.raises(ExplorerError, match="at least two answers"):
        rloo.rloo_advantages(torch.tensor([[1.0]]))


def test_kl_estimators_are_their_formulas():
    g = torch.Generator().manual_seed(0)
    logp, ref = -torch.rand(3, 5, generator=g) * 4, -torch.rand(3, 5, generator=g) * 4
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float)
    k1 = [sum(float(logp[i, t] - ref[i, t]) for t in range(5) if mask[i, t]) for i in range(3)]
    d = ref - logp
    k3 = [sum(float(torch.exp(d[i, t]) - d[i, t] - 1) for t in range(5) if mask[i, t]) for i in range(3)]
    assert rloo.kl_k1(logp, ref, mask).tolist() == pytest.approx(k1, rel=1e-5)
    assert rloo.kl_k3(logp, ref, mask).tolist() == pytest.approx(k3, rel=1e-5)
    assert (rloo.kl_k3(logp, ref, mask) >= 0).all()
    assert rloo.kl_k1(ref, ref, mask).abs().max() == 0 and rloo.kl_k3(ref, ref, mask).abs().max() == 0
    # both estimate KL(p‖q) = Σ p log(p/q): sampled from p, their means converge to it
    p, q = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.4, 0.4, 0.2])
    x = torch.multinomial(p, 200_000, replacement=True, generator=g)
    lp, lq, ones = p.log()[x][None], q.log()[x][None], torch.ones(1, len(x))
    true = float((p * (p / q).log()).sum())
    assert float(rloo.kl_k1(lp, lq, ones)) / len(x) == pytest.approx(true, abs=0.01)
    assert float(rloo.kl_k3(lp, lq, ones)) / len(x) == pytest.approx(true, abs=0.01)


def _trl_compute_loss(per_token_logps, old_logps, advantages, mask, epsilon=0.2):
    """TRL's own RLOO loss (`RLOOTrainer._compute_loss`), called with the log-probabilities given."""
    from trl.trainer.rloo_trainer import RLOOTrainer

    class Acc:
        def reduce(self, t, reduction="sum"):
            return t

        def gather(self, t):
            return t

        def gather_for_metrics(self, t):
            return t

    stub = types.SimpleNamespace(
        epsilon_low=epsilon,
        epsilon_high=epsilon,
        aux_loss_enabled=False,
        accelerator=Acc(),
        model=types.SimpleNamespace(training=True),
        _metrics={"train": collections.defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (per_token_logps, torch.zeros_like(per_token_logps), None),
    )
    inputs = {
        "prompt_ids": torch.zeros(len(mask), 2, dtype=torch.long),
        "prompt_mask": torch.ones(len(mask), 2, dtype=torch.long),
        "completion_ids": torch.zeros(mask.shape, dtype=torch.long),
        "completion_mask": mask,
        "old_logps": old_logps,
        "advantages": advantages,
    }
    return RLOOTrainer._compute_loss(stub, None, inputs)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.5])  # on-policy, inside the clip range, clipped
def test_the_loss_equals_trls_rloo_loss(shift):
    g = torch.Generator().manual_seed(1)
    per_token = -torch.rand(4, 6, generator=g)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4, [1] * 5 + [0]], dtype=torch.float)
    seq = (per_token * mask).sum(1)
    old = seq - shift * torch.tensor([1.0, -1.0, 1.0, -1.0])
    adv = rloo.rloo_advantages(torch.tensor([0.3, -1.2, 2.0, 0.4]))
    ours = rloo.rloo_loss(seq, old, adv)
    assert float(ours) == pytest.approx(float(_trl_compute_loss(per_token, old, adv, mask)), abs=1e-6)


def test_the_gradient_on_a_two_token_policy_is_reinforce_derived_by_hand():
    """A policy over two tokens, π(a) = σ(θ), π(b) = 1 − σ(θ): on-policy (ρ = 1), the loss −mean_i A_i·log π(y_i)
    has the gradient −mean_i A_i·(1[y_i = a] − σ(θ)) with respect to θ."""
    theta = torch.tensor(0.3, requires_grad=True)
    answers = ["a", "b", "a", "b"]
    rewards = torch.tensor([1.0, 0.0, 2.0, -1.0])
    logp_a, logp_b = torch.nn.functional.logsigmoid(theta), torch.nn.functional.logsigmoid(-theta)
    seq = torch.stack([logp_a if y == "a" else logp_b for y in answers])
    adv = rloo.rloo_advantages(rewards)
    rloo.rloo_loss(seq, seq.detach(), adv).backward()
    s = torch.sigmoid(torch.tensor(0.3))
    by_hand = -sum(float(adv[i]) * ((1.0 if y == "a" else 0.0) - float(s)) for i, y in enumerate(answers)) / 4
    assert float(theta.grad) == pytest.approx(by_hand, rel=1e-6)
    assert float(theta.grad) < 0  # 'a' earned more than its siblings: a step against the gradient raises π(a)


@pytest.fixture(scope="module")
def tiny_clm(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


def test_completion_log_probs_equal_trls_helpers(tiny_clm):
    from trl.trainer.utils import entropy_from_logits, selective_log_softmax

    prompt = [1, 5, 9, 7]
    completions = [[11, 12, 13], [21, 22], [31]]
    logps, mask, entropy = rloo.completion_log_probs(tiny_clm.model, prompt, completions, pad_id=0)
    for i, c in enumerate(completions):
        with torch.no_grad():
            logits = tiny_clm.model(input_ids=torch.tensor([prompt + c])).logits[0, len(prompt) - 1 : -1]
        ref = selective_log_softmax(logits[None].float(), torch.tensor([c]))[0]
        assert logps[i, : len(c)].tolist() == pytest.approx(ref.tolist(), abs=1e-5)
        assert entropy[i, : len(c)].tolist() == pytest.approx(entropy_from_logits(logits.float()).tolist(), abs=1e-4)
        assert mask[i].tolist() == [1.0] * len(c) + [0.0] * (3 - len(c))
        assert logps[i, len(c) :].abs().sum() == 0


PROMPTS = [f"Tell me about {w}." for w in ["cats", "dogs", "rain", "bread", "trains", "music"]]
HELD_OUT = ["Tell me about owls.", "Tell me about snow."]


def word_reward(prompt: str, answers) -> list[float]:
    """A toy reward model a random tiny model can learn to please: how many letters e an answer has."""
    return [float(a.lower().count("e")) for a in answers]


def _toy_task(lm, **kw):
    return rloo.RLOOTask(lm.model, lm.tokenizer, PROMPTS, HELD_OUT, word_reward, **kw)


def test_a_seeded_tiny_run_raises_held_out_reward_and_leaves_the_shared_model_alone(tiny_clm, tiny_clm_dir):
    snap = {k: v.clone() for k, v in tiny_clm.model.state_dict().items()}
    task = _toy_task(tiny_clm, k=8, beta=0.0, max_new_tokens=6, temperature=1.0, top_k=0, eval_samples=8)
    policy = private_copy(tiny_clm.model)
    trainer = Trainer(policy, task, lr=3e-2, seed=0, eval_every=30, warmup=0)
    before = trainer.history[0]["eval_reward"]
    for _ in range(30):
        rec = trainer.step()
    assert {"reward", "kl", "length", "entropy"} <= set(rec)
    after = trainer.history[-1]["eval_reward"]
    assert after > before + 0.5, (before, after)  # the prompts it never trained on
    assert trainer.history[-1]["eval_kl"] > 0  # it moved away from the reference to get there
    state = tiny_clm.model.state_dict()
    assert all(torch.equal(state[k], snap[k]) for k in snap)  # the shared model (the reference) never changed


def test_all_equal_rewards_give_no_update_and_say_so(tiny_clm):
    task = rloo.RLOOTask(
        tiny_clm.model, tiny_clm.tokenizer, ["Hi."], ["Hello."], lambda p, a: [1.0] * len(a), k=3, beta=0.0
    )
    policy = private_copy(tiny_clm.model)
    weights = {k: v.clone() for k, v in policy.state_dict().items()}
    loss = task.loss(policy, task.batch(torch.Generator().manual_seed(0)))
    loss.backward()
    assert loss.item() == 0 and task.step_metrics["all_equal"] is True
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in policy.parameters())
    assert all(torch.equal(policy.state_dict()[k], weights[k]) for k in weights)


def test_bad_settings_are_refused_with_a_message(tiny_clm):
    with pytest.raises(ExplorerError, match="k = 1"):
        _toy_task(tiny_clm, k=1)
    with pytest.raises(ExplorerError, match="β must be 0 or more"):
        _toy_task(tiny_clm, beta=-0.1)
    with pytest.raises(ExplorerError, match="No training prompts"):
        rloo.RLOOTask(tiny_clm.model, tiny_clm.tokenizer, ["  ", ""], ["Hi."], word_reward)
