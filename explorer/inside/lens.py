"""Layer-by-layer predictions ("logit lens") for causal and masked language models.

Each layer's hidden state is read out with the model's own final head, as if the network
stopped there: for causal LMs the final norm and the LM head (the prediction *following*
each position), for masked LMs the whole MLM head, which for BERT includes the transform
(dense + activation + LayerNorm) before the vocabulary projection (the prediction *at* each
position). The last row is the model's real output.

The embeddings row is no prediction: it holds only the token each position reads. Where the head
shares its weights with the input embeddings (SmolLM2, GPT-2, BERT), it is decoded by cosine
similarity against them (the tokens whose embeddings are nearest: the token itself, then its
variants); the head's dot product would favour tokens with long embedding vectors (a reserved
``<filename>``, rare word pieces). Special tokens that a model never writes (reserved tokens, and
for masked LMs every special token) are never listed as predictions; the probabilities stay the
model's own, over the whole vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import Encoded, display_pieces, encode, model_max_tokens

if TYPE_CHECKING:
    from torch.nn import Module

DEFAULT_MAX_TOKENS = 64
MAX_TOKENS = 64  # every layer is read out over the whole vocabulary: ~7 s for 64 tokens of SmolLM2 on one core
DEFAULT_TOP_K = 5
ROLES = ("clm", "mlm")


@dataclass
class LensResult:
    """Top-k predictions per layer (rows: embeddings, layer 0, ..., layer L-1) and position."""

    tokens: Encoded
    role: str
    layer_names: list[str]
    top_ids: np.ndarray  # [layers + 1, positions, k]
    top_probs: np.ndarray  # [layers + 1, positions, k]
    top_pieces: list[list[list[str]]]
    final_prob: np.ndarray  # [layers + 1, positions]: probability of the final top-1 token at each layer
    final_rank: np.ndarray  # [layers + 1, positions]: its rank (0 = top) at each layer
    mask_positions: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    embeddings_nearest: bool = False  # True: the embeddings row is its nearest tokens (cosine), not probabilities

    def row_label(self, layer: int) -> str:
        """A row's name, saying what its numbers are where they are not probabilities."""
        name = self.layer_names[layer]
        return f"{name} (nearest tokens, cosine)" if layer == 0 and self.embeddings_nearest else name

    @property
    def k(self) -> int:
        return int(self.top_ids.shape[-1])

    def position_labels(self) -> list[str]:
        """Causal LMs predict the token *following* a position (shown as 'is →'); masked LMs the token *at* it."""
        return [f"{p} →" if self.role == "clm" else p for p in self.tokens.pieces]

    def top1(self) -> list[list[str]]:
        return [[layer[p][0] for p in range(len(layer))] for layer in self.top_pieces]

    def hover(self) -> list[list[str]]:
        """Per layer and position: the top-k tokens with probabilities, and where the final top token stands."""
        out = []
        for li in range(len(self.layer_names)):
            nearest = li == 0 and self.embeddings_nearest
            value = "cosine" if nearest else "p"
            row = []
            for p, piece in enumerate(self.tokens.pieces):
                where = "reading" if nearest else "after" if self.role == "clm" else "at"
                tops = "<br>".join(
                    f"{r + 1}. {self.top_pieces[li][p][r]}  {self.top_probs[li, p, r]:.4f}" for r in range(self.k)
                )
                row.append(
                    f"{self.row_label(li)}, {where} {piece} (position {p})<br>{tops}<br>final prediction "
                    f"{self.top_pieces[-1][p][0]}: {value} {self.final_prob[li, p]:.4f}, "
                    f"rank {self.final_rank[li, p] + 1}"
                )
            out.append(row)
        return out

    def table(self, position: int) -> Any:
        """One position's top-k tokens at every layer, as a DataFrame (one row per layer)."""
        import pandas as pd

        if not 0 <= position < self.top_ids.shape[1]:
            raise ExplorerError(f"Position {position} is outside the text (0 to {self.top_ids.shape[1] - 1}).")
        rows = []
        for li in range(len(self.layer_names)):
            row: dict[str, Any] = {"layer": self.row_label(li)}
            for r in range(self.k):
                row[f"#{r + 1}"] = self.top_pieces[li][position][r]
                row[f"p{r + 1}"] = round(float(self.top_probs[li, position, r]), 4)
            row["final token p"] = round(float(self.final_prob[li, position]), 4)
            row["final token rank"] = int(self.final_rank[li, position]) + 1
            rows.append(row)
        return pd.DataFrame(rows)


