"""Figures for the masked-LM (cloze) page: prediction bars, surprisal strip, token strips.

Builders take plain lists (pieces, probabilities, actions), never a model. Token strips are
small HTML snippets (every piece escaped) styled by the app's `.tok` classes.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go

from explorer.charts import probability_bars, shown_frame, style
from explorer.mlm import KEPT, MASKED, RANDOM

# Token strips carry their whole style inline (st.html content does not see the app's style sheet).
TOKEN_STYLE = (
    "display:inline-block;padding:2px 7px;margin:3px 2px;border-radius:6px;border:1px solid #b8c4d6;"
    "font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#f7f9fc;color:#111;"
)
# Background / border per kind of token, on top of TOKEN_STYLE.
KIND_STYLE = {
    "masked": "background:#ffd34d;border-color:#b38600;font-weight:700;",
    "blank": "background:#ffe9a8;border-color:#b38600;border-style:dashed;font-weight:700;",
    "random": "background:#f7b6b2;border-color:#c0392b;font-weight:700;",
    "kept": "background:#bfe6c8;border-color:#2e8b57;font-weight:700;",
    "special": "color:#666;background:#eee;",
}
KIND_NAMES = {
    "masked": "replaced by the mask token",
    "random": "replaced by a random token",
    "kept": "chosen but left unchanged",
    "blank": "typed blank (no answer)",
}
SURPRISAL_SCALE = [[0.0, "#fffbe6"], [0.25, "#fee391"], [0.5, "#fe9929"], [0.75, "#d7301f"], [1.0, "#7f0000"]]


def token_strip_html(
    labels: Sequence[str],
    kinds: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    *,
    large: bool = False,
) -> str:
    """A row of token boxes; `kinds` ("", "special", "masked", "blank", "random", "kept") colour them.

    `titles` become hover tooltips. Every label and title is HTML-escaped.
    """
    kinds = list(kinds) if kinds is not None else [""] * len(labels)
    titles = list(titles) if titles is not None else [""] * len(labels)
    size = "font-size:1.35rem;" if large else "font-size:1rem;"
    cells = []
    for label, kind, title in zip(labels, kinds, titles):
        tip = f' title="{html.escape(title, quote=True)}"' if title else ""
        cells.append(
            f'<span class="tok" style="{TOKEN_STYLE}{KIND_STYLE.get(kind, "")}{size}"{tip}>{html.escape(label)}</span>'
        )
    return f'<div class="mlm-strip" style="line-height:2">{"".join(cells)}</div>'


def legend_html(kinds: Sequence[str]) -> str:
    """A one-line key for the token-strip colours in `kinds`."""
    swatch = "display:inline-block;width:0.9em;height:0.9em;border:1px solid;border-radius:3px;vertical-align:-0.1em;"
    items = [
        f'<span style="{swatch}{KIND_STYLE[k]}"></span> {html.escape(KIND_NAMES[k])}' for k in kinds if k in KIND_NAMES
    ]
    return f'<div style="font-size:0.85rem;color:#444;margin-top:4px">{" &nbsp;&nbsp; ".join(items)}</div>'


def fill_strip_html(
    pieces: Sequence[str],
    special: Sequence[bool],
    masked: Sequence[int],
    blanks: Sequence[int],
    mask_label: str,
    *,
    large: bool = False,
) -> str:
    """What the model sees after masking: masked positions show the mask token, the answer as tooltip."""
    masked, blanks = set(masked), set(blanks)
    labels, kinds, titles = [], [], []
    for i, (piece, sp) in enumerate(zip(pieces, special)):
        if i in blanks:
            label, kind, title = mask_label, "blank", f"position {i}: a blank you typed"
        elif i in masked:
            label, kind, title = mask_label, "masked", f"position {i}: hides “{piece}”"
        else:
            label, kind, title = piece, "special" if sp else "", f"position {i}"
        labels.append(label)
        kinds.append(kind)
        titles.append(title)
    return token_strip_html(labels, kinds, titles, large=large)


def recipe_strip_html(
    pieces: Sequence[str],
    input_pieces: Sequence[str],
    actions: Sequence[str],
    special: Sequence[bool],
    *,
    large: bool = False,
) -> str:
    """BERT's recipe on a text: each chosen position coloured by what it became (mask / random / unchanged)."""
    kind_of = {MASKED: "masked", RANDOM: "random", KEPT: "kept"}
    labels, kinds, titles = [], [], []
    for i, (piece, shown, act, sp) in enumerate(zip(pieces, input_pieces, actions, special)):
        kind = kind_of.get(act, "special" if sp else "")
        labels.append(shown)
        kinds.append(kind)
        titles.append(f"position {i}: “{piece}” → {act} (label: {piece})" if act else f"position {i}: not chosen")
    return token_strip_html(labels, kinds, titles, large=large)


MAX_BLANK_CHARTS = 8  # a page charts this many blanks (a link with 250 masks built 128 charts in 37 s)


def percent(p: float) -> str:
    """A probability as a percentage that stays readable when small: 45%, 3.2%, 0.031%."""
    p = float(p)
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.01:
        return f"{p:.1%}"
    return f"{p * 100:.2g}%" if p > 0 else "0%"


def prediction_bars(
    top_pieces: Sequence[str],
    top_probs: Sequence[float],
    *,
    answer: str | None = None,
    answer_id: int | None = None,
    top_ids: Sequence[int] | None = None,
    answer_prob: float | None = None,
    answer_rank: int | None = None,
    title: str | None = None,
    large: bool = False,
) -> go.Figure:
    """Top-k predictions at one blank; the answer highlighted (added below the top-k if it is not in it)."""
    labels = [html.escape(p) for p in top_pieces]  # plotly reads labels as HTML: "<s>" must stay visible
    probs = [float(p) for p in top_probs]
    ids = list(top_ids) if top_ids is not None else [None] * len(labels)
    highlight = [answer_id is not None and i == answer_id for i in ids]
    hover = [f"rank {r}" + (" · the answer" if h else "") for r, h in enumerate(highlight, start=1)]
    if answer is not None and answer_rank is not None and not any(highlight):
        labels.append(f"{html.escape(answer)} (rank {answer_rank:,})")
        probs.append(float(answer_prob or 0.0))
        highlight.append(True)
        hover.append(f"rank {answer_rank:,} · the answer")
    top = max(probs + [0.0])
    return probability_bars(
        labels,
        probs,
        highlight=highlight,
        hover=hover,
        title=title,
        large=large,
        text=[percent(p) for p in probs],  # small probabilities keep their digits
        tickformat=".0%" if top >= 0.1 else ".1%" if top >= 0.01 else ".2%",
    )


def prediction_chart(pred, *, large: bool = False) -> go.Figure:
    """Bars for one `explorer.mlm.Prediction`, titled with the answer's rank, probability and loss."""
    if pred.original_piece is None:
        title = f"Position {pred.position}: a blank with no answer"
    else:
        title = (
            f"Position {pred.position}: answer “{html.escape(pred.original_piece)}”<br><sup>rank "
            f"{pred.original_rank:,} · p = {percent(pred.original_prob)} · loss {pred.loss:.2f} nats</sup>"
        )
    return prediction_bars(
        pred.top_pieces,
        pred.top_probs,
        answer=pred.original_piece,
        answer_id=pred.original_id,
        top_ids=pred.top_ids,
        answer_prob=pred.original_prob,
        answer_rank=pred.original_rank,
        title=title,
        large=large,
    )


