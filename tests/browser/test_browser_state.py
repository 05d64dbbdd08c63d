"""Real browser: what the screen shows is what the page uses, after runs that stopped early, options
that changed, and text over a box's limit (the defects found by fuzzing, seen from Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import CHARTS, opened_page, wait_idle

pytestmark = pytest.mark.browser


def commit(page, box, text: str) -> None:
    """Type a whole new text into a text area or input and commit it, as a participant does."""
    box.fill(text)
    box.press("Control+Enter" if box.evaluate("e => e.tagName") == "TEXTAREA" else "Enter")
    wait_idle(page)


def slider_value(page, label: str) -> str:
    """The value a slider shows (its thumb's range input)."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    return slider.locator('input[type="range"]').input_value()


def test_top_k_slider_shows_its_value_after_an_empty_text():
    with opened_page("Masked LM (cloze)") as (page, _):
        box = page.get_by_label("Text", exact=True)
        assert slider_value(page, "top-k") == "10"
        commit(page, box, "")
        expect(page.get_by_text("The text is empty.")).to_have_count(1, timeout=60_000)
        commit(page, box, "Paris is the capital of France.")
        expect(page.locator(CHARTS)).to_have_count(1, timeout=60_000)
        assert slider_value(page, "top-k") == "10"
        pills = page.locator('[data-testid="stButtonGroup"]').first
        pills.get_by_role("button", name="␣France", exact=True).click()  # the next click
        wait_idle(page)
        assert slider_value(page, "top-k") == "10" and "mlm_k" not in page.url
        assert page.locator('[data-testid="stException"]').count() == 0


def test_contrastive_query_after_one_sentence_then_two_others():
    with opened_page("Contrastive embeddings") as (page, _):
        box = page.get_by_label("Your sentences (one per line)", exact=True)
        commit(page, box, "A kitten naps on the couch.")
        commit(page, box, "The sky is blue today.\nGrass is green in spring.")
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not page.get_by_text("Something went wrong").count()
        query = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(has_text="Sentence")
        expect(query.get_by_role("combobox")).to_have_value("The sky is blue today.")
        expect(page.get_by_text("2. Nearest neighbours")).to_have_count(1)


def test_a_paste_over_the_limit_is_cut_with_a_message():
    with opened_page("Masked vs causal", fresh=True) as (page, _):  # its long run is left to the server
        box = page.get_by_label("Sentence (type ___ for the word to hide)", exact=True).and_(
            page.get_by_test_id("stTextInputField")
        )
        # 800 characters; the box takes 600. Not waiting for the run to end: the notice comes first, and
        # the page then scores every one of the 150 words on both sides (a minute on two cores)
        box.fill("The dog barked. " * 50)
        box.press("Enter")
        expect(page.get_by_text("The sentence had 800 characters; this box takes up to 600")).to_have_count(
            1, timeout=60_000
        )
        box.element_handle().wait_for_element_state("stable")
        page.wait_for_function("e => e.value.length === 600", arg=box.element_handle(), timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
