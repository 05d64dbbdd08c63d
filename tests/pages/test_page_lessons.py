"""AppTest: every lesson renders with its live widget; quizzes give feedback and keep the score."""

from __future__ import annotations

import pytest

from explorer.lessons import load_lessons

LESSONS, _ = load_lessons()


@pytest.fixture()
def at(app_page, tiny_mlm_dir):
    return app_page("pages/lessons.py", model_id_mlm=str(tiny_mlm_dir))


def test_every_lesson_renders_with_its_widget(at):
    for i, lesson in enumerate(LESSONS):
        at.sidebar.radio(key="lesson").set_value(i).run()
        assert not at.exception, lesson.slug
        assert at.title[0].value == lesson.title
        assert not at.error, [e.value for e in at.error]
        if lesson.widget in ("fill_mask", "next_token", "compare", "contrastive"):
            assert at.get("plotly_chart"), lesson.slug
        if lesson.widget == "span":
            assert any("Corrupted input" in h.proto.body for h in at.get("html"))


def test_next_button_moves_on(at):
    at.button(key="lesson_next").click().run()
    assert at.title[0].value == LESSONS[1].title


def test_choice_quiz_feedback_and_score(at):
    at.sidebar.radio(key="lesson").set_value(1).run()  # the cloze lesson
    at.radio(key="quiz_02-cloze-0").set_value(0).run()  # wrong
    at.button(key="quiz_btn_02-cloze-0").click().run()
    assert at.error and "Not quite" in at.error[0].value
    at.radio(key="quiz_02-cloze-1").set_value(1).run()  # right
    at.button(key="quiz_btn_02-cloze-1").click().run()
    assert any("Right" in s.value for s in at.success)
    assert at.sidebar.get("metric")[0].proto.body == "1 / 2"


def test_predict_quiz_reveals_the_model_answer(at):
    at.sidebar.radio(key="lesson").set_value(2).run()  # next-token lesson, real SmolLM2
    at.radio(key="quiz_03-next-token-2").set_value(0).run()  # guess "Paris"
    at.button(key="quiz_btn_03-next-token-2").click().run()
    assert not at.exception
    assert any("top answer is “␣Paris”" in s.value for s in at.success)


def test_an_answer_is_locked_with_its_feedback_even_after_coming_back(tiny_mlm_dir):
    """Regression: after a wrong answer the radio could be changed to the right one and showed 'Right.'
    (the score kept the first answer); the feedback was gone after visiting another lesson."""
    from tests.fuzz_support import FuzzSession

    s = FuzzSession("pages/lessons.py", {"model_id_mlm": str(tiny_mlm_dir)})
    s.set("lesson", LESSONS[1].title)  # the cloze lesson
    q = LESSONS[1].questions[0]
    wrong = next(j for j in range(len(q.options)) if j != q.answer)
    s.set("quiz_02-cloze-0", q.options[wrong])
    s.click("quiz_btn_02-cloze-0")
    radio = s.widget("quiz_02-cloze-0")
    assert radio.proto.disabled and radio.value == wrong
    assert [e.value for e in s.at.error] == [f"Not quite. {q.why}"]
    s.set(radio, q.options[q.answer])  # a forged change of the locked radio is ignored
    assert s.widget("quiz_02-cloze-0").value == wrong and not s.at.success
    assert "Not quite" in s.at.error[0].value and s.at.sidebar.get("metric")[0].proto.body == "0 / 1"
    s.set("lesson", LESSONS[2].title)
    s.set("lesson", LESSONS[1].title)  # back: the answer and its feedback are still there
    radio = s.widget("quiz_02-cloze-0")
    assert radio.proto.disabled and s.value_shown("quiz_02-cloze-0") == q.options[wrong]
    assert [e.value for e in s.at.error] == [f"Not quite. {q.why}"]
    assert not any(b.key == "quiz_btn_02-cloze-0" for b in s.at.button)
    assert s.at.sidebar.get("metric")[0].proto.body == "0 / 1"


@pytest.mark.parametrize("value", ["99", "-3", str(len(LESSONS))])
def test_a_lesson_number_past_the_lessons_warns_like_a_negative_one(app_page, tiny_mlm_dir, value):
    at = app_page("pages/lessons.py", model_id_mlm=str(tiny_mlm_dir), query={"lesson": value})
    assert at.title[0].value == LESSONS[0].title
    warning = " ".join(w.value for w in at.warning)
    assert f"{value} is outside 0–{len(LESSONS) - 1}" in warning and "the default was used" in warning


def test_the_next_token_lesson_has_the_temperature_it_asks_for(app_page, tiny_clm_dir):
    at = app_page("pages/lessons.py", model_id_clm=str(tiny_clm_dir), query={"lesson": "2"})
    lesson = LESSONS[2]
    assert lesson.widget == "next_token" and any("temperature" in t.lower() for t in lesson.tries)
    slider = at.slider(key=f"lw_{lesson.slug}_temperature")

    def top_share() -> float:
        bars = at.get("plotly_chart")[0].proto.spec
        import json

        return max(json.loads(bars)["data"][0]["x"])

    at1 = top_share()
    slider.set_value(2.0).run()
    hot = top_share()
    at.slider(key=f"lw_{lesson.slug}_temperature").set_value(0.3).run()
    cold = top_share()
    assert cold > at1 > hot  # lower sharpens, higher flattens: the most likely token's share
    assert "At temperature 0.3 the top 10 hold" in " ".join(c.value for c in at.caption)
    assert not at.exception
