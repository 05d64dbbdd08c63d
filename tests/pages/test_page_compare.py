"""AppTest flows of the masked-vs-causal page (tiny masked LM, the real causal LM)."""

from __future__ import annotations

import pytest

from tests.figures import drawn, figures, in_place_at


@pytest.fixture()
def at(app_page, tiny_mlm_dir):
    return app_page("pages/compare.py", model_id_mlm=str(tiny_mlm_dir))


def test_default_sentence_side_by_side(at):
    charts = figures(at)
    assert len(charts) == 6  # two top-k, strip, gain, two masks
    bars = in_place_at(at, "cmp_bars")  # the two top-k charts: one element, redrawn in place together
    assert len(drawn(bars)) == 2
    subs = [s.value for s in at.subheader]
    assert subs == ["Masked LM — sees both sides", "Causal LM — sees the left only"]
    seen = " ".join(m.value for m in at.markdown)
    assert "The ___ barked at the mailman." in seen and "`The ___`" in seen  # the default hides "dog"
    assert any("What this example shows" in c.value for c in at.caption)


def test_the_bars_are_whole_words_and_the_verdict_is_on_the_whole_word(at):
    at.pills(key="cmp_word").set_value(2).run()  # "barked": ␣bark + ed for the causal LM's tokenizer
    left, right = drawn(in_place_at(at, "cmp_bars"))
    for fig in (left, right):
        labels = [y.strip() for y in fig["data"][0]["y"]]
        assert any(lab.startswith("barked") for lab in labels)  # the hidden word's bar is always there
        assert all("␣" not in lab and "##" not in lab for lab in labels)  # words, not pieces
    verdicts = [m.value for m in at.success] + [m.value for m in at.warning]
    assert len(verdicts) == 2 and all("**barked**" in v for v in verdicts)


def test_the_piece_view_is_one_click_away_and_highlights_by_token_id(at):
    at.pills(key="cmp_word").set_value(2).run()
    at.toggle(key="cmp_pieces").set_value(True).run()
    assert not at.exception
    left, right = drawn(in_place_at(at, "cmp_bars"))
    assert left["layout"]["title"]["text"] == "First piece"
    assert any("First piece" in c.value for c in at.caption)
    for fig in (left, right):  # the highlighted bar, if any, is the first piece's own token
        colours = fig["data"][0]["marker"]["color"]
        assert len(set(colours)) <= 2


def test_a_typed_blank_is_the_hidden_word(at):
    at.text_input(key="cmp_text").set_value("I put the ice cream in the ___ so it would not melt.").run()
    assert not at.exception
    assert not at.get("button_group")  # no word to click: the blank is the one hidden
    assert at.session_state["cmp_word"] == 7
    assert any("no answer" in i.value for i in at.info)
    seen = " ".join(m.value for m in at.markdown)
    assert (
        "`I put the ice cream in the ___ so it would not melt.`" in seen and "`I put the ice cream in the ___`" in seen
    )
    at.text_input(key="cmp_text").set_value("The ___ barked at the ___.").run()
    assert not at.exception and "One blank at a time" in at.error[0].value


def test_an_example_can_be_picked_again_after_an_edit(at):
    from explorer import examples

    first, second = examples.presets("compare")[:2]
    at.selectbox(key="cmp_preset").set_value(second["name"]).run()
    assert at.text_input(key="cmp_text").value == second["text"]
    assert at.selectbox(key="cmp_preset").value == second["name"]
    at.text_input(key="cmp_text").set_value("I went to the shop.").run()
    assert at.selectbox(key="cmp_preset").value is None  # an edited text is no longer the example
    at.selectbox(key="cmp_preset").set_value(second["name"]).run()
    assert not at.exception
    assert at.text_input(key="cmp_text").value == second["text"]
    assert at.pills(key="cmp_word").value == compare_index(second)


def compare_index(example) -> int:
    from explorer.comparisons.sentence import word_index

    return word_index(example["text"], example["word"])


def test_empty_and_odd_text_never_crash(at):
    at.text_input(key="cmp_text").set_value("").run()
    assert not at.exception and "empty" in at.error[0].value
    at.text_input(key="cmp_text").set_value("Ünïcödé 🤖 日本語 ___ !").run()
    assert not at.exception


def test_link_state_is_applied_and_tampering_handled(tiny_mlm_dir, app_page):
    at = app_page(
        "pages/compare.py",
        model_id_mlm=str(tiny_mlm_dir),
        query={"cmp_text": "She poured a glass of cold milk.", "cmp_word": "999999"},
    )
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
    bars = figures(s.at)[:2]  # masked LM, causal LM: up to 8 words, and the hidden word's bar if below them
    assert all(3 <= len(b["data"][0]["y"]) <= 9 for b in bars)
