"""Real browser: the masked-vs-causal preset demo draws both models' predictions, offline."""

from __future__ import annotations

import pytest

from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def test_preset_demo_shows_both_sides():
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        page.locator('[data-testid="stMain"]').get_by_role("combobox", name="Example").click()
        page.get_by_role("option", name="The ___ barked at the mailman.", exact=True).click()
        page.wait_for_function("() => document.body.innerText.includes('The ___ barked at the mailman.')"
                               " && document.body.innerText.includes('The model sees')")
        wait_idle(page)
        text = page.inner_text("body")
        assert "Masked LM — sees both sides" in text and "Causal LM — sees the left only" in text
        assert "The ___" in text and "A blank with no answer" in text
        assert page.locator(".js-plotly-plot").count() >= 4
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []


def test_default_models_are_one_model_under_two_masks():
    """The real artefact: the default sentence's hidden word, both sides, and the per-block masks."""
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        page.wait_for_function("() => document.body.innerText.includes('One model, two attention masks')")
        page.wait_for_function("() => document.body.innerText.includes('What each model may look at')"
                               " && document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=120_000)
        wait_idle(page)
        text = page.inner_text("body")
        assert "weights and tokenizer" in text and "split text differently" not in text
        assert "All 30 blocks see the whole sentence" in text or "see the whole sentence" in text
        assert "The dog ___ at the mailman." in text  # the masked side's view of the default word
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []
