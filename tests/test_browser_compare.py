"""Real browser: the masked-vs-causal preset demo draws both models' predictions, offline."""

from __future__ import annotations

import pytest

from tests.browser import opened_page, wait_idle

pytestmark = pytest.mark.browser


def test_preset_demo_shows_both_sides():
    with opened_page("Masked vs causal", width=1280, height=900) as (page, log):
        page.get_by_text("The ___ barked at the mailman.", exact=True).first.click()
        page.wait_for_function("() => document.body.innerText.includes('The ___ barked at the mailman.')"
                               " && document.body.innerText.includes('The model sees')")
        wait_idle(page)
        text = page.inner_text("body")
        assert "Masked LM — sees both sides" in text and "Causal LM — sees the left only" in text
        assert "The ___" in text and "A blank with no answer" in text
        assert page.locator(".js-plotly-plot").count() >= 4
        assert page.locator('[data-testid="stException"]').count() == 0
        assert log.external == []