def pseudo_likelihood_strip(pll, *, large: bool = False, title: str | None = None) -> go.Figure:
    """The surprisal strip of an `explorer.mlm.PseudoLikelihood`, with each token's detail on hover."""
    hover = [
        f"“{piece}” (position {pos}): p = {percent(math.exp(lp))}, surprisal {-lp:.2f} nats, rank {r:,}; "
        f"model's guess “{guess}” ({percent(gp)})"
        for piece, pos, lp, r, guess, gp in zip(
            pll.pieces, pll.positions, pll.log_probs, pll.ranks, pll.top_pieces, pll.top_probs
        )
    ]
    return surprisal_strip(pll.pieces, pll.surprisals, hover=hover, large=large, title=title)


def surprisal_strip(
    pieces: Sequence[str],
    surprisals: Sequence[float],
    *,
    hover: Sequence[str] | None = None,
    per_row: int = 12,
    title: str | None = None,
    large: bool = False,
    zmax: float | None = None,
) -> go.Figure:
    """Tokens as coloured cells, wrapped in rows: pale = expected, dark red = surprising (-ln p, nats)."""
    n = len(pieces)
    per_row = max(1, min(per_row, n))
    rows = math.ceil(n / per_row)
    z = [[None] * per_row for _ in range(rows)]
    text = [[""] * per_row for _ in range(rows)]
    custom = [[""] * per_row for _ in range(rows)]
    for i, (piece, s) in enumerate(zip(pieces, surprisals)):
        r, c = divmod(i, per_row)
        z[r][c] = float(s)
        text[r][c] = html.escape(piece)
        custom[r][c] = html.escape(hover[i] if hover is not None else f"{piece}: {s:.2f} nats")
    top = zmax if zmax is not None else max([4.0] + [float(s) for s in surprisals])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            customdata=custom,
            texttemplate="%{text}",
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=SURPRISAL_SCALE,
            zmin=0,
            zmax=top,
            xgap=4,
            ygap=4,
            textfont=dict(size=20 if large else 14),
            colorbar=dict(
                title=dict(text="surprisal -ln p (nats)", side="right"),
                orientation="h",
                thickness=10,
                len=0.5,
                x=1,
                xanchor="right",
                y=-0.08,
                yanchor="top",
            ),
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig = style(fig, large=large, title=title, height=120 + 56 * rows)
    fig.update_layout(margin=dict(b=60))
    return fig


def prediction_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A predictions summary (`FillResult.summary_frame`) for the page: percentages, losses to two places,
    and "—" where a blank has no answer to score (a typed mask) instead of "None"."""
    formats = {"top probability": percent, "probability of answer": percent}
    return shown_frame(frame, {**formats, "loss (nats)": "{:.2f}", "rank of answer": "{:.0f}"})


def style_training_pair(frame: pd.DataFrame):
    """The training-pair table with chosen rows tinted by what they became (a pandas Styler)."""
    tint = {MASKED: "#fff3c4", RANDOM: "#fde0de", KEPT: "#e3f4e7"}

    def row(r):
        colour = tint.get(r["became"])
        return [f"background-color:{colour}" if colour else ""] * len(r)

    return frame.style.apply(row, axis=1)


def word_table(blanks, enc) -> Any:
    """One row per hidden word (`whole_words.fill_words`): its pieces, the model's top word, and where the
    hidden word ranks among the words found; formatted for the page ("—" for a blank with no answer)."""
    rows = []
    for b in blanks:
        w, top = b.words, (b.words.candidates[0] if b.words.candidates else None)
        rows.append(
            {
                "positions": ", ".join(str(p) for p in b.positions),
                "hidden word": w.answer.word if w.answer is not None else "(blank)",
                "pieces": len(b.positions) if w.answer is not None else None,
                "top word": top.word if top else "—",
                "top probability": top.prob if top else None,
                "rank of the word": w.answer_rank,
                "probability of the word": w.answer.prob if w.answer is not None else None,
            }
        )
    formats = {"rank of the word": "{:.0f}", "pieces": "{:.0f}", "probability of the word": percent}
    return shown_frame(pd.DataFrame(rows), {"top probability": percent, **formats})
