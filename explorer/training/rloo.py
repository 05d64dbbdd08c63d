"""RLHF's second half: the policy learns by reinforcement from a reward model's scores (RLOO: REINFORCE
leave-one-out; Ahmadian et al. 2024, TRL's `RLOOTrainer`).

For a prompt x the policy π samples k answers y_1 … y_k; the reward model scores each, r(x, y_i). A **KL
penalty** keeps π near the reference π_ref (the model before RL): each answer's reward becomes
r(x, y_i) − β·KL_i, with KL_i = Σ_t (log π(y_t | …) − log π_ref(y_t | …)) over the answer's tokens (the k1
estimator, summed over the answer and folded into the reward, as TRL's RLOO does). The **advantage** of an
answer is its reward minus the mean reward of the k − 1 other answers to the same prompt (the leave-one-out
baseline: no value model is needed). The loss is −A_i·ρ_i with ρ_i = π(y_i | x) / π_old(y_i | x) clipped to
[1 − ε, 1 + ε] as PPO does; with one update per sample batch ρ = 1, and its gradient is REINFORCE's,
−A_i·∇ log π(y_i | x): answers better than their siblings become likelier, worse ones less likely.

Without the KL term (β = 0) nothing stops the policy from drifting to whatever the reward model happens to
like (reward hacking); with it the policy pays for every nat it moves away from the reference.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.tokens import clean_text
from explorer.training.dpo import preference_accuracy
from explorer.training.limits import MAX_FIELD_CHARS
from explorer.training.loop import eval_mode, interrupt_points
from explorer.training.reward import answer_text, sample_ids
from explorer.training.sft import chat_prompt_ids

DEFAULT_BETA = 0.05  # TRL's RLOOConfig default
DEFAULT_K = 4
EPSILON = 0.2  # PPO's clipping of the probability ratio (TRL's default)
RewardFn = Callable[[str, Sequence[str]], Sequence[float]]  # (prompt, answers) -> one reward per answer


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """Each answer's reward minus the mean reward of the other answers to its prompt: (..., k) → (..., k)."""
    k = rewards.shape[-1]
    if k < 2:
        raise ExplorerError("RLOO needs at least two answers per prompt (k ≥ 2) for its baseline.")
    return rewards - (rewards.sum(-1, keepdim=True) - rewards) / (k - 1)


