"""Figures for alignment: DPO's rewards, margin and preference accuracy while it trains; the objective
pair by pair before training; best-of-n with a reward model."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts import PALETTE, style
from explorer.charts.training import ACCURACY_AXIS, smooth, thin


def _points(history: Sequence[dict], key: str, smoothing: float = 0.0) -> tuple[list, list]:
    rows = [h for h in history if key in h and h[key] == h[key]]
    ys = [h[key] for h in rows]
    return thin([h["step"] for h in rows], smooth(ys, smoothing) if smoothing else ys)


def preference_curves(
    history: Sequence[dict],
    *,
    smoothing: float = 0.6,
    target: int | None = None,
    large: bool = False,
    height: int = 380,
) -> go.Figure:
    """Left: the implicit rewards of chosen and rejected answers and their margin (training batches,
    smoothed; held-out pairs as markers). Right: preference accuracy on held-out and training pairs,
    with chance (0.5) dashed."""
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=("Rewards and margin", "Preference accuracy")
    )
    lines = [
        ("chosen_reward", "chosen reward (train)", PALETTE["good"], "solid"),
        ("rejected_reward", "rejected reward (train)", PALETTE["bad"], "solid"),
        ("margin", "margin (train)", PALETTE["primary"], "solid"),
        ("eval_chosen_reward", "chosen reward (held out)", PALETTE["good"], "dot"),
        ("eval_rejected_reward", "rejected reward (held out)", PALETTE["bad"], "dot"),
        ("eval_margin", "margin (held out)", PALETTE["primary"], "dot"),
    ]
    for key, name, color, dash in lines:
        xs, ys = _points(history, key, smoothing if not key.startswith("eval_") else 0.0)
        if not xs:
            continue
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines+markers" if dash == "dot" else "lines",
                line=dict(color=color, width=2.5, dash=dash),
                marker=dict(size=6),
                hovertemplate=f"step %{{x}}<br>{name} %{{y:.3f}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for key, name, color in (
        ("accuracy", "held-out pairs", PALETTE["accent"]),
        ("train_accuracy", "training pairs", PALETTE["primary"]),
    ):
        xs, ys = _points(history, key)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=f"accuracy, {name}",
                mode="lines+markers",
                line=dict(color=color, width=2.5),
                marker=dict(size=7),
                hovertemplate=f"step %{{x}}<br>{name}: %{{y:.0%}} prefer the chosen answer<extra></extra>",
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=0, line=dict(color=PALETTE["muted"], width=1), row=1, col=1)
    fig.add_hline(
        y=0.5,
        line=dict(color=PALETTE["muted"], dash="dash"),
        row=1,
        col=2,
        annotation_text="chance",
        annotation_position="bottom right",
    )
    last = history[-1]["step"] if history else 0
    end = max(target or 0, last, 1)
    fig.update_xaxes(title="step", range=[0, end])
    fig.update_yaxes(title="β·(log π − log π_ref)", row=1, col=1)
    fig.update_yaxes(**ACCURACY_AXIS, row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0), hovermode="x unified")
    return style(fig, large=large, height=height)


def pair_margins(table, *, large: bool = False, height: int = 360) -> go.Figure:
    """Per pair: log π(chosen) − log π(rejected), what the model prefers before preference training
    (above 0: the chosen answer is the likelier one), coloured by kind."""
    diff = table["log π(chosen)"] - table["log π(rejected)"]
    order = diff.sort_values().index
    fig = go.Figure()
    kinds = list(dict.fromkeys(table["kind"].fillna("")))
    colors = [PALETTE["primary"], PALETTE["accent"], PALETTE["good"], PALETTE["bad"], PALETTE["muted"]]
    rank = {i: n for n, i in enumerate(order)}
    for j, kind in enumerate(kinds):
        rows = [i for i in order if table.loc[i, "kind"] == kind]
        fig.add_trace(
            go.Bar(
                x=[rank[i] for i in rows],
                y=[float(diff[i]) for i in rows],
                name=kind or "pairs",
                marker_color=colors[j % len(colors)],
                customdata=[[table.loc[i, "prompt"][:80]] for i in rows],
                hovertemplate="%{customdata[0]}<br>log π(chosen) − log π(rejected) = %{y:.2f}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line=dict(color="#111", width=1))
    fig.update_xaxes(title="pairs, sorted", showticklabels=False)
    fig.update_yaxes(title="log π(chosen) − log π(rejected)")
    fig.update_layout(barmode="overlay", bargap=0.1, legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return style(fig, large=large, height=height)


def best_of_n_curve(frame, *, large: bool = False, height: int = 340) -> go.Figure:
    """Best-of-n: the reward of the answer kept as n grows, against the mean reward of a single sample."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frame["n"],
            y=frame["reward of the picked answer"],
            mode="lines+markers",
            name="best of n",
            line=dict(color=PALETTE["good"], width=3),
            marker=dict(size=9),
            customdata=frame[["picked"]].values,
            hovertemplate="n = %{x}: keeps answer %{customdata[0]}, reward %{y:.2f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=frame["n"],
            y=frame["mean reward of one sample"],
            mode="lines",
            name="one sample (mean)",
            line=dict(color=PALETTE["muted"], width=2, dash="dash"),
            hovertemplate="mean of the first %{x}: %{y:.2f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="n (answers sampled)", dtick=1)
    fig.update_yaxes(title="reward r(prompt, answer)")
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="x unified")
    return style(fig, large=large, height=height)


