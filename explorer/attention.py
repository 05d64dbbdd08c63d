"""Attention weights of any loaded model and summaries of them (bertviz's views: `explorer.bertviz`).

`get_attentions(lm, text)` runs the model once with ``output_attentions=True`` and returns
every layer and head: one part ("self") for encoders, masked and causal LMs; three parts
("encoder", "decoder", "cross") for encoder-decoder models. Nothing is recomputed or
approximated: the arrays are the model's own attention probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from explorer.errors import ExplorerError
from explorer.tokens import display_pieces, encode, model_max_tokens

DEFAULT_MAX_TOKENS = 64
MAX_NEW_TOKENS = 20
# Cells in the all-heads grid (one plotly heatmap): about 16 bytes each in the figure.
GRID_MAX_CELLS = 80_000
GRID_DEFAULT_LAYERS = 8  # more can be picked; 30 layers x 9 heads make a very tall grid

# Example texts, each showing something: induction (repeated text), coreference, a blank for masked LMs.
EXAMPLES = {
    "Capital cities": "The capital of France is Paris, and the capital of Italy is",
    "Repeated text": "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.",
    "What does 'it' refer to?": "The trophy did not fit in the suitcase because it was too big.",
    "Fill the blank (masked LM)": "Paris is the [MASK] of France.",
}

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
    return Tokens(ids=list(ids), pieces=display_pieces(tokenizer, ids),
                  special=list(special) if special is not None else [i in special_ids for i in ids])


def _decoder_start(model: Any, tokenizer: Any) -> int:
    cfg = model.config
    for v in (getattr(cfg, "decoder_start_token_id", None), getattr(cfg, "pad_token_id", None),
              tokenizer.pad_token_id, tokenizer.bos_token_id):
        if isinstance(v, int):
            return v
    raise ExplorerError("This encoder-decoder model does not say which token starts the decoder.")


def _target_ids(lm: Any, input_ids: Any, target: str | None, max_tokens: int,
                max_new_tokens: int) -> tuple[list[int], bool, list[str]]:
    """Content ids of the decoder text: the user's target, or the model's own greedy output."""
    import torch

    tok, model = lm.tokenizer, lm.model
    if target and target.strip():
        enc = encode(tok, target, max_tokens=max_tokens, add_special_tokens=False, what="decoder text")
        return enc.ids, False, enc.notes
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                             max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
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


def get_attentions(lm: Any, text: str | None, *, target: str | None = None,
                   max_tokens: int = DEFAULT_MAX_TOKENS, max_new_tokens: int = MAX_NEW_TOKENS) -> Attentions:
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
        out = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                    decoder_input_ids=torch.tensor([dec_ids]), output_attentions=True)
    dec = _tokens(tok, dec_ids, [True] + [False] * (len(dec_ids) - 1))
    parts = {
        "encoder": AttentionPart("encoder", _stack(out.encoder_attentions), src, src, causal=False),
        "decoder": AttentionPart("decoder", _stack(out.decoder_attentions), dec, dec, causal=True),
        "cross": AttentionPart("cross", _stack(out.cross_attentions), dec, src, causal=False),
    }
    if generated:
        notes.append("No decoder text was given: the decoder reads the model's own greedy output.")
    return Attentions(parts, role=info.role, model_name=info.name, text=enc.text,
                      target=tok.decode(content, skip_special_tokens=True), target_generated=generated,
                      notes=notes + tnotes)


# --------------------------------------------------------------------------- summaries


HEAD_CHOICES = ("mean", "max")


def aggregate(weights: np.ndarray, layer: int, head: int | str) -> np.ndarray:
    """One layer's attention matrix: a single head, or the mean / max over all heads.

    The mean keeps every row summing to 1; the max does not (it shows the strongest head per cell).
    """
    if not 0 <= layer < weights.shape[0]:
        raise ExplorerError(f"Layer {layer} does not exist; this model has layers 0 to {weights.shape[0] - 1}.")
    layer_w = weights[layer]
    if head == "mean":
        return layer_w.mean(axis=0)
    if head == "max":
        return layer_w.max(axis=0)
    h = int(head)
    if not 0 <= h < layer_w.shape[0]:
        raise ExplorerError(f"Head {h} does not exist; this model has heads 0 to {layer_w.shape[0] - 1}.")
    return layer_w[h]


@dataclass
class Filtered:
    """A matrix with special tokens removed; `hidden_share[i]` is row i's weight on removed columns."""

    matrix: np.ndarray
    raw: np.ndarray
    rows: list[int]
    cols: list[int]
    hidden_share: np.ndarray
    renormalized: bool


def hide_special(matrix: np.ndarray, row_special: Sequence[bool], col_special: Sequence[bool], *,
                 renormalize: bool = True) -> Filtered:
    """Drop special-token rows and columns.

    With `renormalize`, each remaining row is divided by its remaining sum, so it sums to 1 again
    and shows how the token shares its attention among the content tokens. Without it, the weights
    stay as the model computed them (rows sum to less than 1: the rest went to the hidden tokens).
    `raw` always holds the model's own weights for the kept cells.
    """
    rows = [i for i, s in enumerate(row_special) if not s]
    cols = [j for j, s in enumerate(col_special) if not s]
    if not rows or not cols:
        raise ExplorerError("Only special tokens are left after hiding them.", "Show special tokens, or type more words.")
    raw = matrix[np.ix_(rows, cols)]
    kept = raw.sum(axis=1)
    full = matrix[rows].sum(axis=1)
    hidden = np.clip(full - kept, 0.0, None)
    shown = raw
    if renormalize:
        shown = np.divide(raw, kept[:, None], out=np.zeros_like(raw), where=kept[:, None] > 0)
    return Filtered(matrix=shown, raw=raw, rows=rows, cols=cols, hidden_share=hidden, renormalized=renormalize)


def _previous(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    n = w.shape[-1]
    if not part.square or n < 2:
        return np.full(w.shape[:2], np.nan)
    return np.stack([w[..., i, i - 1] for i in range(1, n)], axis=-1).mean(axis=-1)


def _self(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    if not part.square:
        return np.full(w.shape[:2], np.nan)
    return np.diagonal(w, axis1=-2, axis2=-1).mean(axis=-1)


def _first(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    return w[..., :, 0].mean(axis=-1)


def _special(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    mask = np.array(part.cols.special, dtype=bool)
    return w[..., :, mask].sum(axis=-1).mean(axis=-1) if mask.any() else np.zeros(w.shape[:2])


def _entropy(w: np.ndarray, part: AttentionPart) -> np.ndarray:
    p = np.clip(w, 1e-12, 1.0)
    return (-(w * np.log2(p)).sum(axis=-1)).mean(axis=-1)


# name -> (function of weights[L, H, R, C], explanation)
HEAD_METRICS = {
    "previous token": (_previous, "average weight each token gives to the token just before it"),
    "first token": (_first, "average weight on the first token (a common 'sink' where heads park attention)"),
    "special tokens": (_special, "average total weight on special tokens such as [CLS] and [SEP]"),
    "self": (_self, "average weight each token gives to itself"),
    "entropy (bits)": (_entropy, "how spread out each row is: 0 = one token gets everything"),
}


def head_scores(part: AttentionPart, metric: str) -> np.ndarray:
    """One number per (layer, head) that makes a known head pattern stand out; NaN where it does not apply."""
    if metric not in HEAD_METRICS:
        raise ExplorerError(f"Unknown head pattern '{metric}'.", f"Pick one of: {', '.join(HEAD_METRICS)}.")
    return HEAD_METRICS[metric][0](part.weights.astype(np.float64), part)


def top_heads(scores: np.ndarray, metric: str, n: int = 8) -> Any:
    """The heads that show a pattern most (lowest first for entropy), as a DataFrame."""
    import pandas as pd

    flat = [(li, h, float(v)) for (li, h), v in np.ndenumerate(scores) if not np.isnan(v)]
    flat.sort(key=lambda t: t[2], reverse=not metric.startswith("entropy"))
    return pd.DataFrame([{"layer": li, "head": h, metric: round(v, 4)} for li, h, v in flat[:n]],
                        columns=["layer", "head", metric])


def evenly_spaced(n: int, k: int) -> list[int]:
    """k indices spread over range(n), first and last included."""
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def grid_cells(part: AttentionPart, layers: Sequence[int]) -> int:
    return len(layers) * part.heads * len(part.rows) * len(part.cols)


def default_grid_layers(part: AttentionPart, budget: int = GRID_MAX_CELLS) -> list[int]:
    """Up to GRID_DEFAULT_LAYERS evenly spaced layers, as many as fit in the grid's cell budget (at least one)."""
    per_layer = part.heads * len(part.rows) * len(part.cols)
    return evenly_spaced(part.layers, max(1, min(GRID_DEFAULT_LAYERS, budget // max(per_layer, 1))))


def check_grid(part: AttentionPart, layers: Sequence[int], budget: int = GRID_MAX_CELLS) -> None:
    if not layers:
        raise ExplorerError("No layers are selected for the grid.", "Pick at least one layer.")
    cells = grid_cells(part, layers)
    if cells > budget:
        fit = max(1, budget // (part.heads * len(part.rows) * len(part.cols)))
        raise ExplorerError(
            f"{len(layers)} layers x {part.heads} heads x {len(part.rows)} x {len(part.cols)} tokens is "
            f"{cells:,} cells, more than this grid draws quickly ({budget:,}).",
            f"Pick at most {fit} layer{'s' if fit > 1 else ''}, or shorten the text.",
        )
