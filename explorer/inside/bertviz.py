"""bertviz's head and model views, offline: the attention weights of `explorer.inside.attention` written
into a complete HTML document with d3, jQuery and a small `require` stand-in inlined from
``assets/vendor`` (bertviz itself fetches them from a CDN), so a view works in the page and as a
downloaded file with no network.
"""

from __future__ import annotations

import html
import json
import re
from itertools import groupby
from typing import Any, Sequence

import numpy as np

from explorer import paths
from explorer.errors import ExplorerError
from explorer.inside.attention import Attentions
from explorer.inside.summaries import evenly_spaced

VENDOR = paths.ASSETS / "vendor"

# bertviz draws one SVG line per token pair and per head: beyond ~100 tokens the browser stalls.
BERTVIZ_MAX_TOKENS = 100
# Weights written into one bertviz page (layers x heads x rows x cols, all parts together);
# 250k weights are about 2 MB of HTML.
BERTVIZ_MAX_WEIGHTS = 250_000
# SVG lines the model view draws at once (layers x heads x rows x cols).
BERTVIZ_MODEL_MAX_LINES = 120_000
DECIMALS = 4  # weights in the bertviz page are rounded to this many decimals

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


def check_bertviz(
    att: Attentions,
    layers: Sequence[int],
    heads: Sequence[int] | None,
    view: str,
    max_tokens: int = BERTVIZ_MAX_TOKENS,
    budget: int = BERTVIZ_MAX_WEIGHTS,
) -> None:
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
        kw.update(
            encoder_attention=_tensors(att.parts["encoder"].weights),
            decoder_attention=_tensors(att.parts["decoder"].weights),
            cross_attention=_tensors(att.parts["cross"].weights),
            encoder_tokens=_safe_labels(att.parts["encoder"].rows.pieces),
            decoder_tokens=_safe_labels(att.parts["decoder"].rows.pieces),
        )
    if view == "head":
        out = head_view(include_layers=list(layers), layer=layers[0], heads=list(heads) if heads else None, **kw)
    elif view == "model":
        out = model_view(
            include_layers=list(layers), include_heads=list(heads) if heads else None, display_mode="light", **kw
        )
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
            raise ExplorerError(
                f"The vendored file assets/vendor/{name} is missing.", "Restore the assets folder from the repository."
            )
        code = path.read_text(encoding="utf-8")
        if banner:
            code = banner + "\n" + code.split("\n", 1)[1]
        if "</script" in code.lower():
            raise ExplorerError(f"assets/vendor/{name} cannot be inlined (it contains a closing script tag).")
        blocks.append(f"<script>\n{code}\n</script>")
    return "\n".join(blocks)


_URL = re.compile(
    r"""(?:https?:|wss?:|ftp:)?//[a-z0-9][a-z0-9.-]*\.[a-z]{2,}[^\s"'<>)]*"""
    r"""|<(?:script|link|img|iframe|source|embed|object|video|audio)\b[^>]*\b(?:src|href|data)\s*="""
    r"""(?!\s*["']?(?:data:|blob:|about:|#))[^>]*>"""
    r"""|(?-i:(?<![\w$.])url)\(\s*["']?(?!data:|#)[^)]*\)|@import\b[^;]*""",
    re.I,
)


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


def bertviz_html(
    att: Attentions, *, view: str = "head", layers: Sequence[int] | None = None, heads: Sequence[int] | None = None
) -> str:
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
    caption = (
        f"{att.model_name}: bertviz {what}, layers {layer_list(layers)}"
        + (f", heads {layer_list(heads)}" if heads else "")
        + f". Text: {att.text}"
    )
    if att.target:
        caption += f" | Decoder text: {att.target}"
    return standalone_page(body, title=f"Attention: {att.model_name}", caption=caption)


def parse_bertviz_params(document: str) -> dict:
    """The data bertviz draws from (the `params` object in the page), for checking what is shown."""
    m = re.search(r"const params = (\{.*?\}); //", document, flags=re.S)
    if not m:
        raise ValueError("no bertviz params in this page")
    return json.loads(m.group(1))
