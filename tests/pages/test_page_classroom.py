"""The class's answers on the Lessons page's quiz (AppTest, two participants = two sessions with their own
browser ids, one SQLite room in a temporary folder): each answer stored once, each participant sees theirs
against the room's, the projector shows the room's answers before anyone has answered, and a room whose
database is down is said, not raised."""

from __future__ import annotations

import pytest

from explorer import classroom
from explorer.lessons import load_lessons
from tests.figures import drawn, in_place_at

LESSONS, _ = load_lessons()
QID = "02-cloze-0"
QUESTION = next(lesson for lesson in LESSONS if lesson.slug == "02-cloze").questions[0]


@pytest.fixture()
def room_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'room.sqlite3'}"
    monkeypatch.setenv(classroom.ENV, url)
    return url


def participant(app_page, tiny_mlm_dir, browser: str, **state):
    return app_page("pages/lessons.py", model_id_mlm=str(tiny_mlm_dir), browser_id=browser * 16, lesson=1, **state)


def answer(at, option: int) -> None:
    at.radio(key=f"quiz_{QID}").set_value(option).run()
    at.button(key=f"quiz_btn_{QID}").click().run()
    assert not at.exception


def bars(at) -> dict[str, int]:
    (fig,) = drawn(in_place_at(at, f"class_{QID}"))
    return dict(zip(fig["data"][0]["y"], fig["data"][0]["x"]))


def test_two_participants_see_their_answers_against_the_rooms(app_page, tiny_mlm_dir, room_url):
    first, second = participant(app_page, tiny_mlm_dir, "a"), participant(app_page, tiny_mlm_dir, "b")
    answer(first, 0)
    assert bars(first)[QUESTION.options[0]] == 1
    answer(second, 0)
    counts = bars(second)
    assert counts[QUESTION.options[0]] == 2 and sum(counts.values()) == 2
    said = " ".join(c.value for c in second.caption)
    assert f"said “{QUESTION.options[0]}”, as did 1 other of the room's 2" in said
    second.run()  # a rerun stores nothing twice
    with classroom.Store(room_url) as s:
        assert s.results("class", QID) == {QUESTION.options[0]: 2}
        assert len(s.participants("class")) == 2


def test_the_projector_shows_the_rooms_answers_before_its_own(app_page, tiny_mlm_dir, room_url):
    student = participant(app_page, tiny_mlm_dir, "c")
    answer(student, 1)
    teacher = participant(app_page, tiny_mlm_dir, "t", presenter=True)
    assert not teacher.exception
    assert bars(teacher)[QUESTION.options[1]] == 1  # live: the teacher has not answered


def test_a_room_whose_database_is_down_is_said_and_the_quiz_still_works(app_page, tiny_mlm_dir, monkeypatch):
    monkeypatch.setenv(classroom.ENV, "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    at = participant(app_page, tiny_mlm_dir, "d")
    answer(at, 1)
    assert any("Right" in s.value or "Not quite" in s.value for s in list(at.success) + list(at.error))
    assert any("room is unavailable" in c.value for c in at.caption)
