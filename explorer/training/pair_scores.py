"""A preference pair's answers scored by a causal LM: log π(answer | prompt), the sum of the answer tokens'
log-probabilities (the prompt's tokens not counted), for every pair at once, batched; the frozen
reference model's scores kept once per process (and on disk for the bundled pairs). DPO
(`explorer.training.dpo`) compares the policy's scores with the reference's; the reward model's checks
split the pairs the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.training.limits import MAX_SEQ_LEN
from explorer.training.loop import eval_mode, interrupt_points
from explorer.training.preferences import PreferencePair
from explorer.training.reference import scores as reference_scores
from explorer.training.sft import sft_example
from explorer.training.tasks import pad_rows


def answer_log_probs(model: Module, batch: dict) -> torch.Tensor:
    """log π(answer | prompt) for each row of a padded batch whose `labels` are -100 on the prompt and
    padding: the sum of the answer tokens' log-probabilities. The vocabulary head is applied only at
    the positions that predict an answer token."""
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    base, head = getattr(model, "base_model", None), model.get_output_embeddings()
    if base is not None and base is not model and head is not None:
        hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logits = head(hidden[:, :-1][keep])
    else:  # pragma: no cover - a model without separate base and head
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1][keep]
    token_logp = torch.log_softmax(logits.float(), dim=-1).gather(1, labels[keep][:, None]).squeeze(1)
    rows = torch.arange(labels.shape[0])[:, None].expand_as(labels)[keep]
    return torch.zeros(labels.shape[0], dtype=token_logp.dtype).index_add(0, rows, token_logp)


@dataclass
class EncodedPair:
    """One pair as token ids: (ids, labels) of prompt + chosen and of prompt + rejected."""

    chosen: tuple[list[int], list[int]]
    rejected: tuple[list[int], list[int]]


def encode_pairs(
    tokenizer: Any, pairs: Sequence[PreferencePair], seq_len: int = MAX_SEQ_LEN
) -> tuple[list[EncodedPair], list[int], list[str]]:
    """Each usable pair encoded with the chat template (see `sft_example`), its index, and notes on the
    pairs left out because prompt and answer do not fit in `seq_len` tokens (a cut answer would be
    compared by its beginning only)."""
    out, kept, long = [], [], 0
    for i, p in enumerate(pairs):
        c = sft_example(tokenizer, p.prompt, p.chosen, max_len=10_000)
        r = sft_example(tokenizer, p.prompt, p.rejected, max_len=10_000)
        if max(len(c[0]), len(r[0])) > seq_len:
            long += 1
            continue
        out.append(EncodedPair(c, r))
        kept.append(i)
    notes = (
        []
        if not long
        else [
            f"{long} pair{'s' if long != 1 else ''} longer than {seq_len} tokens (prompt and "
            f"answer together) {'were' if long != 1 else 'was'} left out."
        ]
    )
    if not out:
        raise ExplorerError(f"No pair fits in {seq_len} tokens (prompt and answer together).", "Use shorter answers.")
    return out, kept, notes


def pair_batch(tokenizer: Any, encoded: Sequence[EncodedPair]) -> dict:
    """Chosen rows first, then rejected rows, padded together."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = [e.chosen for e in encoded] + [e.rejected for e in encoded]
    return pad_rows([r[0] for r in rows], pad, [r[1] for r in rows])


Progress = Callable[[int, int], None]  # (pairs scored, pairs in all)


def pair_log_probs(
    model: Module,
    tokenizer: Any,
    encoded: Sequence[EncodedPair],
    *,
    batch_pairs: int = 4,
    interrupt: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π(chosen), log π(rejected)) of every pair, with no gradient, in eval mode; `progress(done,
    total)` after each batch of pairs (whatever it raises ends the scoring, as `interrupt`'s does)."""
    chosen, rejected = [], []
    with eval_mode(model), torch.no_grad(), interrupt_points(model, interrupt):
        for i in range(0, len(encoded), batch_pairs):
            part = encoded[i : i + batch_pairs]
            lp = answer_log_probs(model, pair_batch(tokenizer, part))
            chosen.append(lp[: len(part)])
            rejected.append(lp[len(part) :])
            if progress is not None:
                progress(i + len(part), len(encoded))
    return torch.cat(chosen), torch.cat(rejected)


def pairs_key(encoded: Sequence[EncodedPair]) -> str:
    """A digest of the pairs' token ids and labels (what the reference's scores depend on)."""
    h = hashlib.sha1()
    for e in encoded:
        h.update(repr((e.chosen, e.rejected)).encode())
    return h.hexdigest()


def reference_log_probs(
    reference: Module,
    tokenizer: Any,
    encoded: Sequence[EncodedPair],
    *,
    persist: bool = False,
    interrupt: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`pair_log_probs` of the reference model, computed once per process for the same pairs of a frozen
    (shared) model, and kept on disk with `persist` (the bundled pairs): `explorer.training.reference`."""
    return reference_scores(
        reference,
        pairs_key(encoded),
        lambda: pair_log_probs(reference, tokenizer, encoded, interrupt=interrupt, progress=progress),
        persist=persist,
    )


def split_pairs(n: int, held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded split of n pairs into (train, held-out), at least one on each side."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    k = min(n - 1, max(1, round(n * held_out)))
    return sorted(order[k:]), sorted(order[:k])
