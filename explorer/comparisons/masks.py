"""One model, two attention masks: which positions each position may attend to, read from a model's own
attention weights (the masked LM made from the causal LM keeps the causal mask in its lower blocks and sees
the whole sentence in the others; the compare page draws both)."""

from __future__ import annotations

import numpy as np
import torch

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel


def attention_patterns(lm: LoadedModel, ids: list[int]) -> np.ndarray:
    """Which positions each position may attend to in every layer, read from the model's own attention
    weights: (layers, T, T), 1 where the weight is non-zero in any head, 0 where the model's mask hides it."""
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([ids]), output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise ExplorerError("This model does not return attention weights.")
    return torch.stack([(a[0].amax(0) > 0) for a in out.attentions]).to(torch.int8).numpy()


def attention_pattern(lm: LoadedModel, ids: list[int], layer: int = 0) -> np.ndarray:
    """One layer of `attention_patterns` (the first by default)."""
    return attention_patterns(lm, ids)[layer]


def sees_right_context(patterns: np.ndarray) -> list[bool]:
    """For each layer of `attention_patterns`: whether any position attends to a later one."""
    return [bool(np.triu(p, k=1).any()) for p in patterns]
