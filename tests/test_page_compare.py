"""AppTest flows of the masked-vs-causal page (tiny masked LM, the real causal LM)."""

from __future__ import annotations

import pytest

from tests.figures import drawn, figures, in_place


@pytest.fixture()
def at(app_page, tiny_mlm_dir):
    return app_page("pages/compare.py", model_id_mlm=str(tiny_mlm_dir))


def test_default_sentence_side_by_side(at):
    charts = figures(at)
    assert len(charts) == 6  # two top-k, strip, gain, two masks
    (bars,) = in_place(at)  # the two top-k charts: one element, redrawn in place together
    assert bars.proto.id.endswith("cmp_bars") and len(drawn(bars)) == 2
    subs = [s.value for s in at.subheader]
    assert subs == ["Masked LM — sees both sides", "Causal LM — sees the left only"]
    seen = " ".join(m.value for m in at.markdown)
    assert "The dog ___ at the mailman." in seen and "`The dog ___`" in seen


def test_preset_with_blank_and_word_choice(at):
    at.selectbox(key="cmp_preset").set_value("The ___ barked at the mailman.").run()
    assert not at.exception
    assert at.pills(key="cmp_word").value == 1
    assert any("no answer" in i.value for i in at.info)
    at.pills(key="cmp_word").set_value(2).run()
    assert not at.exception and (at.success or at.warning)


def test_an_example_can_be_picked_again_after_an_edit(at):
    example = "I went to the bank to deposit my paycheck."
    at.selectbox(key="cmp_preset").set_value(example).run()
    assert at.text_input(key="cmp_text").value == example and at.selectbox(key="cmp_preset").value is None
    at.text_input(key="cmp_text").set_value("I went to the shop.").run()
    at.selectbox(key="cmp_preset").set_value(example).run()
    assert not at.exception
    assert at.text_input(key="cmp_text").value == example and at.pills(key="cmp_word").value == 4


def test_empty_and_odd_text_never_crash(at):
    at.text_input(key="cmp_text").set_value("").run()
    assert not at.exception and "empty" in at.error[0].value
    at.text_input(key="cmp_text").set_value("Ünïcödé 🤖 日本語 ___ !").run()
    assert not at.exception


def test_link_state_is_applied_and_tampering_handled(tiny_mlm_dir, app_page):
    at = app_page("pages/compare.py", model_id_mlm=str(tiny_mlm_dir),
                  query={"cmp_text": "She poured a glass of cold milk.", "cmp_word": "999999"})
    assert at.text_input(key="cmp_text").value == "She poured a glass of cold milk."
    assert any("cmp_word" in w.value for w in at.warning)


def test_clicking_the_chosen_word_off_then_typing_keeps_the_page_working(at):
    at.pills(key="cmp_word").set_value(None).run()  # the selected pill clicked again
    assert not at.exception and any("Click a word above" in i.value for i in at.info)
    for text in ("A new sentence here.", "   ", "Another one, longer than the first."):
        at.text_input(key="cmp_text").set_value(text).run()
        assert not at.exception, text
    at.pills(key="cmp_word").set_value(1).run()
    assert not at.exception and len(figures(at)) >= 2


def test_candidates_shown_keeps_its_value_after_an_empty_sentence(tiny_mlm_dir, tiny_clm_dir):
    """Fuzzing regression: the slider remounted at its minimum (3) while the page kept 8."""
    from tests.fuzz_support import FuzzSession

    s = FuzzSession("pages/compare.py", {"model_id_mlm": str(tiny_mlm_dir), "model_id_clm": str(tiny_clm_dir)})
    s.set("cmp_text", "")
    assert "empty" in s.at.error[0].value and not s.at.get("slider")
    s.set("cmp_text", "The dog barked at the mailman.")
    assert s.value_shown("cmp_k") == [8.0]
    s.set("cmp_word", "barked")
    assert s.at.session_state["cmp_k"] == 8 and "cmp_k" not in s.at.query_params
    bars = figures(s.at)[:2]  # masked LM, causal LM
    assert [len(b["data"][0]["y"]) for b in bars] == [8, 8]
