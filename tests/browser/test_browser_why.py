"""Real browser: the "Why?" view (token attribution) on the Masked LM, Causal LM and Masked vs causal pages,
with the real offline models, as a participant opens it: the text coloured by credit, the value on hover,
another method picked, and on the compare page the causal LM's zero credit after the blank."""

from __future__ import annotations

import re

import pytest

from tests.browser import choose, opened_page, wait_idle

pytestmark = pytest.mark.browser

STRIP = ".attribution-strip"


def open_why(page, label: str, strips: int = 1) -> None:
    page.get_by_text(label, exact=True).click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('.attribution-strip').length >= n", arg=strips, timeout=120_000
    )
    wait_idle(page)


def credits(page, index: int = 0) -> list[tuple[str, float]]:
    """(token, credit) of each token of the index-th strip, read from its hover titles."""
    titles = page.locator(STRIP).nth(index).locator(".tok").evaluate_all("els => els.map(e => e.title)")
    out = []
    for t in titles:
        m = re.match(r"^(.*): ([+-]\d+\.\d+)", t)
        if m:
            out.append((m.group(1), float(m.group(2))))
    return out


def pick_method(page, method: str) -> None:
    box = page.get_by_role("combobox", name="Method")
    choose(page, box, page.get_by_role("option", name=method, exact=True))


def no_errors(page, log) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert log.external == [], log.external


def test_masked_lm_why_colours_the_text_and_changes_with_the_method():
    with opened_page("Masked LM (cloze)", width=1280, height=900) as (page, log):
        wait_idle(page)
        open_why(page, "Why? Which tokens made it predict this")
        first = credits(page)
        assert len(first) >= 4 and any(v != 0.0 for _, v in first)
        assert "convergence delta" in page.inner_text("body")
        pick_method(page, "attention × gradient")
        page.wait_for_function("() => !document.body.innerText.includes('convergence delta')", timeout=60_000)
        again = credits(page)
        assert again != first and all(v >= 0 for _, v in again)
        no_errors(page, log)


def test_causal_lm_why_explains_the_next_token():
    with opened_page("Causal LM (next token)", width=1280, height=900) as (page, log):
        page.get_by_text("Nothing generated yet").wait_for()
        open_why(page, "Why? Which tokens made it predict this")
        assert page.locator(STRIP).first.get_by_text("next ?").count() == 1
        assert len(credits(page)) >= 3
        no_errors(page, log)


def test_compare_why_shows_the_masked_lm_reading_the_right_side_and_the_causal_lm_not():
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        page.wait_for_function("() => document.body.innerText.includes('Recovered dog')", timeout=120_000)
        wait_idle(page)
        page.get_by_text("Why? Which words each model used", exact=True).click()
        wait_idle(page)
        pick_method(page, "gradient × input")
        page.wait_for_function("() => document.querySelectorAll('.attribution-strip').length >= 2", timeout=120_000)
        masked, causal = credits(page, 0), credits(page, 1)
        after = {"barked", "at", "the", "mailman"}
        assert any(v != 0.0 for w, v in masked if w in after)  # the masked LM read the right side
        assert all(v == 0.0 for w, v in causal if w in after)  # the causal LM never did
        assert "never read them" in page.inner_text("body")
        no_errors(page, log)