RL_PANELS = (  # (title, [(history key, legend name, colour, held out?)], y-axis title)
    (
        "Reward",
        [("reward", "sampled answers (train)", "primary", False), ("eval_reward", "held-out prompts", "accent", True)],
        "reward model's score",
    ),
    (
        "KL to the reference",
        [
            ("kl", "train (k1)", "primary", False),
            ("eval_kl", "held-out (k1)", "accent", True),
            ("eval_kl_k3", "held-out (k3)", "muted", True),
        ],
        "nats per answer",
    ),
    ("People's held-out pairs", [("people_accuracy", "prefer the chosen answer", "good", True)], "share of pairs"),
    (
        "Answer length",
        [("length", "train", "primary", False), ("eval_length", "held-out prompts", "accent", True)],
        "tokens",
    ),
    ("Entropy", [("entropy", "train", "primary", False)], "nats per token"),
)


def rl_curves(
    history: Sequence[dict],
    *,
    smoothing: float = 0.6,
    target: int | None = None,
    kl_bound: float | None = None,
    large: bool = False,
    height: int = 520,
) -> go.Figure:
    """RLHF while it trains: the reward of the sampled answers (training prompts, smoothed) and of answers to
    held-out prompts (markers), the KL to the reference (its bound dashed), people's held-out preferences
    (chance dashed), answer length and entropy."""
    fig = make_subplots(
        rows=2, cols=3, horizontal_spacing=0.08, vertical_spacing=0.2, subplot_titles=[p[0] for p in RL_PANELS]
    )
    for n, (_, lines, axis) in enumerate(RL_PANELS):
        row, col = n // 3 + 1, n % 3 + 1
        for key, name, color, held in lines:
            xs, ys = _points(history, key, 0.0 if held else smoothing)
            if not xs:
                continue
            fmt = ":.0%" if key == "people_accuracy" else ":.2f"
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name=f"{RL_PANELS[n][0].lower()}: {name}",
                    mode="lines+markers" if held else "lines",
                    line=dict(color=PALETTE[color], width=2.5, dash="dot" if held else "solid"),
                    marker=dict(size=7),
                    hovertemplate=f"step %{{x}}<br>{name}: %{{y{fmt}}}<extra></extra>",
                ),
                row=row,
                col=col,
            )
        fig.update_yaxes(title=axis, row=row, col=col)
    if kl_bound is not None:
        fig.add_hline(y=kl_bound, line=dict(color=PALETTE["bad"], dash="dash"), row=1, col=2, annotation_text="bound")
    fig.add_hline(y=0.5, line=dict(color=PALETTE["muted"], dash="dash"), row=1, col=3, annotation_text="chance")
    fig.update_yaxes(**ACCURACY_AXIS, row=1, col=3)
    last = history[-1]["step"] if history else 0
    fig.update_xaxes(title="step", range=[0, max(target or 0, last, 1)])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, x=0), hovermode="closest")
    return style(fig, large=large, height=height)
