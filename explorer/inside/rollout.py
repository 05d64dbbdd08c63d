"""Attention × gradient, rolled out through the layers (Chefer, Gur & Wolf 2021, "Generic Attention-model
Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers", eq. 5-6).

Plain attention rollout (Abnar & Zuidema 2020) multiplies the layers' attention maps: it gives the same
picture whatever the model predicts, so it cannot say why *this* word. Weighting each head's map by the
gradient of the prediction with respect to it, keeping the positive part and averaging over heads, makes the
picture the prediction's own; rolling it out (R <- R + Ā R, from R = I) follows the paths through the layers.
A token's credit is the row of R at the state the prediction is read from, without the identity's own 1 (the
row's token would otherwise always come first). It says how much, never which way: every value is >= 0.

Captum has no attention method, so this one is written out here; it needs the model's attention weights
(eager attention, as `explorer.load` gives).
"""

from __future__ import annotations

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.inside.readings import Question, read_value, reads_index, sequences


def state_row(model: Module, col: int) -> int:
    """The hidden state a prediction at logits position `col` is read from: the one before it for a masked
    LM with the next-token readout (the project's SmolLM2-MLM), else its own."""
    return col - 1 if getattr(model.config, "readout", None) == "next" and col >= 1 else col


def rollout(model: Module, q: Question, ctx: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Each context token's credit (Tc,) and the explained value, for context embeddings `ctx` (1, Tc, d)."""
    embeds, mask, lengths = sequences(model, q, ctx)
    embeds = embeds.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(inputs_embeds=embeds, attention_mask=mask, output_attentions=True)
        attentions = [a for a in (out.attentions or ()) if a is not None]
        if not attentions:
            raise ExplorerError(
                "This model does not report its attention weights, so attention × gradient cannot be shown.",
                "Pick gradient × input or Integrated Gradients.",
            )
        rows, cols = reads_index(q, 1)
        value = read_value(q, torch.log_softmax(out.logits[rows, cols].float(), dim=-1), 1)[0]
        grads = torch.autograd.grad(value, attentions, allow_unused=True)
    n_rows, length = embeds.shape[0], embeds.shape[1]
    relevance = torch.eye(length).repeat(n_rows, 1, 1)
    for att, grad in zip(attentions, grads):
        if grad is None:
            continue
        cam = (grad * att).clamp(min=0).mean(dim=1).detach().float()  # (rows, L, L)
        relevance = relevance + cam @ relevance
    credit = torch.zeros(len(q.context))
    for r, (reading, row_length) in enumerate(zip(q.readings, lengths)):
        width = len(reading.region)
        for col, _ in reading.reads:
            s = state_row(model, col)
            row = relevance[r, s, :row_length].clone()
            row[s] -= 1.0  # the identity's own share
            credit[: q.start] += row[: q.start]
            credit[q.start :] += row[q.start + width : row_length]
    return credit, float(value.detach())
