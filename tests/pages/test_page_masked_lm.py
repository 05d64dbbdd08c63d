"""The Masked LM page through the real navigation (AppTest), on a tiny masked LM."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

import explorer
from app import ROOT
from explorer import mlm
from tests.core.mlm.test_mlm import no_mask_dir  # noqa: F401 - a fixture shared with the core tests
from tests.figures import drawn, figures, in_place

PAGE = "pages/masked_lm.py"


@pytest.fixture
def open_page(app_page):
    """The page on a given masked LM (a folder), with session state set first."""

    def _open(model_dir=None, **state) -> AppTest:
        if model_dir is not None:
            state["model_id_mlm"] = str(model_dir)
        return app_page(PAGE, **state)

    return _open


def charts(at: AppTest) -> list[dict]:
    return figures(at)


def bar_probs(spec: dict) -> dict[str, float]:
    bar = spec["data"][0]
    return {label.strip().replace("\u200b", ""): p for label, p in zip(bar["y"], bar["x"])}


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.info, *at.error, *at.warning, *at.markdown, *at.caption)]
    return " ".join(str(p) for p in parts)


@pytest.fixture(scope="module")
def tiny(tiny_mlm_dir):
    return explorer.load("mlm", str(tiny_mlm_dir))


def test_default_example_masks_its_word_and_matches_the_model(open_page, tiny_mlm_dir, tiny):
    at = open_page(tiny_mlm_dir)
    pills = at.pills(key="mlm_masked")
    enc = mlm.encode_text(tiny, "Paris is the capital of France.")
    assert pills.value == [4] and enc.pieces[4] == "capital"
    (spec,) = [s for s in charts(at) if s["data"][0]["type"] == "bar"]
    expected = mlm.fill_mask(tiny, enc, [4], k=10).predictions[0]
    ids = list(enc.ids)
    ids[4] = tiny.tokenizer.mask_token_id
    with torch.no_grad():  # the page shows what a plain forward pass gives
        probs = torch.softmax(tiny.model(input_ids=torch.tensor([ids])).logits[0, 4], -1)
    got = bar_probs(spec)
    for piece, tid in zip(expected.top_pieces, expected.top_ids):
        assert got[piece] == pytest.approx(float(probs[tid]), abs=1e-6)
    assert f"rank {expected.original_rank:,}" in spec["layout"]["title"]["text"]
    table = at.table[0].value
    assert table["answer"].tolist() == ["capital"] and table["loss (nats)"][0] == f"{expected.loss:.2f}"
    assert any(b.proto.label == "Download predictions (CSV)" for b in at.get("download_button"))


def test_clicking_tokens_masks_and_unmasks(open_page, tiny_mlm_dir):
    at = open_page(tiny_mlm_dir)
    at.pills(key="mlm_masked").set_value([1, 4, 6]).run()
    assert not at.exception
    bars = [s for s in charts(at) if s["data"][0]["type"] == "bar"]
    assert len(bars) == 3 and at.table[0].value["answer"].tolist() == ["paris", "capital", "france"]
    at.pills(key="mlm_masked").set_value([]).run()
    assert not at.exception and not charts(at)
    assert "Nothing is masked yet" in texts(at) and "[MASK]" in texts(at)


def test_a_changed_blank_redraws_its_chart_in_place(open_page, tiny_mlm_dir):
    """The blanks' charts are one element that keeps its id (the browser updates the drawings it has) while
    its figures change, and a second blank is a second figure of that same element."""
    at = open_page(tiny_mlm_dir)
    (before,) = in_place(at)
    first = charts(at)[0]
    at.pills(key="mlm_masked").set_value([6]).run()  # another word instead: "france" for "capital"
    (after,) = in_place(at)
    assert after.proto.id == before.proto.id and after.proto.id.endswith("mlm_chart")
    assert "france" in charts(at)[0]["layout"]["title"]["text"] and charts(at)[0] != first
    at.pills(key="mlm_masked").set_value([4, 6]).run()  # a second blank: a second chart in the same element
    (both,) = in_place(at)
    assert both.proto.id == before.proto.id and len(drawn(both)) == 2
    assert json.loads(both.proto.json)["columns"] == 2


def test_charts_fall_back_to_plotly_chart_where_plotly_js_cannot_be_served(open_page, tiny_mlm_dir, monkeypatch):
    from explorer.ui import static_files

    monkeypatch.setattr(static_files, "plotly_js_served", lambda: False)
    at = open_page(tiny_mlm_dir)
    assert not at.exception and not in_place(at) and len(at.get("plotly_chart")) == 1
    assert "capital" in charts(at)[0]["layout"]["title"]["text"]


def test_whole_word_masking_masks_every_piece(open_page, tiny_mlm_dir, tiny):
    text = "The ornithologist was unbelievably excited about the hummingbird."
    enc = mlm.encode_text(tiny, text)
    word = mlm.positions_of_words(enc, ["unbelievably"])
    at = open_page(tiny_mlm_dir, mlm_preset="Sub-word pieces", mlm_text=text, mlm_whole_word=True)
    assert at.pills(key="mlm_masked").value == word  # the example's word, all its pieces
    at.pills(key="mlm_masked").set_value(word[1:]).run()  # click one piece off: the whole word goes
    assert at.pills(key="mlm_masked").value == []
    at.pills(key="mlm_masked").set_value([word[2]]).run()  # click one piece on: the whole word comes
    assert at.pills(key="mlm_masked").value == word
    # whole-word masking guesses whole words: one row and one chart for the word, its bar among them
    table = at.table[0].value
    assert table["positions"].tolist() == [", ".join(map(str, word))]
    assert table["hidden word"].tolist() == ["unbelievably"] and table["pieces"].tolist() == [str(len(word))]
    (fig,) = charts(at)
    labels = [y.strip() for y in fig["data"][0]["y"]]
    assert any(lab.startswith("unbelievably") for lab in labels) and not any("##" in lab for lab in labels)
    at.toggle(key="mlm_pieces").set_value(True).run()  # the pieces' own guesses, one click away
    assert not at.exception and at.table[0].value["position"].tolist() == word and len(charts(at)) == len(word)


def test_picking_an_example_replaces_text_and_masks(open_page, tiny_mlm_dir):
    at = open_page(tiny_mlm_dir)
    at.selectbox(key="mlm_preset").set_value("Two blanks at once").run()
    assert at.text_area(key="mlm_text").value.startswith("The cat slept on the mat")
    assert at.table[0].value["answer"].tolist() == ["mat", "rug"]


def test_typed_blank_is_predicted(open_page, tiny_mlm_dir):
    at = open_page(tiny_mlm_dir)
    at.text_area(key="mlm_text").set_value("The best part of the day is <mask>.").run()
    assert not at.exception and at.pills(key="mlm_masked").value == []
    table = at.table[0].value
    assert table["answer"].tolist() == ["(blank)"] and table["model sees"].tolist() == ["[MASK]"]
    shown = at.table[0].value  # what the browser draws: no answer to score, so "—", not "None"
    row = shown.iloc[0]
    assert [row["rank of answer"], row["probability of answer"], row["loss (nats)"]] == ["—", "—", "—"]
    assert row["top probability"].endswith("%")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("   ", "empty"),
        ("word " * 300, "limit here is 64"),
        ("I love Tokyo 🤖 東京", "[UNK]"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(open_page, tiny_mlm_dir, text, expected):
    at = open_page(tiny_mlm_dir)
    at.text_area(key="mlm_text").set_value(text).run()
    assert not at.exception
    assert expected in texts(at)


def test_model_without_mask_token_is_explained(open_page, no_mask_dir):
    at = open_page(no_mask_dir)
    assert "no mask token" in texts(at) and "bert-base-uncased" in texts(at)
    assert not at.get("button_group")


def test_mask_like_bert_view_shows_the_training_pair(open_page, tiny_mlm_dir, tiny):
    text = (
        "The quick brown fox jumps over the lazy dog while the farmer watches from the porch and drinks a cup of tea."
    )
    at = open_page(tiny_mlm_dir, mlm_text=text, mlm_view="Mask like BERT", mlm_seed=4)
    enc = mlm.encode_text(tiny, text)
    draw = mlm.mask_tokens(enc, tiny.tokenizer, 0.15, 4)
    pair = at.dataframe[0].value
    assert pair["input id"].tolist() == draw.input_ids and pair["label"].tolist() == draw.labels
    assert (pair.loc[pair["chosen"] == "", "label"] == -100).all()
    assert f"{len(draw.chosen)} of {len(draw.candidates)}" in texts(at)
    loss = mlm.predict_training_pair(tiny, draw).mean_loss
    assert at.metric[0].value == f"{loss:.2f} nats"
    at.button(key="mlm_new_draw").click().run()  # a new draw: the next seed
    assert at.number_input(key="mlm_seed").value == 5
    assert at.dataframe[0].value["input id"].tolist() == mlm.mask_tokens(enc, tiny.tokenizer, 0.15, 5).input_ids
    at.slider(key="mlm_rate").set_value(50).run()
    assert (at.dataframe[0].value["chosen"] == "yes").sum() == round(0.5 * len(draw.candidates))


def test_surprise_view_shows_pseudo_perplexity(open_page, tiny_mlm_dir, tiny):
    at = open_page(tiny_mlm_dir, mlm_view="Surprise per token")
    enc = mlm.encode_text(tiny, "Paris is the capital of France.")
    pll = mlm.pseudo_log_likelihood(tiny, enc)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pseudo-perplexity"] == f"{pll.pseudo_perplexity:,.1f}"
    (strip,) = charts(at)
    assert strip["data"][0]["type"] == "heatmap"
    assert [v for row in strip["data"][0]["z"] for v in row if v is not None] == pytest.approx(pll.surprisals)


def test_presenter_mode_enlarges_charts(open_page, tiny_mlm_dir):
    normal = charts(open_page(tiny_mlm_dir))[0]["layout"]["font"]["size"]
    large = charts(open_page(tiny_mlm_dir, presenter=True))[0]["layout"]["font"]["size"]
    assert large > normal


def test_default_model_missing_or_present_never_crashes(open_page):
    at = open_page()
    if explorer.models.DEFAULTS["mlm"] and not (ROOT / "assets" / "models" / "ssl-explorer-minilm-mlm").exists():
        assert "masked LM" in texts(at) and not at.get("button_group")
    else:
        assert at.pills(key="mlm_masked").value


def test_every_example_masks_its_words(open_page, tiny_mlm_dir, tiny):
    at = open_page(tiny_mlm_dir)
    names = at.selectbox(key="mlm_preset").options
    assert len(names) >= 6
    for name in names:
        at.selectbox(key="mlm_preset").set_value(name).run()
        assert not at.exception, name
        enc = mlm.encode_text(tiny, at.text_area(key="mlm_text").value)
        masked = at.pills(key="mlm_masked").value
        blanks = mlm.typed_masks(enc, tiny.tokenizer)
        assert masked or blanks, name
        assert at.table[0].value["position"].tolist() == sorted(masked + blanks), name


# --------------------------------------------------------------------------- regressions found by fuzzing
# FuzzSession sends what the browser holds (the value shown), so a widget that remounts at its own
# default while the page computes with another value shows up here as it does in the browser.


def test_top_k_slider_keeps_its_value_after_an_empty_text(tiny_mlm_dir):
    from tests.fuzz_support import FuzzSession

    s = FuzzSession(PAGE, {"model_id_mlm": str(tiny_mlm_dir)})
    s.set("mlm_text", "")  # the page stops before the slider: the browser removes it
    assert "empty" in texts(s.at)
    s.set("mlm_text", "Paris is the capital of France.")
    assert s.value_shown("mlm_k") == [10.0] and s.at.session_state["mlm_k"] == 10
    (spec,) = [c for c in charts(s.at) if c["data"][0]["type"] == "bar"]
    assert len(spec["data"][0]["y"]) in (10, 11)  # the top 10, and the answer when it is not among them
    s.set("mlm_masked", ["capital", "france"])  # the next click sends the slider's shown value back
    assert s.at.session_state["mlm_k"] == 10 and "mlm_k" not in s.at.query_params
    assert all(len(c["data"][0]["y"]) in (10, 11) for c in charts(s.at) if c["data"][0]["type"] == "bar")


def test_a_moved_slider_and_the_text_survive_a_model_that_fails_to_load(tiny_mlm_dir, monkeypatch):
    from tests.fuzz_support import FuzzSession

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = FuzzSession(PAGE, {"model_id_mlm": str(tiny_mlm_dir)})
    s.set("mlm_k", 4)
    s.set("pick_mlm", "distilroberta-base")  # not available offline: the page stops after the picker
    assert not s.at.get("slider")
    offline = next(o for o in s.widget("pick_mlm").options if o.startswith(explorer.models.PROJECT_MLM))
    s.set("pick_mlm", offline)  # an offline model again: the widgets remount
    assert s.value_shown("mlm_text") == "Paris is the capital of France."
    assert s.value_shown("mlm_k") == [4.0] and s.at.query_params.get("mlm_k") == "4"


def test_many_blanks_get_a_bounded_number_of_charts_and_a_full_table(open_page, tiny_mlm_dir):
    from explorer.charts.mlm import MAX_BLANK_CHARTS

    at = open_page(tiny_mlm_dir)
    at.text_area(key="mlm_text").set_value("a [MASK] " * 30).run()
    assert not at.exception
    assert len(at.table[0].value) == 30  # every blank in the table
    assert len(charts(at)) == MAX_BLANK_CHARTS
    assert any(f"Charts for the first {MAX_BLANK_CHARTS} of the 30 blanks" in c.value for c in at.caption)
