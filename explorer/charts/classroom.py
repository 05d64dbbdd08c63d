"""The room's answers to a question, as the projector shows them: one bar per option, the participant's own
answer (or the model's, once the teacher reveals it) highlighted. Plain data in, never a store or a model."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from explorer.charts import PALETTE, style


def class_bars(
    options: Sequence[str],
    counts: dict[str, int],
    *,
    mine: str | None = None,
    large: bool = False,
    title: str | None = None,
) -> go.Figure:
    """How many of the room gave each option (every option drawn, 0 included), with each bar's share."""
    total = sum(counts.get(o, 0) for o in options) or 1
    values = [counts.get(o, 0) for o in options]
    colours = [PALETTE["accent"] if o == mine else PALETTE["primary"] for o in options]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=list(options),
            orientation="h",
            marker_color=colours,
            text=[f"{v} ({v / total:.0%})" for v in values],
            textposition="auto",
            customdata=[[v / total] for v in values],
            hovertemplate="%{y}: %{x} of the room (%{customdata[0]:.0%})<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="participants", rangemode="tozero", dtick=max(1, total // 5))
    n = sum(values)
    heading = title or f"The room's answers ({n} {'answer' if n == 1 else 'answers'})"
    return style(fig, large=large, title=heading, height=120 + 48 * len(options))
