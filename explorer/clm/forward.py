"""Token ids in, logits out: input checks and the per-model caches of forward passes (`explorer.forward_cache`)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.nn import Module

from explorer.clm.prefix import STORE
from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, clear_all
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, display_piece, max_positions


def as_ids(tokens: Encoded | Sequence[int] | torch.Tensor) -> list[int]:
    """Token ids from an `Encoded`, a list of ints or a 1-d tensor."""
    if isinstance(tokens, Encoded):
        return list(tokens.ids)
    if isinstance(tokens, torch.Tensor):
        return [int(t) for t in tokens.reshape(-1).tolist()]
    return [int(t) for t in tokens]


def piece_text(tokenizer: Any, token_id: int) -> str:
    """A token as the page shows it (`<id>` without a tokenizer)."""
    return display_piece(tokenizer, token_id) if tokenizer is not None else f"<{token_id}>"


def vocab_size(model: Module) -> int:
    return int(model.get_output_embeddings().weight.shape[0])


def check_ids(model: Module, ids: list[int]) -> None:
    """Refuse no tokens, more than the model reads, or ids outside its vocabulary, with a message for the page."""
    if not ids:
        raise ExplorerError("There are no tokens to predict from.", "Type a prompt.")
    limit = max_positions(model)
    if len(ids) > limit:
        raise ExplorerError(
            f"The text is {len(ids)} tokens long; this model reads at most {limit}.",
            "Shorten the text or undo some steps.",
        )
    size = vocab_size(model)
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ExplorerError(f"Token id {bad[0]} is outside this model's vocabulary (0–{size - 1}).")


# --------------------------------------------------------------------------- forward cache


LAST_LOGITS = ForwardCache(128)  # last-position logits: one vocabulary row each
FORCED_PASSES = ForwardCache(8)  # teacher-forcing summaries


def clear_cache() -> None:
    """Empty the forward caches: these, and the masked-LM and compare ones (`forward_cache.clear_all`)."""
    clear_all()


def forward_count() -> int:
    """How many forward passes the caches have not been able to spare (for tests and benchmarks); a pass
    that reads only the tokens after a kept beginning (`explorer.clm.prefix`) counts as one."""
    return LAST_LOGITS.misses + FORCED_PASSES.misses


def keep_logits(model: Module, ids: list[int], first: int, logits: torch.Tensor) -> None:
    """Put the rows of a pass in the next-token cache: logits[j] are those after ids[:first + j + 1] (the
    longest prefixes the cache can hold)."""
    for j in range(max(0, len(logits) - LAST_LOGITS.size), len(logits)):
        LAST_LOGITS.put(model, tuple(ids[: first + j + 1]), logits[j].clone())


def next_token_logits(lm: LoadedModel, tokens: Encoded | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """The model's logits for the token after `tokens` (1-d float32 tensor over the vocabulary); cached,
    and read from the kept keys and values of the text's beginning (`explorer.clm.prefix`)."""
    model, _ = model_parts(lm)
    ids = as_ids(tokens)
    check_ids(model, ids)

    def compute() -> torch.Tensor:
        reading, first, logits = STORE.read_logits(model, ids)
        keep_logits(model, ids, first, logits[:-1])
        return reading.last.clone()

    return LAST_LOGITS.get(model, tuple(ids), compute).clone()
