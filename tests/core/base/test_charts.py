"""The charts drawn on every click are made without plotly's per-property validation (it took most of their
cost): plotly must accept each of them as valid, and they must be the figures a validated build gives."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from explorer.charts import clm as clm_charts
from explorer.charts import probability_bars


def validated(fig: go.Figure) -> dict:
    """The figure rebuilt by plotly with validation (raises on any invalid property), as plain JSON."""
    return go.Figure(fig.to_plotly_json()).to_plotly_json()


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.parametrize("title", [None, "Top guesses for <b>[MASK]</b>"])
def test_probability_bars_are_valid_plotly(large, title):
    fig = probability_bars(
        ["Paris", "London", "Paris"],
        [0.7, 0.2, 0.05],
        highlight=[True, False, False],
        hover=["a", "b", "c"],
        title=title,
        large=large,
    )
    assert validated(fig) == fig.to_plotly_json()
    assert fig.layout.font.size == (20 if large else 13) and list(fig.data[0].x) == [0.05, 0.2, 0.7]


def test_an_invalid_property_would_be_caught_by_the_check():
    fig = probability_bars(["a"], [1.0])
    spec = fig.to_plotly_json()
    spec["data"][0]["orientation"] = "diagonal"
    with pytest.raises(ValueError):
        go.Figure(spec)


def test_decoding_bars_are_valid_plotly():
    fig = clm_charts.decoding_bars(
        ["the", "a", "(other)"],
        [0.5, 0.3, 0.2],
        [0.6, 0.4, 0.0],
        [True, True, False],
        token_ids=[1, 2, None],
        title="T",
    )
    assert validated(fig) == fig.to_plotly_json()
