"""Real browser: on the Causal LM page, click a candidate next token and see it appended to the text."""

from __future__ import annotations

import re

import pytest

from app import ROOT
from explorer import clm
from tests.browser import CHARTS, opened_page, wait_idle

pytestmark = pytest.mark.browser


def test_click_a_candidate_to_append_it(smollm2):
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    dist = clm.next_token_distribution(smollm2, prompt.ids)
    second = dist.top[1]  # "␣the": not the greedy choice, so only a click can put it there
    after = clm.next_token_distribution(smollm2, prompt.ids + [second.token_id])
    with opened_page("Causal LM (next token)") as (page, log):
        page.get_by_text("Nothing generated yet").wait_for()
        chart = page.locator(CHARTS).first
        chart.locator(".main-svg").first.wait_for()
        assert dist.top[0].piece in chart.inner_text()
        candidates = page.locator('[data-testid="stButtonGroup"]').filter(has_text=f"{second.prob:.1%}")
        label = re.compile(rf"^{re.escape(second.piece)}\s+{re.escape(f'{second.prob:.1%}')}$")
        candidates.locator("button").filter(has_text=label).click()
        wait_idle(page)
        assert page.get_by_text("Nothing generated yet").count() == 0
        assert page.get_by_text("1 generated token,", exact=False).count() == 1
        chip = page.locator(".clm-chips .tok[title^='step 1 (picked)']")
        assert chip.count() == 1 and chip.inner_text() == second.piece
        assert f"{second.prob:.4f}" in chip.get_attribute("title")
        assert page.locator('[data-testid="stCode"]').filter(has_text=second.piece.replace("␣", " ").strip()).count()
        metric = page.locator('[data-testid="stMetric"]').first
        assert after.top[0].piece in metric.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ROOT / ".pytest_cache" / "causal_lm.png"), full_page=True)
        assert log.external == [], log.external
