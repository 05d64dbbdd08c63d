"""Real browser: the Span corruption page with the real offline span LM (SmolLM2 under a prefix mask)."""

from __future__ import annotations

import re

import pytest

from tests.browser import opened_page, wait_idle
from tests.layout_probe import charts_drawn

pytestmark = pytest.mark.browser

MASKS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(p => p.layout && p.layout.title && /^(Causal|Full|Prefix)/.test(p.layout.title.text || ''))
  .map(p => ({title: p.layout.title.text, z: Array.from(p._fullData[0].z, row => Array.from(row, Number))}))"""


def filled(page) -> str:
    page.wait_for_function("() => document.body.innerText.includes('Predicted target:')", timeout=120_000)
    wait_idle(page)
    return page.inner_text("body")


def test_the_real_span_lm_writes_the_spans_and_its_three_masks_are_what_they_claim():
    """The offline default fills the spans itself (a prefix LM, never told their lengths), each span judged,
    and the three masks drawn from the three models' own attention weights are causal, full and prefix."""
    with opened_page("Span corruption (T5)", width=1280, height=900) as (page, log):
        text = filled(page)
        assert "a prefix LM: the input read both ways" in text and "never told a span's length" in text
        assert "Approximation (masked LM)" not in text and "Filled by" in text
        target = page.locator('[data-testid="stCode"]').last.inner_text()
        assert re.match(r"\s*<extra_id_0>", target) and "<extra_id_1>" in target  # T5's target format
        assert "One set of weights, three masks" in text
        charts_drawn(page)
        views = {v["title"].split(":")[0]: v["z"] for v in page.evaluate(MASKS_JS)}
        assert set(views) == {"Causal", "Full", "Prefix"}
        causal, full, prefix = views["Causal"], views["Full"], views["Prefix"]
        n = len(causal)
        assert all(causal[i][j] == (1 if j <= i else 0) for i in range(n) for j in range(n))
        assert all(v == 1 for row in full for v in row)
        # prefix: the first rows (the input) see the whole input and none of the target; the last row sees all
        k = prefix[0].index(0)  # the input's length: where the first row stops seeing
        assert all(prefix[i][:k] == [1] * k and set(prefix[i][k:]) == {0} for i in range(k))
        assert all(
            prefix[i][: i + 1] == [1] * (i + 1) and set(prefix[i][i + 1 :]) <= {0} for i in range(k, len(prefix))
        )
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []


def test_sentinels_typed_by_a_user_are_refused_plainly_and_an_emoji_sentence_is_filled():
    with opened_page("Span corruption (T5)", width=1280, height=900) as (page, log):
        filled(page)
        box = page.get_by_label("Sentence", exact=True)
        box.fill("My cat <extra_id_0> sleeps on the warm windowsill <extra_id_99> all afternoon long.")
        box.press("Control+Enter")
        page.wait_for_function("() => document.body.innerText.includes('already contains a sentinel')", timeout=120_000)
        wait_idle(page)
        text = page.inner_text("body")
        assert "sentinels are added by the corruption" in text
        assert "Predicted target:" not in text  # nothing is filled from a sentence the page refused
        assert page.locator('[data-testid="stException"]').count() == 0
        box.fill("My cat sleeps on the warm 🐱 windowsill all afternoon long.")
        box.press("Control+Enter")
        page.wait_for_function(
            "() => !document.body.innerText.includes('already contains a sentinel')"
            " && document.body.innerText.includes('Predicted target:')",
            timeout=120_000,
        )
        text = filled(page)
        assert "Filled by" in text and "🐱" in page.locator('[data-testid="stCode"]').first.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []
