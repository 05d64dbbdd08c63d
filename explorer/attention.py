"""Attention weights of any loaded model, summaries of them, and offline bertviz views.

`get_attentions(lm, text)` runs the model once with ``output_attentions=True`` and returns
every layer and head: one part ("self") for encoders, masked and causal LMs; three parts
("encoder", "decoder", "cross") for encoder-decoder models. Nothing is recomputed or
approximated: the arrays are the model's own attention probabilities.

`bertviz_html(...)` renders bertviz's head or model view as a complete HTML document with
d3, jQuery and a small `require` stand-in inlined from ``assets/vendor`` (bertviz itself
fetches them from a CDN), so the view works offline, in the page and as a downloaded file.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from explorer.errors import ExplorerError
from explorer.tokens import display_pieces, encode, model_max_tokens

VENDOR = Path(__file__).resolve().parent.parent / "assets" / "vendor"

DEFAULT_MAX_TOKENS = 64
MAX_NEW_TOKENS = 20
# bertviz draws one SVG line per token pair and per head: beyond ~100 tokens the browser stalls.
BERTVIZ_MAX_TOKENS = 100
# Weights written into one bertviz page (layers x heads x rows x cols, all parts together);
# 250k weights are about 2 MB of HTML.
BERTVIZ_MAX_WEIGHTS = 250_000
# SVG lines the model view draws at once (layers x heads x rows x cols).
BERTVIZ_MODEL_MAX_LINES = 120_000
# Cells in the all-heads grid (one plotly heatmap): about 16 bytes each in the figure.
GRID_MAX_CELLS = 80_000
GRID_DEFAULT_LAYERS = 8  # more can be picked; 30 layers x 9 heads make a very tall grid
DECIMALS = 4  # weights in the bertviz page are rounded to this many decimals

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

# XML namespace names: identifiers d3 needs to create SVG elements, never fetched by a browser.
XML_NAMESPACES = (
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
)

# (file under assets/vendor, the banner line to use instead of the file's first line when inlined)
VENDOR_SCRIPTS = (
    ("d3/d3.min.js", "// d3 v5.7.0 Copyright 2018 Mike Bostock, BSD-3-Clause licence"),
    ("jquery/jquery.min.js", "/*! jQuery v3.7.1 | (c) OpenJS Foundation and other contributors | MIT licence */"),
    ("require-shim/require-shim.js", None),
)


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


# --------------------------------------------------------------------------- bertviz, offline


def bertviz_weights(att: Attentions, layers: Sequence[int], heads: Sequence[int] | None, view: str) -> int:
    """How many weights a bertviz page for these choices holds (the head view always holds all heads)."""
    n_heads = len(heads) if (view == "model" and heads) else next(iter(att.parts.values())).heads
    return sum(len(layers) * n_heads * len(p.rows) * len(p.cols) for p in att.parts.values())


def default_bertviz_layers(att: Attentions, view: str, budget: int = BERTVIZ_MAX_WEIGHTS) -> list[int]:
    """Model view: up to 4 evenly spaced layers; head view: all layers if they fit, else as many as fit."""
    n = next(iter(att.parts.values())).layers
    per_layer = max(1, bertviz_weights(att, [0], None, "head"))
    if view == "model":
        budget = min(budget, BERTVIZ_MODEL_MAX_LINES)
    fit = max(1, min(n, budget // per_layer))
    return evenly_spaced(n, min(fit, 4) if view == "model" else fit)


def check_bertviz(att: Attentions, layers: Sequence[int], heads: Sequence[int] | None, view: str,
                  max_tokens: int = BERTVIZ_MAX_TOKENS, budget: int = BERTVIZ_MAX_WEIGHTS) -> None:
    """Refuse, with a clear message, what would freeze the browser."""
    n = att.tokens()
    if n > max_tokens:
        raise ExplorerError(
            f"The text has {n} tokens; the bertviz views are limited to {max_tokens} tokens because they "
            "draw a line for every pair of tokens and stall the browser beyond that.",
            "Lower 'Max tokens' or shorten the text. The heatmaps above work for longer texts.",
        )
    if not layers:
        raise ExplorerError("No layers are selected for the bertviz view.", "Pick at least one layer.")
    if view == "model" and heads is not None and not heads:
        raise ExplorerError("No heads are selected for the model view.", "Pick at least one head.")
    weights = bertviz_weights(att, layers, heads, view)
    if view == "model":
        budget = min(budget, BERTVIZ_MODEL_MAX_LINES)
    if weights > budget:
        raise ExplorerError(
            f"These choices put {weights:,} attention weights into the view, more than the browser draws "
            f"smoothly ({budget:,}).",
            "Pick fewer layers" + (" or heads" if view == "model" else "") + ", or shorten the text.",
        )


_LT = "\ue000"  # stands for '<' in token labels until the page is written (private-use, never in clean text)


def bertviz_height(att: Attentions, view: str, layers: Sequence[int], heads: Sequence[int] | None = None) -> int:
    """Pixels the view needs (from the sizes bertviz's own code uses), so the frame does not scroll."""
    n = att.tokens()
    top = 110 if len(att.parts) > 1 else 80  # caption, menus
    if view == "head":
        return int(top + n * 22.5 + 40)
    total_heads = next(iter(att.parts.values())).heads
    thumb = n * 7 * 12 / total_heads + 10
    return int(top + max(len(layers) * thumb + 38, n * 18 + 70) + 20)


def layer_list(layers: Sequence[int]) -> str:
    """'0-3, 7, 9-11' for [0, 1, 2, 3, 7, 9, 10, 11]."""
    xs = sorted(set(int(x) for x in layers))
    out = []
    for _, group in groupby(enumerate(xs), key=lambda t: t[1] - t[0]):
        run = [x for _, x in group]
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _safe_labels(pieces: Sequence[str]) -> list[str]:
    return [p.replace(_LT, "").replace("<", _LT) for p in pieces]


def _tensors(weights: np.ndarray) -> list[Any]:
    """bertviz's input format: one (1, heads, rows, cols) tensor per layer, rounded to DECIMALS."""
    import torch

    w = torch.from_numpy(np.round(weights.astype(np.float64), DECIMALS))
    return [w[i].unsqueeze(0) for i in range(w.shape[0])]


def _bertviz_fragment(att: Attentions, view: str, layers: list[int], heads: list[int] | None) -> str:
    from bertviz import head_view, model_view

    kw: dict[str, Any] = {"prettify_tokens": False, "html_action": "return"}
    if "self" in att.parts:
        p = att.parts["self"]
        kw.update(attention=_tensors(p.weights), tokens=_safe_labels(p.rows.pieces))
    else:
        kw.update(encoder_attention=_tensors(att.parts["encoder"].weights),
                  decoder_attention=_tensors(att.parts["decoder"].weights),
                  cross_attention=_tensors(att.parts["cross"].weights),
                  encoder_tokens=_safe_labels(att.parts["encoder"].rows.pieces),
                  decoder_tokens=_safe_labels(att.parts["decoder"].rows.pieces))
    if view == "head":
        out = head_view(include_layers=list(layers), layer=layers[0], heads=list(heads) if heads else None, **kw)
    elif view == "model":
        out = model_view(include_layers=list(layers), include_heads=list(heads) if heads else None,
                         display_mode="light", **kw)
    else:
        raise ExplorerError(f"Unknown view '{view}'.", "Use 'head' or 'model'.")
    return out.data


def _offline(fragment: str) -> str:
    """Remove what bertviz would fetch: the require.js tag, the CDN paths and the URL in its header comment."""
    fragment = re.sub(r"<script[^>]*\bsrc=[^>]*>\s*</script>", "", fragment)
    fragment = re.sub(r"/\*\*.*?\*\*/", "", fragment, count=1, flags=re.S)
    fragment = re.sub(r"require\.config\(\{.*?\}\);", "", fragment, count=1, flags=re.S)
    return fragment.replace("\\" + "ue000", "\\u003c")


def vendor_js() -> str:
    """d3, jQuery and the `require` stand-in, as inline <script> blocks (banners without URLs)."""
    blocks = []
    for name, banner in VENDOR_SCRIPTS:
        path = VENDOR / name
        if not path.exists():
            raise ExplorerError(f"The vendored file assets/vendor/{name} is missing.",
                                "Restore the assets folder from the repository.")
        code = path.read_text(encoding="utf-8")
        if banner:
            code = banner + "\n" + code.split("\n", 1)[1]
        if "</script" in code.lower():
            raise ExplorerError(f"assets/vendor/{name} cannot be inlined (it contains a closing script tag).")
        blocks.append(f"<script>\n{code}\n</script>")
    return "\n".join(blocks)


_URL = re.compile(r"""(?:https?:|wss?:|ftp:)?//[a-z0-9][a-z0-9.-]*\.[a-z]{2,}[^\s"'<>)]*"""
                  r"""|<(?:script|link|img|iframe|source|embed|object|video|audio)\b[^>]*\b(?:src|href|data)\s*="""
                  r"""(?!\s*["']?(?:data:|blob:|about:|#))[^>]*>"""
                  r"""|(?-i:(?<![\w$.])url)\(\s*["']?(?!data:|#)[^)]*\)|@import\b[^;]*""", re.I)


def external_urls(document: str) -> list[str]:
    """Every web address in a page except the XML namespace names (identifiers, never fetched)."""
    found = []
    for m in _URL.finditer(document):
        url = m.group(0)
        if any(url.startswith(ns) for ns in XML_NAMESPACES):
            continue
        found.append(url)
    return found


# Shrinks the drawing to the window when it is wider (the model view is 970 px wide).
FIT_WIDTH = """(function () {
  function fit() {
    document.body.style.zoom = 1;
    var room = document.documentElement.clientWidth, need = document.body.scrollWidth;
    if (need > room && room > 0) { document.body.style.zoom = Math.max(0.4, room / need); }
  }
  window.addEventListener("load", fit);
  window.addEventListener("resize", fit);
})();"""


def standalone_page(body: str, *, title: str, caption: str = "") -> str:
    """A complete HTML document with the libraries inlined; `title` and `caption` are escaped here."""
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
  body {{ margin: 8px; background: #fff; color: #111; font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; }}
  .caption {{ font-size: 13px; color: #444; margin: 0 0 6px 0; }}
</style>
{vendor_js()}
</head>
<body>
<p class="caption">{html.escape(caption)}</p>
{body}
<script>{FIT_WIDTH}</script>
</body>
</html>
"""
    bad = external_urls(doc)
    if bad:
        raise ExplorerError(f"The attention view would load {bad[0]} from the internet; it was not drawn.")
    return doc


def bertviz_html(att: Attentions, *, view: str = "head", layers: Sequence[int] | None = None,
                 heads: Sequence[int] | None = None) -> str:
    """bertviz's head or model view as a standalone HTML document that works offline.

    `layers`: which layers to include (default: see `default_bertviz_layers`). `heads`: in the model
    view, which heads to include; in the head view, which heads start selected (all by default).
    Weights are rounded to `DECIMALS` decimals. Token labels are escaped for the page.
    """
    layers = sorted(set(int(x) for x in (layers if layers is not None else default_bertviz_layers(att, view))))
    heads = sorted(set(int(x) for x in heads)) if heads else None
    check_bertviz(att, layers, heads, view)
    first = next(iter(att.parts.values()))
    if any(not 0 <= x < first.layers for x in layers) or any(not 0 <= h < first.heads for h in heads or []):
        raise ExplorerError("A selected layer or head does not exist in this model.", "Pick again.")
    body = _offline(_bertviz_fragment(att, view, layers, heads))
    what = "head view" if view == "head" else "model view"
    caption = (f"{att.model_name}: bertviz {what}, layers {layer_list(layers)}"
               + (f", heads {layer_list(heads)}" if heads else "") + f". Text: {att.text}")
    if att.target:
        caption += f" | Decoder text: {att.target}"
    return standalone_page(body, title=f"Attention: {att.model_name}", caption=caption)


def parse_bertviz_params(document: str) -> dict:
    """The data bertviz draws from (the `params` object in the page), for checking what is shown."""
    m = re.search(r"const params = (\{.*?\}); //", document, flags=re.S)
    if not m:
        raise ValueError("no bertviz params in this page")
    return json.loads(m.group(1))