def kl_k1(logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The k1 estimate of KL(π ‖ π_ref) per answer: Σ_t (log π − log π_ref) over its tokens (unbiased; a
    single term can be negative)."""
    return ((logps - ref_logps) * mask).sum(-1)


def kl_k3(logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimate per answer: Σ_t (e^d − d − 1) with d = log π_ref − log π (never negative;
    GRPO's, shown beside k1)."""
    d = ref_logps - logps
    return ((torch.exp(d) - d - 1) * mask).sum(-1)


def rloo_loss(
    logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, epsilon: float = EPSILON
) -> torch.Tensor:
    """TRL's RLOO loss on sequences: mean of −min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A), ρ = exp(log π − log π_old),
    log π summed over each answer's tokens."""
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


def completion_log_probs(
    model: Module, prompt_ids: Sequence[int], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log-probabilities, mask, entropies), each (k, L): each completion token's log-probability after the
    prompt and the tokens before it, 1 where there is a token (0 for padding), and the entropy of the
    distribution it was drawn from. Gradients flow when the model is being trained."""
    width = max(1, max(len(c) for c in completions))
    rows = [list(prompt_ids) + list(c) + [pad_id] * (width - len(c)) for c in completions]
    mask = torch.tensor([[1.0] * len(c) + [0.0] * (width - len(c)) for c in completions])
    ids = torch.tensor(rows)
    attention = torch.cat([torch.ones(len(rows), len(prompt_ids)), mask], dim=1).long()
    logits = model(input_ids=ids, attention_mask=attention, logits_to_keep=width + 1).logits[:, :-1].float()
    logp_all = F.log_softmax(logits, -1)
    logps = logp_all.gather(-1, ids[:, len(prompt_ids) :, None])[..., 0]
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logps * mask, mask, entropy.detach() * mask


class RLOOTask:
    """RL from a reward model as a trainer's task: each step one training prompt, k answers sampled from the
    policy, scored, and one RLOO update. The reference (the model before RL, shared and never changed)
    scores the answers for the KL term; `evaluate` samples answers to held-out prompts (never trained on).

    `people`: an optional `DPOTask` on preference pairs whose held-out pairs stand for people's taste: the
    share where the policy has raised the chosen answer more than the rejected one since the start."""

    def __init__(
        self,
        reference: Module,
        tokenizer: Any,
        prompts: Sequence[str],
        held_out_prompts: Sequence[str],
        reward_fn: RewardFn,
        *,
        k: int = DEFAULT_K,
        beta: float = DEFAULT_BETA,
        max_new_tokens: int = 24,
        temperature: float = 0.8,
        top_k: int = 50,
        eval_samples: int = 2,
        people: Any = None,
        seed: int = 0,
    ):
        if not 2 <= int(k) <= 16:
            raise ExplorerError(f"k = {k}: RLOO needs between 2 and 16 answers per prompt.")
        if not beta >= 0:
            raise ExplorerError(f"β must be 0 or more (it is {beta:g}).")
        self.prompts = _clean(prompts, "training prompts")
        self.held_out = _clean(held_out_prompts, "held-out prompts")
        self.reference, self.tokenizer, self.reward_fn = reference, tokenizer, reward_fn
        self.k, self.beta, self.max_new_tokens = int(k), float(beta), max_new_tokens
        self.temperature, self.top_k = temperature, top_k
        self.eval_samples, self.people, self.seed = eval_samples, people, seed
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.ids = {p: chat_prompt_ids(tokenizer, p) for p in self.prompts + self.held_out}
        self.step_metrics: dict = {}
        self.last_group: dict = {}

    def batch(self, gen: torch.Generator) -> dict:
        i = int(torch.randint(len(self.prompts), (1,), generator=gen))
        return {"prompt": self.prompts[i], "seed": int(torch.randint(2**31 - 1, (1,), generator=gen))}

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch.get("tokens", 0))

    def sample(self, model: Module, prompt: str, k: int, seed: int) -> list[list[int]]:
        gen = torch.Generator().manual_seed(seed)
        return sample_ids(
            model,
            self.tokenizer,
            self.ids[prompt],
            k,
            gen=gen,
            temperature=self.temperature,
            top_k=self.top_k,
            max_new_tokens=self.max_new_tokens,
        )

    def score(self, model: Module, prompt: str, answers: list[list[int]], grad: bool = False) -> dict:
        """Rewards, KL to the reference (k1 and k3), lengths and entropies of `answers` to `prompt` under
        `model`; with `grad`, also the answers' log-probabilities with their gradient ("logps", for the loss)."""
        texts = [answer_text(self.tokenizer, a) for a in answers]
        rewards = torch.tensor([float(r) for r in self.reward_fn(prompt, texts)])
        with torch.no_grad():
            ref, _, _ = completion_log_probs(self.reference, self.ids[prompt], answers, self.pad)
        with torch.set_grad_enabled(grad):
            logps, mask, entropy = completion_log_probs(model, self.ids[prompt], answers, self.pad)
        held = logps.detach()
        return {
            "texts": texts,
            "rewards": rewards,
            "kl": kl_k1(held, ref, mask),
            "kl_k3": kl_k3(held, ref, mask),
            "length": mask.sum(-1),
            "entropy": entropy.sum(-1) / mask.sum(-1).clamp(min=1),
            "logps": logps,
            "ref": ref,
            "mask": mask,
        }

    def objective(self, s: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, loss) of one scored group: RLOO's, the KL folded into the reward."""
        advantages = rloo_advantages(s["rewards"] - self.beta * s["kl"])
        seq = s["logps"].sum(-1)
        return advantages, rloo_loss(seq, seq.detach(), advantages)

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        prompt = batch["prompt"]
        answers = self.sample(model, prompt, self.k, batch["seed"])
        s = self.score(model, prompt, answers, grad=True)
        advantages, loss = self.objective(s)
        batch["tokens"] = int(s["mask"].sum()) + len(answers) * len(self.ids[prompt])
        self.step_metrics = {
            "reward": float(s["rewards"].mean()),
            "kl": float(s["kl"].mean()),
            "length": float(s["length"].mean()),
            "entropy": float(s["entropy"].mean()),
            "all_equal": bool(advantages.abs().max() < 1e-9),
        }
        self.last_group = {"prompt": prompt, "answers": s["texts"], "rewards": s["rewards"].tolist()}
        return loss

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        """Mean reward, KL (k1 and k3), length and entropy of sampled answers to the held-out prompts (the same
        seeds at every evaluation), and people's held-out preferences when `people` is given."""
        parts: dict[str, list[float]] = {"eval_reward": [], "eval_kl": [], "eval_kl_k3": [], "eval_length": []}
        with interrupt_points(model, interrupt):
            for j, prompt in enumerate(self.held_out):
                with eval_mode(model):
                    s = self.score(model, prompt, self.sample(model, prompt, self.eval_samples, self.seed + 7919 * j))
                parts["eval_reward"] += s["rewards"].tolist()
                parts["eval_kl"] += s["kl"].tolist()
                parts["eval_kl_k3"] += s["kl_k3"].tolist()
                parts["eval_length"] += s["length"].tolist()
        out = {k: sum(v) / len(v) for k, v in parts.items() if v}
        if self.people is not None:
            out["people_accuracy"] = preference_accuracy(self.people.scores(model, self.people.test_idx)["margin"])
        return out

    def answers(self, model: Module, prompts: Sequence[str], seed: int = 0) -> list[dict]:
        """One sampled answer (seeded) and its reward per prompt: the probe table before / during / after."""
        rows = []
        if not any(str(p).strip() for p in prompts):
            return rows
        for j, prompt in enumerate(_clean(prompts, "probes")):
            self.ids.setdefault(prompt, chat_prompt_ids(self.tokenizer, prompt))
            ids = self.sample(model, prompt, 1, seed + 104729 * j)
            text = answer_text(self.tokenizer, ids[0])
            rows.append({"probe": prompt, "output": text, "reward": float(self.reward_fn(prompt, [text])[0])})
        return rows


def _clean(prompts: Sequence[str], what: str) -> list[str]:
    out = [clean_text(p, max_chars=MAX_FIELD_CHARS, what="prompt") for p in prompts if str(p).strip()]
    if not out:
        raise ExplorerError(f"No {what}: RL needs at least one prompt.", "Add a prompt.")
    return list(dict.fromkeys(out))
