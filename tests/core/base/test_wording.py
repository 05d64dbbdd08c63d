"""Counted nouns read right: "1 token", never "1 tokens", wherever the app counts tokens; sizes read one way."""

from __future__ import annotations

from explorer import clm
from explorer.charts import span as span_charts
from explorer.span.sentinels import sentinel_number
from explorer.wording import count, size_text


def test_count_is_singular_for_one_only():
    assert count(1, "token") == "1 token"
    assert count(0, "token") == "0 tokens" and count(2, "token") == "2 tokens"
    assert count(1_234, "token") == "1,234 tokens"
    assert count(1, "generated token") == "1 generated token"
    assert count(2, "child", "children") == "2 children"


def test_sizes_are_written_one_way_for_text_and_image_uploads():
    assert size_text(1_000_000) == "1 MB" and size_text(1_020_000) == "1.02 MB"  # just over a limit reads over
    assert size_text(10_000_000) == "10 MB" and size_text(10_500_000) == "10.5 MB"
    assert size_text(250_000) == "0.25 MB" and size_text(5_300) == "5 KB"
    assert size_text(1) == "1 byte" and size_text(100) == "100 bytes"


def test_a_one_token_text_is_1_token_on_the_span_strips():
    html = span_charts.corruption_strips(
        ["Hi"], [False], ["Hi"], ["<extra_id_0>", "Hi", "<extra_id_1>"], sentinel_number
    )
    assert "(1 token)" in html and "(1 tokens)" not in html and "(3 tokens)" in html


def test_an_empty_prompt_is_1_token_on_the_causal_page(app_page, smollm2):
    at = app_page("pages/causal_lm.py", clm_prompt="")
    assert clm.build_prompt(smollm2.tokenizer, "").ids == [clm.start_token_id(smollm2.tokenizer)]
    labels = [e.label for e in at.expander]
    assert any(label.startswith("The exact text the model sees: 1 token (") for label in labels), labels
