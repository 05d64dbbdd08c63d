"""Real browser: the masked-vs-causal page with the real offline models, as a participant uses it."""

from __future__ import annotations

import pytest

from tests.browser import opened_page, wait_idle
from tests.layout_probe import charts_drawn

pytestmark = pytest.mark.browser


def bar_labels(page, chart: int) -> list[str]:
    """The bar labels of the chart-th plotly chart on the page, as drawn, top bar first (charts are drawn
    when they come near the window, so each is scrolled to first, as a person would)."""
    charts_drawn(page)
    page.wait_for_function(
        "(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i]; return p && p.data && p.data[0]; }",
        arg=chart,
        timeout=30_000,
    )
    return page.evaluate(
        "(i) => document.querySelectorAll('.js-plotly-plot')[i].data[0].y.map(s => s.trim()).reverse()", chart
    )


def test_a_typed_blank_is_the_hidden_word_and_the_bars_are_words():
    """The issue's walk: a typed ___ + Enter predicted word 1 ('put') and left the blank as an empty pill.
    Now the blank is the hidden word, predicted on both sides, and every bar is a whole word."""
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        box = page.get_by_label("Sentence (type ___ for the word to hide)", exact=True).and_(
            page.get_by_test_id("stTextInputField")
        )
        box.fill("I put the ice cream in the ___ so it would not melt.")
        box.press("Enter")
        page.wait_for_function(
            "() => document.body.innerText.includes('is the word both models predict')"
            " && document.body.innerText.includes('A blank with no answer')",
            timeout=120_000,
        )
        wait_idle(page)
        text = page.inner_text("body")
        assert "I put the ice cream in the ___ so it would not melt." in text  # the masked side sees both sides
        assert "I put the ice cream in the ___" in text
        assert page.get_by_text("Word to hide (click one)").count() == 0  # no second, empty blank to find
        masked = bar_labels(page, 0)
        assert masked[0] == "freezer" and all(w.isalpha() for w in masked)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []


def test_default_example_recovers_the_hidden_word_on_the_masked_side_only():
    """The headline demo on its own default: the masked side recovers 'dog' as a whole word, the causal
    side (which sees only 'The') does not; the example says what it shows."""
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        page.wait_for_function(
            "() => document.body.innerText.includes('What each model may look at')"
            " && document.querySelectorAll('[data-testid=sslPlotlyChart], [data-testid=stPlotlyChart]').length >= 5",
            timeout=120_000,
        )
        wait_idle(page)
        text = page.inner_text("body")
        assert "What this example shows" in text
        assert "Recovered dog as its top word" in text and "Did not recover dog" in text
        assert "The ___ barked at the mailman." in text and "The ___" in text
        assert bar_labels(page, 0)[0] == "dog"
        assert "One model, two attention masks" in text and "see the whole sentence" in text
        # a multi-piece word: its bar is a word, and the verdict is on the word
        page.locator('[data-testid="stButtonGroup"]').first.get_by_text("barked", exact=True).click()
        page.wait_for_function("() => document.body.innerText.includes('recover barked')", timeout=120_000)
        wait_idle(page)
        masked = bar_labels(page, 0)
        assert any(w.startswith("barked") for w in masked) and "bar" not in masked and "␣bar" not in masked
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []
