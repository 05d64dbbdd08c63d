"""Figures for the masked-vs-causal comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explorer.charts import heatmap, probability_bars, style, unique_labels
from explorer.words.pieces import WordPredictions


def word_strip(df: pd.DataFrame, *, large: bool = False) -> go.Figure:
    """Two rows (masked LM, causal LM) × words: each model's probability of the actual word."""
    words = unique_labels(list(df["word"]))
    z = np.vstack([df["masked LM p(word)"].to_numpy(), df["causal LM p(word)"].to_numpy()])
    text = [[f"{v:.0%}" if v >= 0.01 else f"{v:.1e}" for v in row] for row in z]
    gain = df["right context gain (bits)"].to_numpy()
    custom = np.vstack([gain, gain])
    fig = go.Figure(
        go.Heatmap(
            z=np.log10(np.clip(z, 1e-6, 1.0)),
            x=words,
            y=["masked LM<br>(both sides)", "causal LM<br>(left only)"],
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            zmin=-4,
            zmax=0,
            colorscale="RdYlGn",
            colorbar=dict(title="p", tickvals=[-4, -3, -2, -1, 0], ticktext=["0.01%", "0.1%", "1%", "10%", "100%"]),
            hovertemplate="%{x}<br>%{y}: p = %{text}<br>right-context gain: %{customdata:.1f} bits<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", tickangle=-30)
    fig.update_yaxes(type="category", autorange="reversed")
    return style(fig, large=large, height=230)


def gain_bars(df: pd.DataFrame, *, large: bool = False) -> go.Figure:
    """How many bits the right-hand context is worth at each word (masked minus causal log-probability)."""
    gain = df["right context gain (bits)"].to_numpy()
    colors = ["#1a9850" if g > 0 else "#d73027" for g in gain]
    fig = go.Figure(
        go.Bar(
            x=unique_labels(list(df["word"])),
            y=gain,
            marker_color=colors,
            hovertemplate="%{x}: %{y:.1f} bits<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", tickangle=-30)
    fig.update_yaxes(title="bits gained from the right side")
    return style(fig, large=large, height=280)


def mask_matrix(pattern: np.ndarray, labels: list[str], *, title: str, large: bool = False) -> go.Figure:
    """An attention mask: 1 (may attend) in blue, 0 (hidden) in white."""
    return heatmap(
        pattern,
        labels,
        labels,
        title=title,
        large=large,
        colorscale=[[0, "#ffffff"], [1, "#1f5fbf"]],
        zmin=0,
        zmax=1,
        hover="%{y} may attend to %{x}: %{z}",
        height=max(320, 40 + 26 * len(labels)),
    )


def word_bars(words: WordPredictions, *, large: bool = False, title: str | None = None) -> go.Figure:
    """A model's whole-word candidates as bars, the hidden word highlighted; when it is not among them,
    it is added at the bottom with its rank, so its bar is always there to compare. Words under 0.1%
    (the beam's leftovers) are left out, keeping at least three."""
    shown = [c for i, c in enumerate(words.candidates) if i < 3 or c.prob >= 0.001]
    labels = [c.word for c in shown]
    answer = words.answer
    if answer is not None and all(c.word != answer.word for c in shown):
        shown.append(answer)
        labels.append(f"{answer.word} (#{words.answer_rank})" if words.answer_rank else f"{answer.word} (below)")
    return probability_bars(
        labels,
        [c.prob for c in shown],
        large=large,
        title=title,
        highlight=[answer is not None and c.word == answer.word for c in shown],
        hover=[f"pieces: {' + '.join(c.pieces)}" for c in shown],
    )
