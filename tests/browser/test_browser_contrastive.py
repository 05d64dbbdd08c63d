"""Real browser: the contrastive page draws its cosine-similarity heatmap, offline."""

from __future__ import annotations

import pytest

from app import ROOT
from tests.browser import opened_page

pytestmark = pytest.mark.browser


def test_contrastive_heatmap_is_drawn():
    with opened_page("Contrastive embeddings") as (page, log):
        assert page.locator('[data-testid="stException"]').count() == 0
        charts = page.locator(".js-plotly-plot")
        charts.first.wait_for(timeout=60_000)
        first = charts.first
        # the first chart is the similarity heatmap: a drawn heatmap layer with the sentence labels
        first.locator(".hm image, .heatmaplayer image").first.wait_for(state="attached", timeout=30_000)
        title = first.locator(".gtitle").text_content()
        assert "Cosine similarity" in title
        ticks = " ".join(first.locator(".ytick text").all_text_contents())
        assert "1. A man is playin…" in ticks and "3. The cat is slee…" in ticks  # short: the cells keep room
        assert first.locator(".hm image, .heatmaplayer image").first.bounding_box()["width"] > 150
        # one value label per cell: 6 sentences → 36 cells, the diagonal reads 1.00
        cells = first.locator("g.hm text, .heatmaplayer text").all_text_contents()
        assert len(cells) == 36 and cells.count("1.00") >= 6
        (ROOT / ".pytest_cache").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / ".pytest_cache" / "contrastive.png"), full_page=True)
        assert log.external == [], log.external