def _final_norm(model: Module) -> Any:
    """The norm a causal LM applies after its last layer (Llama `norm`, GPT-2 `ln_f`, OPT ...)."""
    base = model.base_model
    for holder in (base, getattr(base, "decoder", None)):
        if holder is None:
            continue
        for name in ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f"):
            mod = getattr(holder, name, None)
            if mod is not None and callable(mod):
                return mod
    return None


def _mlm_head(model: Module) -> Callable[[Any], Any] | None:
    """The full masked-LM head of a model (transform + projection), as one function."""
    if hasattr(model, "cls"):  # BERT family: BertOnlyMLMHead (transform + decoder)
        return model.cls
    if hasattr(model, "lm_head"):  # RoBERTa family: dense + gelu + LayerNorm + decoder in one module
        return model.lm_head
    if all(hasattr(model, n) for n in ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector")):
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    return None


def _softcap(model: Module, logits: Any) -> Any:
    import torch

    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def readouts(lm: LoadedModel) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(read an intermediate hidden state, read the last one) as logits, for this model.

    Causal LMs: intermediate states go through the final norm and the LM head; the last state
    returned by transformers has already been through the final norm, so it gets the head only.
    Masked LMs: every state goes through the whole MLM head (BERT-style models have no final norm).
    """
    model, role = lm.model, lm.info.role
    if callable(getattr(model, "lens_readouts", None)):  # a model that says how its states are read
        return model.lens_readouts()
    if role == "clm":
        head, norm = model.get_output_embeddings(), _final_norm(model)
        if head is None or norm is None:
            raise ExplorerError(
                f"The logit lens does not know where the final norm or head of {lm.info.architecture} is.",
                "Try another causal LM (gpt2, SmolLM2).",
            )
        return (lambda h: _softcap(model, head(norm(h)))), (lambda h: _softcap(model, head(h)))
    if role == "mlm":
        head = _mlm_head(model)
        if head is None:
            raise ExplorerError(
                f"The logit lens does not know the masked-LM head of {lm.info.architecture}.",
                "Try a BERT, RoBERTa or DistilBERT masked LM.",
            )
        return head, head
    raise ExplorerError(
        unsupported(role) or f"No layer-by-layer predictions for role '{role}'.", "Pick the causal LM or a masked LM."
    )


def never_predicted(tokenizer: Any, role: str) -> list[int]:
    """Special tokens never listed as a prediction: for a causal LM the reserved ones (SmolLM2's
    ``<filename>``, ``<gh_stars>`` …), keeping those that end or frame a text (end of text, chat turns);
    for a masked LM every special token (a hidden word is never ``[CLS]`` or ``[MASK]``)."""
    named = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
    added = {
        int(i)
        for i, t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
        if getattr(t, "special", False)
    }
    return sorted(added - named if role == "clm" else added | named)


def tied_embeddings(model: Module) -> Any:
    """The output embedding matrix when it is the input embeddings' own (tied weights), else None."""
    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    w_in, w_out = getattr(inp, "weight", None), getattr(out, "weight", None)
    if w_in is None or w_out is None or w_in.shape != w_out.shape:
        return None
    return w_out if w_in.data_ptr() == w_out.data_ptr() else None


def unsupported(role: str) -> str | None:
    """Why a role has no layer-by-layer view (None when it has one)."""
    if role in ROLES:
        return None
    if role == "encoder":
        return "A sentence encoder has no head that predicts tokens, so there is nothing to read out layer by layer."
    return (
        "Layer-by-layer predictions are shown for causal and masked LMs. An encoder-decoder's predictions "
        "come from its decoder, which also reads the encoder at every layer; that is not covered here."
    )


def prepare_text(tokenizer: Any, text: str | None) -> str | None:
    """Let users type [MASK] whatever the model's mask token is (e.g. <mask> for RoBERTa)."""
    mask = getattr(tokenizer, "mask_token", None)
    if text and mask and mask != "[MASK]":
        return text.replace("[MASK]", mask)
    return text


def logit_lens(
    lm: LoadedModel, text: str | None, *, k: int = DEFAULT_TOP_K, max_tokens: int = DEFAULT_MAX_TOKENS
) -> LensResult:
    """Top-k tokens the final head predicts from each layer's hidden state, at each position.

    The last layer's readout is checked against the model's own logits; if they differ (an
    architecture whose last hidden state is not what the head reads), an error is raised rather
    than showing a wrong picture.
    """
    import torch

    mid, last = readouts(lm)
    tok, model = lm.tokenizer, lm.model
    enc = encode(tok, prepare_text(tok, text), max_tokens=model_max_tokens(tok, model, cap=min(max_tokens, MAX_TOKENS)))
    k = max(1, min(int(k), 20))
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
        hidden = out.hidden_states
        if hidden is None or len(hidden) < 2:
            raise ExplorerError("This model did not return its hidden states.")
        final_logits = last(hidden[-1][0])
        if not torch.allclose(final_logits, out.logits[0], atol=1e-3, rtol=1e-3):
            raise ExplorerError(
                f"The logit lens cannot read {lm.info.architecture}'s layers faithfully "
                "(its last hidden state does not reproduce its output)."
            )
        hidden_ids = torch.tensor(never_predicted(tok, lm.info.role), dtype=torch.long)
        hidden_ids = hidden_ids[hidden_ids < final_logits.shape[-1]]
        listed = torch.ones(final_logits.shape[-1], dtype=torch.bool)
        listed[hidden_ids] = False
        final_top = final_logits.masked_fill(~listed, float("-inf")).argmax(-1)
        table = tied_embeddings(model)
        n_rows = len(hidden)
        top_ids = np.zeros((n_rows, len(enc), k), dtype=np.int64)
        top_probs = np.zeros((n_rows, len(enc), k), dtype=np.float32)
        final_prob = np.zeros((n_rows, len(enc)), dtype=np.float32)
        final_rank = np.zeros((n_rows, len(enc)), dtype=np.int64)
        for li, h in enumerate(hidden):
            if li == 0 and table is not None:  # what each input vector is: its nearest tokens (any token)
                scores = (
                    torch.nn.functional.normalize(h[0].float(), dim=-1)
                    @ torch.nn.functional.normalize(table.float(), dim=-1).T
                )
                shown = scores
            else:
                logits = final_logits if li == n_rows - 1 else mid(h[0])
                scores = torch.softmax(logits.float(), dim=-1)  # the model's own, over the whole vocabulary
                shown = scores.masked_fill(~listed, -1.0)  # never-predicted tokens are not listed
            p, i = shown.topk(k, dim=-1)
            top_ids[li], top_probs[li] = i.numpy(), p.numpy()
            fp = scores.gather(-1, final_top[:, None])[:, 0]
            final_prob[li] = fp.numpy()
            final_rank[li] = (shown > fp[:, None]).sum(-1).numpy()
    pieces = [[display_pieces(tok, row.tolist()) for row in layer] for layer in top_ids]
    names = ["embeddings"] + [f"layer {i}" for i in range(n_rows - 1)]
    masks = [i for i, t in enumerate(enc.ids) if tok.mask_token_id is not None and t == tok.mask_token_id]
    return LensResult(
        tokens=enc,
        role=lm.info.role,
        layer_names=names,
        top_ids=top_ids,
        top_probs=top_probs,
        top_pieces=pieces,
        final_prob=final_prob,
        final_rank=final_rank,
        mask_positions=masks,
        notes=list(enc.notes),
        embeddings_nearest=table is not None,
    )


def default_position(result: LensResult) -> int:
    """Where a reader looks first: the first mask for masked LMs, the last content token for causal LMs."""
    if result.role == "mlm" and result.mask_positions:
        return result.mask_positions[0]
    content = result.tokens.content_positions
    return content[-1] if content else len(result.tokens) - 1
