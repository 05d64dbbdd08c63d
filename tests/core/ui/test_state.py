from __future__ import annotations

from explorer.ui.state import encode_query, parse_query

DEFAULTS = {"text": "The dog barked.", "k": 10, "temp": 1.0, "masked": [2], "chat": False, "model": "a"}
LIMITS = {"k": (1, 50), "temp": (0.0, 2.0), "model": ["a", "b"], "masked": (0, 511)}


def test_round_trip_of_changed_values():
    values = {"text": "Hello there", "k": 5, "temp": 0.7, "masked": [1, 3], "chat": True, "model": "b"}
    params = encode_query(values, DEFAULTS)
    assert params == {"text": "Hello there", "k": "5", "temp": "0.7", "masked": "1,3", "chat": "1", "model": "b"}
    back, problems = parse_query(params, DEFAULTS, LIMITS)
    assert back == values and problems == []


def test_defaults_are_not_written_to_the_url():
    assert encode_query(dict(DEFAULTS), DEFAULTS) == {}


def test_tampered_values_fall_back_with_a_message():
    bad = {
        "k": "999",
        "temp": "nan",
        "masked": "1,x",
        "chat": "maybe",
        "model": "evil",
        "text": "x" * 5000,
        "unknown": "1",
    }
    values, problems = parse_query(bad, DEFAULTS, LIMITS)
    assert values == {}
    assert len(problems) == 6
    assert all("default was used" in p for p in problems)


def test_messages_speak_to_a_reader_not_in_python_errors():
    values, problems = parse_query(
        {"k": "abc", "t": "nan", "ids": "1,two", "n": "-3", "x": "<b>9</b>" * 5},
        {"k": 1, "t": 1.0, "ids": [0], "n": 2, "x": 3},
        {"n": (0, 5)},
    )
    assert values == {}
    text = " ".join(problems)
    assert "'abc' is not a whole number" in text and "'nan' is not a finite number" in text
    assert "'two' is not a whole number" in text and "-3 is outside 0–5" in text
    assert "invalid literal" not in text and "could not convert" not in text
    assert "<b>" not in text  # what the link held is not echoed as markup
