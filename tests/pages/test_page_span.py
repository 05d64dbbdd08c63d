"""The span-corruption page (AppTest): offline approximation, with a seq2seq model, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import load, span
from explorer.comparisons import objectives
from tests.core.span.test_span import DEFAULT_TEXT, tiny_t5_dir  # noqa: F401 - fixture
from tests.figures import figures

PAGE = "pages/span_corruption.py"


def open_span(app_page, mlm_id: str, seq2seq_id: str, **state) -> AppTest:
    return app_page(PAGE, timeout=240, model_id_mlm=mlm_id, model_id_seq2seq=seq2seq_id, **state)


def html_of(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def no_model(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("no-model"))


def test_offline_page_uses_the_masked_lm_approximation(app_page, tiny_mlm_dir, no_model):
    at = open_span(app_page, str(tiny_mlm_dir), no_model)
    tok = load("mlm", str(tiny_mlm_dir)).tokenizer
    c = span.corrupt_spans(tok, DEFAULT_TEXT, seed=0)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Original tokens"] == str(len(c.pieces))
    assert metrics["Input tokens"] == str(len(c.input_pieces))
    assert metrics["Target tokens"] == str(len(c.target_pieces))
    codes = [x.value for x in at.code]
    assert c.input_text in codes and c.target_text in codes
    assert "&lt;extra_id_0&gt;" in html_of(at)  # sentinels drawn as chips, escaped
    assert any("approximation" in i.value for i in at.info)
    assert any("t5-small" in i.value for i in at.info)
    fills = frame_with(at, "predicted")
    assert list(fills["sentinel"]) == [sp.sentinel for sp in c.spans]
    assert list(fills["dropped"]) == [sp.text for sp in c.spans]
    assert any("Approximation" in cap.value for cap in at.caption)
    # choose 2 [MASK] tokens per span: every span gets two predicted tokens
    at.selectbox(key="span_fill_tokens").set_value(2).run()
    assert not at.exception
    fills = frame_with(at, "predicted")
    assert all(len(t.split()) == 2 for t in fills["tokens"])


def test_controls_change_the_corruption(app_page, tiny_mlm_dir, no_model):
    at = open_span(app_page, str(tiny_mlm_dir), no_model)
    first = [x.value for x in at.code][0]
    at.number_input(key="span_seed").set_value(3).run()
    tok = load("mlm", str(tiny_mlm_dir)).tokenizer
    assert [x.value for x in at.code][0] == span.corrupt_spans(tok, DEFAULT_TEXT, seed=3).input_text != first
    at.slider(key="span_density").set_value(0.3).run()
    at.toggle(key="span_anywhere").set_value(True).run()
    c = span.corrupt_spans(tok, DEFAULT_TEXT, seed=3, noise_density=0.3, anywhere=True)
    assert {m.label: m.value for m in at.metric}["Dropped spans"] == str(len(c.spans))
    assert not at.exception
    # the statistics over 500 seeds are drawn only once their expander is opened
    assert not [f for f in figures(at) if "seeds" in json.dumps(f["layout"].get("title"))]
    at.session_state["span_stats"] = True
    at.run()
    # the statistics over 500 seeds, for this sentence length and these settings
    lengths, densities = span.span_statistics(len(c.pieces), 0.3, 3.0, 500, anywhere=True)
    titles = [f["layout"]["title"]["text"] for f in figures(at) if "seeds" in json.dumps(f["layout"].get("title"))]
    assert titles == [
        f"500 seeds: noise density {np.mean(densities):.3f} (asked 0.3), mean span length {np.mean(lengths):.2f}"
    ]


def test_page_with_a_seq2seq_model_fills_the_spans(app_page, tiny_mlm_dir, tiny_t5_dir):  # noqa: F811
    at = open_span(app_page, str(tiny_mlm_dir), str(tiny_t5_dir))
    assert any("seq2seq" in s.value for s in at.success)
    assert not any("approximation" in i.value for i in at.info)
    fills = frame_with(at, "predicted")
    assert len(fills) >= 1 and set(fills["same"]) == {"yes"}, fills
    # the three-objective comparison is still drawn (on the masked LM's tokens)
    spec = figures(at)[0]
    assert spec["data"][0]["x"] == ["Masked LM (BERT)", "Next token (GPT)", "Span corruption (T5)"]


def test_comparison_of_the_three_objectives(app_page, tiny_mlm_dir, no_model):
    at = open_span(app_page, str(tiny_mlm_dir), no_model)
    tok = load("mlm", str(tiny_mlm_dir)).tokenizer
    c = span.corrupt_spans(tok, DEFAULT_TEXT, seed=0)
    views = objectives.compare_objectives(c, tok, seed=0)
    spec = figures(at)[0]
    z = spec["data"][0]["z"]
    assert [[row[k] == 2 for row in z] for k in range(3)] == [v.hidden for v in views]
    assert [row[2] for row in spec["data"][0]["text"]][c.spans[0].start] == "<extra_id_0>"
    frame = at.table[0].value
    assert list(frame["loss positions"]) == [v.loss_positions for v in views]


def test_page_without_any_fill_model_still_corrupts(app_page, no_model):
    at = open_span(app_page, no_model, no_model)
    assert any("not available" in e.value for e in at.error)
    assert [x.value for x in at.code]  # the corruption itself is shown (encoder tokenizer)


@pytest.mark.parametrize("text", ["", "one", "fill <extra_id_3> here"])
def test_bad_input_shows_a_message(app_page, tiny_mlm_dir, no_model, text):
    at = open_span(app_page, str(tiny_mlm_dir), no_model, span_text=text)
    assert at.error and not at.exception


def test_user_text_is_escaped(app_page, tiny_mlm_dir, no_model):
    at = open_span(
        app_page,
        str(tiny_mlm_dir),
        no_model,
        span_text="<b>bold</b> & <script>alert(1)</script> are typed by a curious student today",
    )
    page = html_of(at)
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;" in page


@pytest.fixture(scope="module")
def tiny_span_dir(tmp_path_factory, tiny_clm_dir) -> str:
    """A span-corruption artefact made from the tiny Llama (a prefix LM with T5's sentinels, LoRA rank 4)."""
    from explorer.models.made import prefix_artifact
    from explorer.models.made.prefix_lm import PrefixLlamaForSpanCorruption, configure, span_tokenizer

    causal = load("clm", str(tiny_clm_dir))
    model = PrefixLlamaForSpanCorruption.from_causal(causal.model, lora_rank=4)
    configure(model, span_tokenizer(causal.tokenizer))
    path = tmp_path_factory.mktemp("tiny-span")
    prefix_artifact.save(model, path, {"step": 0}, base_model=str(tiny_clm_dir))
    return str(path)


def test_a_prefix_lm_writes_the_spans_and_the_page_draws_its_three_masks(
    app_page, tiny_mlm_dir, tiny_bidir_dir, tiny_clm_dir, tiny_span_dir
):
    at = app_page(
        PAGE,
        timeout=240,
        model_id_mlm=str(tiny_bidir_dir),
        model_id_seq2seq=tiny_span_dir,
        model_id_clm=str(tiny_clm_dir),
    )
    assert any("prefix LM" in s.value and "never told" in s.value for s in at.success)
    assert not any("approximation" in i.value for i in at.info)
    fills = frame_with(at, "predicted")
    assert len(fills) >= 1 and all(c.endswith("%") for c in ",".join(fills["confidence"]).split(",") if c.strip())
    titles = [json.dumps(f["layout"].get("title")) for f in figures(at)]
    for mask in ("Causal: next token", "Full: masked LM", "Prefix: span corruption"):
        assert any(mask in t for t in titles), titles
