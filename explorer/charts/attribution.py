"""Token attribution drawn on the text: each token (or word) coloured by its credit for a prediction.

Diverging colours for signed methods (blue: made the prediction more likely, red: less likely), one colour
for attention × gradient (how much, never which way); the value in each token's tooltip. Every label and
tooltip is HTML-escaped. Builders take plain lists, never a model.
"""

from __future__ import annotations

import html
from typing import Sequence

from explorer.charts.mlm import KIND_STYLE, TOKEN_STYLE

FOR = (33, 102, 172)  # blue: raised the prediction
AGAINST = (178, 24, 43)  # red: lowered it
NO_CREDIT = "color:#888;background:#eee;border-style:dotted;"


def scale_of(*score_lists: Sequence[float | None]) -> float:
    """The largest |credit| over several lists: one colour scale for views shown side by side."""
    values = [abs(s) for scores in score_lists for s in scores if s is not None]
    return max(values, default=0.0) or 1.0


def colour(score: float, scale: float) -> str:
    """The background of a token with credit `score` on a scale whose end is `scale`."""
    strength = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    r, g, b = FOR if score >= 0 else AGAINST
    text = "#fff" if strength > 0.55 else "#111"
    return f"background:rgba({r},{g},{b},{0.08 + 0.92 * strength:.3f});color:{text};"


def attribution_html(
    pieces: Sequence[str],
    scores: Sequence[float | None],
    blank: int,
    *,
    blank_label: str = "___",
    blank_title: str = "the word explained",
    scale: float | None = None,
    unit: str = "",
    large: bool = False,
    faded_after_blank: bool = False,
) -> str:
    """The text as a row of tokens coloured by credit; the blank highlighted; `faded_after_blank` marks the
    tokens a causal LM cannot see (their credit is exactly 0)."""
    scale = scale if scale is not None else scale_of(scores)
    size = "font-size:1.35rem;" if large else "font-size:1rem;"
    cells = []
    for i, (piece, score) in enumerate(zip(pieces, scores)):
        if i == blank:
            style, label, title = KIND_STYLE["masked"], blank_label, blank_title
        elif score is None:
            style, label, title = NO_CREDIT, piece, f"{piece}: takes no credit (a special token or another blank)"
        else:
            style, label = colour(score, scale), piece
            title = f"{piece}: {score:+.3f}{unit}"
            if faded_after_blank and i > blank:
                style += "border-style:dashed;"
                title += " (after the blank: a causal LM cannot see it)"
        tip = html.escape(title, quote=True)
        cells.append(f'<span class="tok" style="{TOKEN_STYLE}{style}{size}" title="{tip}">{html.escape(label)}</span>')
    return f'<div class="attribution-strip" style="line-height:2.1">{"".join(cells)}</div>'


def legend_html(signed: bool) -> str:
    """The colour key under an attribution strip."""
    swatch = "display:inline-block;width:0.9em;height:0.9em;border-radius:3px;vertical-align:-0.1em;"
    blue = f'<span style="{swatch}background:rgb{FOR}"></span>'
    red = f'<span style="{swatch}background:rgb{AGAINST}"></span>'
    if signed:
        text = f"{blue} made the prediction more likely &nbsp;&nbsp; {red} made it less likely"
    else:
        text = f"{blue} how much the prediction depends on it (never which way)"
    return f'<div style="font-size:0.85rem;color:#444;margin-top:4px">{text}; hover a token for its value</div>'
