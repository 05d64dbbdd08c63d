"""Every page that uses a masked LM, on a tiny masked LM made from a tiny causal LM (AppTest)."""

from __future__ import annotations

import pytest
import torch

from explorer import load, mlm, training
from explorer.charts import compare as compare_charts
from explorer.comparisons import masked_vs_causal as compare
from explorer.comparisons import masks
from explorer.comparisons.sentence import word_index
from explorer.tokens import display_piece
from tests.figures import figures

MASKED = "pages/masked_lm.py"


@pytest.fixture(scope="module")
def pair(tiny_bidir_dir, tiny_clm_dir):
    return load("mlm", str(tiny_bidir_dir)), load("clm", str(tiny_clm_dir))


def charts(at) -> list[dict]:
    return figures(at)


def texts(at) -> str:
    return " ".join(str(e.value) for e in (*at.info, *at.error, *at.warning, *at.markdown, *at.caption))


def test_masked_lm_page_predicts_what_a_plain_forward_pass_gives(app_page, tiny_bidir_dir, pair):
    lm, _ = pair
    at = app_page(MASKED, model_id_mlm=str(tiny_bidir_dir))
    enc = mlm.encode_text(lm, "Paris is the capital of France.")
    (pos,) = at.pills(key="mlm_masked").value
    assert enc.pieces[pos].strip().lstrip("␣") == "capital"
    ids = list(enc.ids)
    ids[pos] = lm.tokenizer.mask_token_id
    with torch.no_grad():
        probs = torch.softmax(lm.model(input_ids=torch.tensor([ids])).logits[0, pos], -1)
    (spec,) = [s for s in charts(at) if s["data"][0]["type"] == "bar"]
    bar = spec["data"][0]
    got = {label.strip().replace("\u200b", ""): p for label, p in zip(bar["y"], bar["x"])}
    expected = mlm.fill_mask(lm, enc, [pos], k=10).predictions[0]
    assert len(expected.top_ids) == 10
    for piece, tid in zip(expected.top_pieces, expected.top_ids):
        assert got[piece.strip()] == pytest.approx(float(probs[tid]), abs=1e-7)
    assert at.table[0].value["answer"].tolist() == [display_piece(lm.tokenizer, enc.ids[pos])]
    # Mask like BERT: the training pair and the model's loss on it
    at = app_page(MASKED, model_id_mlm=str(tiny_bidir_dir), mlm_view="Mask like BERT", mlm_seed=4)
    draw = mlm.mask_tokens(enc, lm.tokenizer, 0.15, 4)
    assert at.dataframe[0].value["input id"].tolist() == draw.input_ids
    assert at.metric[0].value == f"{mlm.predict_training_pair(lm, draw).mean_loss:.2f} nats"
    # Surprise per token: the pseudo-log-likelihood
    at = app_page(MASKED, model_id_mlm=str(tiny_bidir_dir), mlm_view="Surprise per token")
    pll = mlm.pseudo_log_likelihood(lm, enc)
    assert {m.label: m.value for m in at.metric}["Pseudo-perplexity"] == f"{pll.pseudo_perplexity:,.1f}"
    (strip,) = charts(at)
    assert [v for row in strip["data"][0]["z"] for v in row if v is not None] == pytest.approx(pll.surprisals)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("   ", "empty"),
        ("word " * 300, "limit"),
        ("No blank here.", None),
        ("I ❤️ 🍕 and [MASK].", "(blank)"),
        ("The <MASK> is [mask].", "(blank)"),
    ],
)
def test_masked_lm_page_bad_input(app_page, tiny_bidir_dir, text, expected):
    at = app_page(MASKED, model_id_mlm=str(tiny_bidir_dir))
    at.pills(key="mlm_masked").set_value([]).run()
    at.text_area(key="mlm_text").set_value(text).run()
    assert not at.exception
    if expected == "(blank)":
        assert set(at.table[0].value["answer"]) == {"(blank)"}
    elif expected:
        assert expected in texts(at)
    else:
        assert "Nothing is masked yet" in texts(at)


def test_compare_page_says_one_model_two_masks(app_page, tiny_bidir_dir, tiny_clm_dir, pair):
    at = app_page("pages/compare.py", model_id_mlm=str(tiny_bidir_dir), model_id_clm=str(tiny_clm_dir))
    shown = texts(at)
    assert "One model, two attention masks" in shown and "split text differently" not in shown
    assert "A third mask, the prefix LM's" in shown and "one set of weights, three masks" in shown
    assert "Blocks 1 keep the causal mask" in shown and "blocks 2 see the whole sentence" in shown
    comp = compare.prepare(*pair, "The dog barked at the mailman.")
    assert comp.same_tokens
    patterns = masks.attention_patterns(pair[0], comp.mlm_enc.ids)
    assert masks.sees_right_context(patterns) == [False, True]
    left, _ = compare.predict_word(comp, *pair, word_index(comp.text, "dog"), k=8)  # the default
    bars = [s for s in charts(at) if s["data"][0]["type"] == "bar"]
    expected = compare_charts.word_bars(left.words).data[0].x
    assert len(expected) >= 3 and sorted(bars[0]["data"][0]["x"]) == pytest.approx(sorted(expected), abs=1e-8)


def test_span_page_fills_gaps_with_it(app_page, tiny_bidir_dir, tmp_path):
    at = app_page(
        "pages/span_corruption.py", timeout=240, model_id_mlm=str(tiny_bidir_dir), model_id_seq2seq=str(tmp_path)
    )
    assert not at.exception
    fills = next(d.value for d in at.dataframe if "predicted" in d.value.columns)
    assert len(fills) >= 1 and all(isinstance(t, str) and t for t in fills["tokens"])


def test_inside_the_model_shows_its_real_masks_and_lens(app_page, tiny_bidir_dir, pair):
    lm, _ = pair
    text = "Paris is the [MASK] of France."
    at = app_page("pages/attention.py", attn_role="mlm", attn_text=text, model_id_mlm=str(tiny_bidir_dir))
    assert not at.exception and not at.error
    at.radio(key="attn_view").set_value("Layer by layer").run()
    assert not at.exception and not at.error
    enc = mlm.encode_text(lm, text)
    pos = enc.ids.index(lm.tokenizer.mask_token_id)
    with torch.no_grad():
        top = int(lm.model(input_ids=torch.tensor([enc.ids])).logits[0, pos].argmax())
    assert at.selectbox(key="attn_lens_pos").value == pos
    assert at.dataframe[0].value.iloc[-1]["#1"] == display_piece(lm.tokenizer, top)


def test_lessons_widget_runs_on_it(app_page, tiny_bidir_dir):
    at = app_page("pages/lessons.py", model_id_mlm=str(tiny_bidir_dir), lesson=1)
    assert not at.exception


def test_continue_self_supervised_training_on_it(monkeypatch, tiny_bidir_dir, pair):
    from streamlit.testing.v1 import AppTest

    from app import ROOT
    from explorer.models import cache as model_cache

    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(2))
    shared = model_cache.SHARED.get("mlm", str(tiny_bidir_dir))
    before = {k: v.clone() for k, v in shared.model.state_dict().items()}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model_id_mlm"] = str(tiny_bidir_dir)
    at.run()
    at.switch_page("pages/training.py")
    at.run()
    at.radio(key="train_mode").set_value("continue").run()
    at.selectbox(key="train_corpus").set_value("simple").run()
    at.selectbox(key="train_lr").set_value(1e-3).run()
    at.selectbox(key="train_steps").set_value(10).run()
    at.button(key="train_start").click().run()
    run = at.session_state["training_run"]
    assert training.wait(run, timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert run.step == 10 and run.trainer.last("eval_loss") < run.trainer.history[0]["eval_loss"]
    assert all(torch.equal(shared.model.state_dict()[k], before[k]) for k in before)
    table = next(t.value for t in at.table if "before" in t.value.columns)
    assert list(table.columns) == ["before", "after"] and len(table) == 3


def test_picker_offers_both_offline_masked_lms(app_page):
    from explorer import models

    at = app_page(MASKED)
    pick = at.selectbox(key="pick_mlm")
    assert pick.options[:2] == [models.SMOLLM2_MLM, models.PROJECT_MLM]  # ids: a long label was cut in the sidebar
    assert "Ships with the app: SmolLM2 with bidirectional attention" in at.sidebar.caption[0].value
    assert at.session_state["model_id_mlm"] == models.SMOLLM2_MLM
    pick.set_value(pick.options[1]).run()
    assert not at.exception and at.session_state["model_id_mlm"] == models.PROJECT_MLM
    assert any("Ships with the app: BERT-style WordPiece, [MASK]" in c.value for c in at.sidebar.caption)
    assert at.table[0].value["answer"].tolist() == ["capital"]  # WordPiece: no byte-level space
