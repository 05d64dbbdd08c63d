"""RLHF's first half: a reward model learned from preference pairs, and best-of-n sampling with it.

The reward model reads a prompt and an answer and gives one number, r(x, y). It is trained with the
Bradley–Terry loss −log σ(r(x, y_w) − r(x, y_l)) (Ouyang et al. 2022): the chosen answer should score
higher than the rejected one. Here it is the sentence encoder with a scalar head. The simplest way to
use it is **best-of-n**: sample n answers from the language model and keep the one the reward model
likes best. RLHF proper then tunes the policy with RL (PPO) against it; DPO (`dpo.py`) skips the
reward model altogether.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import clean_text, max_positions
from explorer.training.dpo import preference_accuracy
from explorer.training.limits import MAX_FIELD_CHARS, MAX_SEQ_LEN
from explorer.training.loop import eval_mode, interrupt_points
from explorer.training.pair_scores import split_pairs
from explorer.training.preferences import PreferencePair
from explorer.training.sft import chat_prompt_ids
from explorer.training.tasks import EncoderClassifier, ExampleTask, pad_rows

MAX_N = 16


class RewardModel(EncoderClassifier):
    """A sentence encoder with a scalar head: r(prompt, answer)."""

    def __init__(self, encoder: Module, seed: int = 0):
        super().__init__(encoder, 1, seed)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        return super().forward(input_ids, attention_mask).logits[:, 0]


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """−log σ(r_chosen − r_rejected) per pair."""
    return -F.logsigmoid(chosen - rejected)


def _encode(tokenizer: Any, prompt: str, answer: str, seq_len: int) -> list[int]:
    return tokenizer(prompt, answer, truncation=True, max_length=seq_len)["input_ids"]


class RewardTask(ExampleTask):
    """Preference pairs as Bradley–Terry batches for a reward model: chosen rows, then rejected rows."""

    def __init__(
        self,
        tokenizer: Any,
        pairs: Sequence[PreferencePair],
        *,
        batch: int,
        seq_len: int = MAX_SEQ_LEN,
        seed: int = 0,
        held_out: float = 0.2,
    ):
        if len(pairs) < 2:
            raise ExplorerError("A reward model needs at least two preference pairs (one to learn from, one held out).")
        self.tokenizer, self.batch_size, self.seq_len = tokenizer, batch, seq_len
        self.pairs = list(pairs)
        self.ids = [
            (_encode(tokenizer, p.prompt, p.chosen, seq_len), _encode(tokenizer, p.prompt, p.rejected, seq_len))
            for p in self.pairs
        ]
        self.train_idx, self.test_idx = split_pairs(len(self.pairs), held_out, seed)
        self.step_metrics: dict = {}

    def _make(self, idx: Sequence[int]) -> dict:
        pad = self.tokenizer.pad_token_id or 0
        return pad_rows([self.ids[i][0] for i in idx] + [self.ids[i][1] for i in idx], pad)

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        r = model(**batch)
        n = len(r) // 2
        margin = r[:n] - r[n:]
        if model.training:
            self.step_metrics = {
                "margin": float(margin.detach().mean()),
                "batch_accuracy": preference_accuracy(margin.detach()),
            }
        return bradley_terry_loss(r[:n], r[n:]).mean()

    def margins(self, model: Module, idx: Sequence[int], interrupt=None) -> torch.Tensor:
        idx = list(idx)
        out = []
        with eval_mode(model), torch.no_grad(), interrupt_points(model, interrupt):
            for i in range(0, len(idx), 16):
                r = model(**self._make(idx[i : i + 16]))
                n = len(r) // 2
                out.append(r[:n] - r[n:])
        return torch.cat(out) if out else torch.zeros(0)

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        held = self.margins(model, self.test_idx, interrupt)
        train = self.margins(model, self.train_idx, interrupt)
        return {
            "eval_loss": float(F.softplus(-held).mean()),
            "accuracy": preference_accuracy(held),
            "train_accuracy": preference_accuracy(train),
            "eval_margin": float(held.mean()),
        }


def rewards(
    model: Module, tokenizer: Any, prompt: str, answers: Sequence[str], seq_len: int = MAX_SEQ_LEN
) -> list[float]:
    """r(prompt, answer) for each answer."""
    if not answers:
        return []
    seq_len = min(seq_len, max_positions(model, tokenizer))
    batch = pad_rows([_encode(tokenizer, prompt, a, seq_len) for a in answers], tokenizer.pad_token_id or 0)
    with eval_mode(model), torch.no_grad():
        return [float(x) for x in model(**batch)]


def _stop_ids(tokenizer: Any) -> set[int]:
    """The end-of-sequence and end-of-turn ids (looked up by name: reading the whole vocabulary costs ~60 ms)."""
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = {tokenizer.eos_token_id} | ({end_of_turn} if end_of_turn != tokenizer.unk_token_id else set())
    return {i for i in ids if isinstance(i, int)}


def sample_ids(
    model: Module,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    n: int,
    *,
    gen: torch.Generator,
    temperature: float = 0.9,
    top_k: int = 50,
    max_new_tokens: int = 48,
) -> list[list[int]]:
    """n continuations of one prompt, sampled together in one batch (the prompt read once, its keys and values
    shared by the rows), each ending with its stop token when it produced one; the model is only read."""
    stops = _stop_ids(tokenizer)
    out: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    with eval_mode(model), torch.no_grad():
        res = model(input_ids=torch.tensor([list(prompt_ids)]), use_cache=True, logits_to_keep=1)
        past = res.past_key_values  # the prompt read once, its keys and values shared by the n rows
        past.batch_repeat_interleave(n)
        last, step = res.logits[:, -1].expand(n, -1), None
        for i in range(max_new_tokens):
            if i:
                res = model(input_ids=step, past_key_values=past, use_cache=True, logits_to_keep=1)
                past, last = res.past_key_values, res.logits[:, -1]
            logits = last.float() / max(temperature, 1e-4)
            if top_k:
                kth = logits.topk(min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
            for i, t in enumerate(nxt.tolist()):
                if not done[i]:
                    out[i].append(t)
                    done[i] = t in stops
            if all(done):
                break
            step = nxt[:, None]
    return out


def sample_answers(
    lm: LoadedModel,
    prompt: str,
    n: int,
    *,
    temperature: float = 0.9,
    top_k: int = 50,
    max_new_tokens: int = 48,
    seed: int = 0,
) -> list[str]:
    """n answers to a chat prompt, sampled together in one batch (`sample_ids`) from a seeded generator."""
    if not isinstance(lm, LoadedModel):
        raise TypeError("sample_answers takes a LoadedModel (from explorer.load or training.trained).")
    if not 1 <= n <= MAX_N:
        raise ExplorerError(f"n must be between 1 and {MAX_N}.")
    tok = lm.tokenizer
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    gen = torch.Generator().manual_seed(int(seed))
    rows = sample_ids(
        lm.model,
        tok,
        chat_prompt_ids(tok, prompt),
        n,
        gen=gen,
        temperature=temperature,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
    )
    return [answer_text(tok, row) for row in rows]


def answer_text(tokenizer: Any, ids: Sequence[int]) -> str:
    """A sampled answer's text, its stop token left out."""
    stops = _stop_ids(tokenizer)
    return tokenizer.decode([t for t in ids if t not in stops], skip_special_tokens=True).strip()


def best_of_n(answers: Sequence[str], scores: Sequence[float]):
    """For k = 1..n: the answer best-of-k keeps (the highest reward among the first k samples) and its
    reward, next to the mean reward of one sample; a frame for the page."""
    import pandas as pd

    if len(answers) != len(scores) or not answers:
        raise ExplorerError("Best-of-n needs one score per answer.")
    rows, best = [], 0
    for k in range(1, len(answers) + 1):
        if scores[k - 1] > scores[best]:
            best = k - 1
        rows.append(
            {
                "n": k,
                "picked": best + 1,
                "reward of the picked answer": scores[best],
                "mean reward of one sample": sum(scores[:k]) / k,
                "answer": answers[best],
            }
        )
    return pd.DataFrame(rows)
