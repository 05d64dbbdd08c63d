"""One model, two attention masks: which positions each position may attend to, read from a model's own
attention weights (the masked LM made from the causal LM keeps the causal mask in its lower blocks and sees
the whole sentence in the others; the compare page draws both)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel

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


def three_masks(clm: LoadedModel, mlm: LoadedModel, span_lm: LoadedModel, input_text: str, target_text: str):
    """One set of weights, three masks, read from each model's own attention weights in its last block:
    the causal LM on the original sentence (causal), the masked LM on it (full) and the span LM on its
    corrupted input followed by its target (prefix: the input both ways, the target left to right)."""
    from explorer.span.sentinels import reconstruct_text
    from explorer.tokens import display_pieces

    text = reconstruct_text(input_text, target_text)
    c_ids = clm.tokenizer(text, add_special_tokens=False).input_ids[:MAX_TOKENS]
    m_ids = mlm.tokenizer(text).input_ids[:MAX_TOKENS]
    s_in = span_lm.tokenizer(input_text).input_ids
    s_ids = (s_in + span_lm.tokenizer(target_text, add_special_tokens=False).input_ids)[:MAX_TOKENS]
    return [
        MaskView("Causal: next token", display_pieces(clm.tokenizer, c_ids), attention_patterns(clm, c_ids)[-1]),
        MaskView("Full: masked LM", display_pieces(mlm.tokenizer, m_ids), attention_patterns(mlm, m_ids)[-1]),
        MaskView(
            "Prefix: span corruption (input | target)",
            display_pieces(span_lm.tokenizer, s_ids),
            attention_patterns(span_lm, s_ids, prefix_length=min(len(s_in), len(s_ids)))[-1],
        ),
    ]
