"""Attention weights of any loaded model (summaries of them: `explorer.inside.summaries`; bertviz's
views: `explorer.inside.bertviz`).

`get_attentions(lm, text)` runs the model once with ``output_attentions=True`` and returns
every layer and head: one part ("self") for encoders, masked and causal LMs; three parts
("encoder", "decoder", "cross") for encoder-decoder models. Nothing is recomputed or
approximated: the arrays are the model's own attention probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from explorer import examples
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import display_pieces, encode, model_max_tokens

if TYPE_CHECKING:
    from torch.nn import Module

DEFAULT_MAX_TOKENS = 64
MAX_NEW_TOKENS = 20

# Example texts, each showing something (assets/examples/attention.toml says what, and tests/claims/test_claims.py
# checks it): a pattern to continue, repeated text (induction), coreference, a blank for masked LMs.
EXAMPLES = {ex["name"]: ex["text"] for ex in examples.presets("attention")}

PART_TITLES = {
    "self": "Self-attention",
    "encoder": "Encoder self-attention",
    "decoder": "Decoder self-attention",
    "cross": "Cross-attention (decoder to encoder)",
}


# --------------------------------------------------------------------------- data


@dataclass
class Tokens:
    """One side of an attention matrix: token ids, display labels and which are special."""

    ids: list[int]
    pieces: list[str]
    special: list[bool]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class AttentionPart:
    """All layers and heads of one attention kind: weights[layer, head, row (from), col (to)]."""

    name: str
    weights: np.ndarray
    rows: Tokens
    cols: Tokens
    causal: bool

    @property
    def title(self) -> str:
        return PART_TITLES[self.name]

    @property
    def layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def heads(self) -> int:
        return int(self.weights.shape[1])

    @property
    def square(self) -> bool:
        return self.rows.ids == self.cols.ids


@dataclass
class Attentions:
    """Every attention weight of one forward pass, by part name."""

    parts: dict[str, AttentionPart]
    role: str
    model_name: str
    text: str
    target: str = ""
    target_generated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def part_names(self) -> list[str]:
        return list(self.parts)

    def tokens(self) -> int:
        """The longest side over all parts (what makes views slow)."""
        return max(max(len(p.rows), len(p.cols)) for p in self.parts.values())


# --------------------------------------------------------------------------- running the model


def _stack(attentions: Sequence[Any]) -> np.ndarray:
    if not attentions or attentions[0] is None:
        raise ExplorerError(
            "This model did not return attention weights.",
            "It may use an attention implementation that cannot report them; try another model.",
        )
    return np.stack([a[0].detach().float().cpu().numpy() for a in attentions])


def _tokens(tokenizer: Any, ids: list[int], special: list[bool] | None = None) -> Tokens:
    special_ids = set(tokenizer.all_special_ids or [])
    return Tokens(
        ids=list(ids),
        pieces=display_pieces(tokenizer, ids),
        special=list(special) if special is not None else [i in special_ids for i in ids],
    )


def _decoder_start(model: Module, tokenizer: Any) -> int:
    cfg = model.config
    for v in (
        getattr(cfg, "decoder_start_token_id", None),
        getattr(cfg, "pad_token_id", None),
        tokenizer.pad_token_id,
        tokenizer.bos_token_id,
    ):
        if isinstance(v, int):
            return v
    raise ExplorerError("This encoder-decoder model does not say which token starts the decoder.")


def _target_ids(
    lm: LoadedModel, input_ids: Any, target: str | None, max_tokens: int, max_new_tokens: int
) -> tuple[list[int], bool, list[str]]:
    """Content ids of the decoder text: the user's target, or the model's own greedy output."""
    import torch

    tok, model = lm.tokenizer, lm.model
    if target and target.strip():
        enc = encode(tok, target, max_tokens=max_tokens, add_special_tokens=False, what="decoder text")
        return enc.ids, False, enc.notes
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
        )
    special = set(tok.all_special_ids or [])
    ids = [int(i) for i in out[0].tolist()]
    if ids and ids[0] == _decoder_start(model, tok):
        ids = ids[1:]
    content = []
    for i in ids:
        if i in special:
            if i == tok.eos_token_id:
                break
            continue
        content.append(i)
    if not content:
        raise ExplorerError("The model generated no output for this text.", "Type a decoder text yourself.")
    return content, True, []


def get_attentions(
    lm: LoadedModel,
    text: str | None,
    *,
    target: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> Attentions:
    """Run the model once and return all its attention weights (float32, as the model computed them).

    Encoder-decoder models get `target` as the decoder text; when it is empty, the model's own
    greedy output (at most `max_new_tokens` tokens) is used. The decoder reads its start token
    followed by the target tokens.
    """
    import torch

    tok, model, info = lm.tokenizer, lm.model, lm.info
    max_tokens = model_max_tokens(tok, model, cap=max_tokens)
    enc = encode(tok, text, max_tokens=max_tokens)
    input_ids = torch.tensor([enc.ids])
    notes = list(enc.notes)
    src = Tokens(ids=enc.ids, pieces=enc.pieces, special=enc.special)
    is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    with torch.no_grad():
        if not is_seq2seq:
            out = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True)
            causal = info.role == "clm" or bool(getattr(model.config, "is_decoder", False))
            part = AttentionPart("self", _stack(out.attentions), src, src, causal=causal)
            return Attentions({"self": part}, role=info.role, model_name=info.name, text=enc.text, notes=notes)
        content, generated, tnotes = _target_ids(lm, input_ids, target, max_tokens, max_new_tokens)
        dec_ids = [_decoder_start(model, tok)] + content[: max(1, max_tokens - 1)]
        out = model(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            decoder_input_ids=torch.tensor([dec_ids]),
            output_attentions=True,
        )
    dec = _tokens(tok, dec_ids, [True] + [False] * (len(dec_ids) - 1))
    parts = {
        "encoder": AttentionPart("encoder", _stack(out.encoder_attentions), src, src, causal=False),
        "decoder": AttentionPart("decoder", _stack(out.decoder_attentions), dec, dec, causal=True),
        "cross": AttentionPart("cross", _stack(out.cross_attentions), dec, src, causal=False),
    }
    if generated:
        notes.append("No decoder text was given: the decoder reads the model's own greedy output.")
    return Attentions(
        parts,
        role=info.role,
        model_name=info.name,
        text=enc.text,
        target=tok.decode(content, skip_special_tokens=True),
        target_generated=generated,
        notes=notes + tnotes,
    )
