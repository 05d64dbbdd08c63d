from __future__ import annotations

import shutil

import pytest

from explorer import ExplorerError
from explorer.lessons import ASSETS, Score, load_lesson, load_lessons, predict_verdict


def test_all_bundled_lessons_and_quizzes_load():
    lessons, problems = load_lessons()
    assert problems == []
    assert [lesson.slug[:2] for lesson in lessons] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"]
    assert {lesson.widget for lesson in lessons} >= {"fill_mask", "next_token", "compare", "span", "contrastive"}
    for lesson in lessons:
        assert lesson.title and lesson.body and lesson.questions
        for q in lesson.questions:
            if q.kind == "choice":
                assert 0 <= q.answer < len(q.options) and q.why


def test_malformed_lesson_gives_a_clear_message(tmp_path):
    shutil.copy(ASSETS / "lessons" / "02-cloze.md", tmp_path / "02-cloze.md")
    (tmp_path / "03-broken.md").write_text("+++\ntitle = 'Broken\nwidget = 'x'\n+++\nbody")
    (tmp_path / "04-nofront.md").write_text("# just markdown")
    (tmp_path / "05-badwidget.md").write_text("+++\ntitle = 'T'\nwidget = 'rocket'\n+++\nbody")
    lessons, problems = load_lessons(tmp_path, quiz_dir=tmp_path)
    assert [lesson.slug for lesson in lessons] == ["02-cloze"]
    assert len(problems) == 3
    assert any("not valid TOML" in p for p in problems)
    assert any("no front matter" in p for p in problems)
    assert any("unknown widget 'rocket'" in p for p in problems)


def test_malformed_quiz_is_reported(tmp_path):
    shutil.copy(ASSETS / "lessons" / "02-cloze.md", tmp_path / "02-cloze.md")
    (tmp_path / "02-cloze.toml").write_text("[[question]]\nprompt='Q'\noptions=['a','b']\nanswer=5\n")
    with pytest.raises(ExplorerError, match="answer"):
        load_lesson(tmp_path / "02-cloze.md", quiz_dir=tmp_path)


def test_score_counts_first_answers_only():
    s = Score()
    s.record("q1", True)
    s.record("q1", False)
    s.record("q2", False)
    assert (s.right, s.answered) == (1, 2)


def test_predict_verdict():
    assert predict_verdict("Paris", ["␣Paris", "␣the"]) == (True, 1)
    assert predict_verdict("water", ["milk", "water"]) == (True, 2)
    assert predict_verdict("car", ["milk", "water"]) == (False, None)


def test_nested_markdown_puts_a_card_under_the_page_headings():
    from explorer.lessons import nested_markdown

    card = "# Card\nintro\n## Part\n```\n# a comment in code\n```\n###### deep"
    out = nested_markdown(card, top=3).splitlines()
    assert out[0] == "### Card" and out[2] == "#### Part" and out[4] == "# a comment in code"
    assert out[-1] == "###### deep"  # never past level 6
    assert nested_markdown("no headings") == "no headings"


def test_the_models_page_card_title_is_smaller_than_its_section(app_page):
    at = app_page("pages/models.py")
    card = next(m.value for m in at.markdown if "SSL-Explorer SmolLM2-MLM" in m.value)
    assert card.startswith("### SSL-Explorer SmolLM2-MLM")
    assert not any(line.startswith(("# ", "## ")) for line in card.splitlines())
    assert any(h.value == "The offline models made for this app" for h in at.header)  # the section: an h2
    # the span LM is the third mask of the same weights, and its card is there too
    assert any("One set of weights, three masks" in m.value for m in at.markdown)
    span_card = [e for e in at.expander if "Model card: ssl-explorer-smollm2-span" in e.label]
    assert span_card and any("prefix LM" in m.value for m in span_card[0].markdown)
