"""Causal LM page through the real navigation (AppTest), checked against the core and the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import clm
from explorer.tokens import display_piece
from tests.figures import figures, in_place_at

PAGE = "pages/causal_lm.py"


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label or m.label.startswith(label))


def bars(at: AppTest) -> dict:
    spec = figures(at)[0]
    model, after = spec["data"][:2]  # then the legend's own swatches
    return {"labels": [y.strip() for y in model["y"][::-1]], "model": model["x"][::-1], "after": after["x"][::-1]}


def generation(at: AppTest) -> clm.Generation:
    return at.session_state["clm_generation"][1]


def infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_default_page_shows_reference_distribution(app_page, smollm2):
    at = app_page(PAGE)
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    with torch.no_grad():
        ref = torch.softmax(smollm2.model(input_ids=torch.tensor([prompt.ids])).logits[0, -1].double(), -1).numpy()
    order = np.argsort(-ref)[:10]
    b = bars(at)
    assert b["labels"][:10] == [display_piece(smollm2.tokenizer, int(i)) for i in order]
    np.testing.assert_allclose(b["model"][:10], ref[order], atol=1e-6)
    assert b["labels"][-1] == "(other)" and b["model"][-1] == pytest.approx(1 - ref[order].sum(), abs=1e-6)
    assert metric(at, "Most likely") == "␣Paris"
    ent = -(ref * np.log2(ref)).sum()
    assert metric(at, "Entropy") == f"{ent:.2f} bits"
    assert at.code[0].value == "The capital of France is"
    assert not at.error


def test_clicking_a_candidate_appends_it(app_page, smollm2):
    at = app_page(PAGE)
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    the = smollm2.tokenizer.encode(" the")[0]
    at.pills(key="clm_pick").set_value(the).run()
    assert not at.exception
    gen = generation(at)
    assert gen.ids == prompt.ids + [the] and gen.steps[0].how == "picked"
    assert at.pills(key="clm_pick").value is None
    assert at.code[1].value == " the"
    nxt = clm.next_token_distribution(smollm2, prompt.ids + [the])
    assert metric(at, "Most likely") == nxt.top[0].piece
    assert at.dataframe[1].value["token"].tolist() == ["␣the"]


def test_a_greedy_step_redraws_the_next_token_chart_in_place(app_page, smollm2):
    at = app_page(PAGE)
    before = in_place_at(at, "clm_bars")
    first = bars(at)
    at.button(key="clm_greedy").click().run()
    after = in_place_at(at, "clm_bars")
    assert after.proto.id == before.proto.id and bars(at) != first  # the same chart, a new distribution


def test_greedy_generate_undo_reset_match_model_generate(app_page, smollm2):
    at = app_page(PAGE)
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    with torch.no_grad():
        ref = smollm2.model.generate(torch.tensor([prompt.ids]), max_new_tokens=6, do_sample=False)[0].tolist()
    at.button(key="clm_greedy").click().run()
    assert generation(at).ids == ref[: len(prompt.ids) + 1]
    at.number_input(key="clm_n").set_value(5).run()
    at.button(key="clm_generate").click().run()
    assert not at.exception
    assert generation(at).ids == ref
    assert at.code[1].value == smollm2.tokenizer.decode(ref[len(prompt.ids) :])
    at.button(key="clm_undo").click().run()
    assert generation(at).ids == ref[:-1]
    at.button(key="clm_reset").click().run()
    assert generation(at).ids == prompt.ids and at.button(key="clm_undo").disabled


def test_seeded_sampling_is_reproducible(app_page, smollm2):
    at = app_page(PAGE, clm_temperature=1.3, clm_top_k=20, clm_seed=5)
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    shaped = clm.apply_sampling(clm.next_token_logits(smollm2, prompt.ids), 1.3, 20, 1.0)
    expected = clm.draw(shaped.after, 5, len(prompt.ids))
    at.button(key="clm_sample").click().run()
    first = generation(at).new_ids
    assert first == [expected] and generation(at).steps[0].how == "sampled"
    at.button(key="clm_undo").click().run()
    at.button(key="clm_sample").click().run()
    assert generation(at).new_ids == first
    at.segmented_control(key="clm_strategy").set_value("sample").run()
    at.button(key="clm_generate").click().run()
    gen = generation(at)
    ref = clm.Generation.start(smollm2, prompt)
    ref.generate(smollm2, 11, settings=clm.Settings(1.3, 20, 1.0), seed=5)
    assert gen.ids == ref.ids


@pytest.mark.parametrize(
    "state,kept",
    [({"clm_temperature": 0.0}, 1), ({"clm_top_p": 0.0}, 1), ({"clm_top_k": 3}, 3), ({"clm_top_p": 1.0}, 49152)],
)
def test_decoding_settings_reshape_the_bars(app_page, smollm2, state, kept):
    at = app_page(PAGE, **state)
    assert metric(at, "Tokens kept") == f"{kept:,}"
    b = bars(at)
    assert sum(a > 0 for a in b["after"]) == min(kept, 11)
    assert sum(b["after"]) == pytest.approx(1.0, abs=1e-6)
    captions = " ".join(c.value for c in at.caption)
    if state.get("clm_temperature") == 0.0:
        assert "greedy" in captions
    if state.get("clm_top_k") == 3:
        assert "Cut by the settings" in captions


@pytest.mark.parametrize(
    "state",
    [
        {"clm_temperature": 0.5},
        {"clm_top_k": 3},
        {"clm_top_p": 0.5},
        {"clm_temperature": 1.6, "clm_top_p": 0.9},
        {"clm_temperature": 0.0},
    ],
)
def test_most_likely_and_entropy_describe_the_distribution_sampled_from(app_page, smollm2, state):
    settings = clm.Settings(state.get("clm_temperature", 1.0), state.get("clm_top_k", 0), state.get("clm_top_p", 1.0))
    at = app_page(PAGE, **state)
    prompt = clm.build_prompt(smollm2.tokenizer, "The capital of France is")
    model = clm.next_token_distribution(smollm2, prompt.ids)
    shaped = clm.apply_sampling(model.logits, settings.temperature, settings.top_k, settings.top_p)
    after = shaped.after[shaped.after > 0]
    entropy = float(-(after * np.log2(after)).sum())
    assert abs(entropy - model.entropy) > 0.05  # the settings do change it
    m = {x.label: x for x in at.metric}
    assert m["Entropy"].value == f"{entropy:.2f} bits"
    assert m["Entropy"].delta == f"model {model.entropy:.2f} bits"  # the model's own figure kept beside it
    best = int(np.argmax(shaped.after))
    assert m["Most likely"].value == display_piece(smollm2.tokenizer, best)
    assert m["Most likely"].delta.startswith(f"{shaped.after[best]:.1%} ")
    assert "after the decoding settings" in " ".join(c.value for c in at.caption)


def test_moving_a_slider_does_not_rerun_the_model(app_page, smollm2):
    at = app_page(PAGE)
    before = clm.forward_count()
    at.slider(key="clm_temperature").set_value(0.5).run()
    at.slider(key="clm_top_p").set_value(0.8).run()
    assert not at.exception
    assert clm.forward_count() == before
    assert metric(at, "Tokens kept") != "49,152"


def test_chat_template_shows_the_exact_text(app_page, smollm2):
    at = app_page(PAGE, clm_prompt="What is the capital of France?")
    at.toggle(key="clm_chat").set_value(True).run()
    ref = smollm2.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    # new lines are marked, so the final one (where the assistant's answer starts) is visible
    assert at.code[0].value == ref.replace("\n", "↵\n").rstrip("\n") and at.code[0].value.endswith("assistant↵")
    at.button(key="clm_greedy").click().run()
    gen = generation(at)
    assert gen.prompt_ids == smollm2.tokenizer(ref, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", "start-of-text token"),
        ("word " * 400, "limit here is 256"),
    ],
)
def test_empty_and_long_prompts_are_explained(app_page, smollm2, text, expected):
    at = app_page(PAGE, clm_prompt=text)
    assert expected in infos(at)
    assert not at.error and figures(at)


def test_odd_unicode_prompt(app_page, smollm2):
    at = app_page(PAGE, clm_prompt="Caf\u00e9 \u4e2d\u6587 \U0001f600 <b>bold</b> \x07")
    assert not at.error
    assert at.code[0].value == "Caf\u00e9 \u4e2d\u6587 \U0001f600 <b>bold</b>"
    html = " ".join(m.value for m in at.markdown)
    assert "&lt;" in html and "&gt;" in html and "<b>" not in html  # user text is escaped in the token chips


def test_teacher_forcing_matches_model_loss(app_page, smollm2):
    text = "The cat sat on the mat because it was tired."
    at = app_page(PAGE)
    start = clm.start_token_id(smollm2.tokenizer)
    ids = [start] + smollm2.tokenizer(text)["input_ids"]  # read from the start token
    with torch.no_grad():
        loss = smollm2.model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    assert metric(at, "Perplexity") == f"{math.exp(loss):,.1f}"
    assert metric(at, "Loss") == f"{loss:.3f}"
    pairs = at.dataframe[-1].value
    assert len(pairs) == len(ids) - 1 and pairs["target id"].tolist() == ids[1:]
    assert pairs["target"].iloc[0] == "The"  # the first token is scored too, from the start token
    assert pairs["context"].iloc[3] == "<|endoftext|>The␣cat␣sat" and pairs["target"].iloc[3] == "␣on"


def test_teacher_forcing_reads_from_the_start_token_in_nats(app_page, smollm2):
    """The strip, the table and the loss share one unit (nats), and no pair is predicted from nothing:
    read without a start token, ' cat' after 'The' alone costs 20 bits and dwarfs every other bar."""
    at = app_page(PAGE)
    loss = float(metric(at, "Loss"))
    bars = figures(at)[-1]
    assert bars["layout"]["yaxis"]["title"]["text"].startswith("surprisal (nats)")
    heights = np.array(bars["data"][0]["y"])
    assert heights.mean() == pytest.approx(loss, abs=1e-3)  # the loss is the mean of the bars
    assert "nats" in bars["data"][0]["hovertemplate"] and "bits" not in bars["data"][0]["hovertemplate"]
    assert any(s["y0"] == pytest.approx(loss, abs=1e-3) for s in bars["layout"]["shapes"])  # drawn as a line
    assert bars["data"][0]["x"][0] == "The" and heights[0] < 8 and heights.max() < 10
    table = at.dataframe[-1].value
    assert "surprisal (nats)" in table and "surprisal (bits)" not in table
    np.testing.assert_allclose(table["surprisal (nats)"], heights)
    assert "start token" in " ".join(c.value for c in at.caption)


def test_teacher_forcing_uses_the_text_so_far_and_scores_a_single_word(app_page, smollm2):
    at = app_page(PAGE)
    at.button(key="clm_greedy").click().run()
    at.button(key="clm_tf_use").click().run()
    assert at.text_area(key="clm_tf_text").value == "The capital of France is Paris"
    assert metric(at, "Training pairs") == str(len(generation(at).ids))  # every token, from the start token
    at.text_area(key="clm_tf_text").set_value("Hi").run()
    assert not at.exception and not at.error
    assert metric(at, "Training pairs") == "1"  # one token: predicted from the start token alone


def test_teacher_forcing_of_an_empty_prompts_text_adds_no_second_start_token(app_page, smollm2):
    at = app_page(PAGE, clm_prompt="")
    at.button(key="clm_greedy").click().run()
    at.button(key="clm_tf_use").click().run()
    assert at.text_area(key="clm_tf_text").value.startswith("<|endoftext|>")
    assert at.dataframe[-1].value["context"].iloc[0] == "<|endoftext|>"


def test_presenter_mode_renders(app_page, smollm2):
    at = app_page(PAGE, presenter=True)
    assert figures(at) and not at.error
    spec = figures(at)[0]
    assert spec["layout"]["font"]["size"] == 20


def test_every_shareable_input_is_a_keyed_widget_with_its_default(app_page, smollm2):
    import ast

    from app import ROOT
    from explorer import examples

    tree = ast.parse((ROOT / PAGE).read_text())
    # the defaults as the page writes them; its texts come from its examples file (assets/examples/causal_lm.toml)
    defaults = next(
        eval(compile(ast.Expression(n.value), PAGE, "eval"), {"EXAMPLES": examples.load("causal_lm")})
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "DEFAULTS"
    )
    at = app_page(PAGE)
    widgets = {
        w.key: w for kind in (at.text_area, at.toggle, at.slider, at.number_input, at.segmented_control) for w in kind
    }
    assert set(defaults) <= set(widgets) and all(k.startswith("clm_") for k in defaults)
    for key, value in defaults.items():
        assert widgets[key].value == value, key


def test_first_start_converts_the_causal_lm_on_the_page_and_reruns_use_it(app_page, monkeypatch, tmp_path):
    """With no converted cache, the page converts the GGUF file (with a progress bar) outside the
    cached loader; the next script run gets the same model object from the cache, no error."""
    from explorer import models
    from explorer.models import cache as model_cache

    monkeypatch.setenv("SSL_EXPLORER_CACHE", str(tmp_path))
    model_cache.SHARED.clear()
    try:
        at = app_page(PAGE, timeout=600)
        assert models.cache_ok(models.smollm2_cache_path()) and tmp_path in models.smollm2_cache_path().parents
        first = model_cache.SHARED.get("clm", None)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert model_cache.SHARED.get("clm", None) is first
        assert bars(at)["labels"]  # the next-token chart is drawn
    finally:
        model_cache.SHARED.clear()  # later tests load from the usual cache again
