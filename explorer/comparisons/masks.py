"""One model, its attention masks: which positions each position may attend to, read from a model's own
attention weights (the masked LM made from the causal LM keeps the causal mask in its lower blocks and sees
the whole sentence in the others; the compare page draws both; the span LM adds the prefix LM's mask)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.span.sentinels import reconstruct_text
from explorer.tokens import display_pieces

MAX_TOKENS = 40  # drawn tokens per mask


def attention_patterns(lm: LoadedModel, ids: list[int], prefix_length: int | None = None) -> np.ndarray:
    """Which positions each position may attend to in every layer, read from the model's own attention
    weights: (layers, T, T), 1 where the weight is non-zero in any head, 0 where the model's mask hides it.
    `prefix_length`: for a prefix LM, how many of the tokens are its input (the rest is its target)."""
    extra = {} if prefix_length is None else {"prefix_lengths": torch.tensor([int(prefix_length)])}
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([ids]), output_attentions=True, **extra)
    if not out.attentions or out.attentions[0] is None:
        raise ExplorerError("This model does not return attention weights.")
    return torch.stack([(a[0].amax(0) > 0) for a in out.attentions]).to(torch.int8).numpy()


def attention_pattern(lm: LoadedModel, ids: list[int], layer: int = 0) -> np.ndarray:
    """One layer of `attention_patterns` (the first by default)."""
    return attention_patterns(lm, ids)[layer]


def sees_right_context(patterns: np.ndarray) -> list[bool]:
    """For each layer of `attention_patterns`: whether any position attends to a later one."""
    return [bool(np.triu(p, k=1).any()) for p in patterns]


def reads_a_prefix(lm: LoadedModel) -> bool:
    """Whether the model is a prefix LM (reads `prefix_lengths`): the offline span-corruption model."""
    return "PrefixLlamaForSpanCorruption" in (getattr(lm.model.config, "architectures", None) or [])


@dataclass
class MaskView:
    """One model's attention mask on a text: its title, token labels and (T, T) pattern of the last block."""

    title: str
    pieces: list[str]
    pattern: np.ndarray


def causal_view(clm: LoadedModel, text: str) -> MaskView:
    """The causal LM's mask on a text (each token sees the ones before it)."""
    ids = clm.tokenizer(text, add_special_tokens=False).input_ids[:MAX_TOKENS]
    return MaskView("Causal: next token", display_pieces(clm.tokenizer, ids), attention_patterns(clm, ids)[-1])


def full_view(mlm: LoadedModel, text: str) -> MaskView:
    """The masked LM's mask on a text (every token sees the whole text)."""
    ids = mlm.tokenizer(text).input_ids[:MAX_TOKENS]
    return MaskView("Full: masked LM", display_pieces(mlm.tokenizer, ids), attention_patterns(mlm, ids)[-1])


def prefix_view(span_lm: LoadedModel, input_text: str, target_text: str) -> MaskView:
    """The span LM's mask on its corrupted input followed by its target (the input both ways, the target
    left to right)."""
    s_in = span_lm.tokenizer(input_text).input_ids
    ids = (s_in + span_lm.tokenizer(target_text, add_special_tokens=False).input_ids)[:MAX_TOKENS]
    return MaskView(
        "Prefix: span corruption (input | target)",
        display_pieces(span_lm.tokenizer, ids),
        attention_patterns(span_lm, ids, prefix_length=min(len(s_in), len(ids)))[-1],
    )


def three_masks(clm: LoadedModel, mlm: LoadedModel, span_lm: LoadedModel, input_text: str, target_text: str):
    """One set of weights, three masks, read from each model's own attention weights in its last block:
    the causal LM on the original sentence (causal), the masked LM on it (full) and the span LM on its
    corrupted input followed by its target (prefix: the input both ways, the target left to right)."""
    text = reconstruct_text(input_text, target_text)
    return [causal_view(clm, text), full_view(mlm, text), prefix_view(span_lm, input_text, target_text)]
