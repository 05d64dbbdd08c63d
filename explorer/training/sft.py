"""Supervised fine-tuning of a causal LM on prompt → response pairs: the chat template around each
pair, the prompt tokens labelled -100 (no loss), only the response learned."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.tokens import clean_text, display_piece
from explorer.training.limits import MAX_FIELD_CHARS, MAX_SEQ_LEN
from explorer.training.tasks import ExampleTask, mean_loss, pad_rows, token_ids


def has_token(tokenizer: Any, token: str) -> bool:
    """Whether `token` is one token of the vocabulary (without building the whole vocabulary as a dict,
    70 ms for SmolLM2's, which every pair of a data set paid)."""
    i = tokenizer.convert_tokens_to_ids(token)
    return isinstance(i, int) and i != tokenizer.unk_token_id and tokenizer.convert_ids_to_tokens(i) == token


def chat_prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of a user turn followed by the start of the assistant's turn."""
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        return list(out["input_ids"] if hasattr(out, "keys") else out)
    return token_ids(tokenizer, f"User: {prompt}\nAssistant:")


def sft_example(tokenizer: Any, prompt: str, response: str, max_len: int = MAX_SEQ_LEN) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one pair: the prompt tokens carry label -100, the response tokens
    (and the end-of-turn token) are labelled with themselves."""
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    response = clean_text(response, max_chars=MAX_FIELD_CHARS, what="response")
    p = chat_prompt_ids(tokenizer, prompt)
    if getattr(tokenizer, "chat_template", None):
        end = "<|im_end|>" if has_token(tokenizer, "<|im_end|>") else (tokenizer.eos_token or "")
        r = token_ids(tokenizer, response + end)
    else:
        r = token_ids(tokenizer, " " + response) + (
            [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        )
    if len(p) >= max_len - 1:
        raise ExplorerError(
            f"The prompt '{prompt[:40]}...' is {len(p)} tokens long with the chat template; the "
            f"limit here is {max_len} tokens for prompt and response together.",
            "Shorten the prompt.",
        )
    ids = (p + r)[:max_len]
    labels = ([-100] * len(p) + r)[:max_len]
    return ids, labels


class SFTTask(ExampleTask):
    """Prompt-response pairs as causal-LM batches where only response tokens count in the loss."""

    def __init__(
        self,
        tokenizer: Any,
        pairs: Sequence[tuple[str, str]],
        *,
        batch: int,
        seq_len: int,
        seed: int = 0,
        held_out: float = 0.2,
    ):
        if len(pairs) < 2:
            raise ExplorerError("Supervised fine-tuning needs at least two prompt-response pairs.")
        self.tokenizer, self.batch_size = tokenizer, batch
        self.pairs = list(pairs)
        self.examples = [sft_example(tokenizer, p, r, seq_len) for p, r in self.pairs]
        order = torch.randperm(len(self.pairs), generator=torch.Generator().manual_seed(seed)).tolist()
        k = max(1, round(len(order) * held_out))
        self.test_idx, self.train_idx = sorted(order[:k]), sorted(order[k:])
        self.eval_set = [self._make(self.test_idx[i : i + 8]) for i in range(0, len(self.test_idx), 8)]

    def _make(self, idx: Sequence[int]) -> dict:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        return pad_rows([self.examples[i][0] for i in idx], pad, [self.examples[i][1] for i in idx])

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        return {"eval_loss": mean_loss(model, self.eval_set, interrupt)}


def label_table(tokenizer: Any, prompt: str, response: str):
    """Token by token: the label each token gets under self-supervised CLM and under SFT."""
    import pandas as pd

    ids, labels = sft_example(tokenizer, prompt, response)
    return pd.DataFrame(
        {
            "token": [display_piece(tokenizer, i) for i in ids],
            "part": ["prompt" if lab == -100 else "response" for lab in labels],
            "self-supervised label": ids,
            "SFT label": labels,
        }
    )
