"""The "Why?" view (token attribution) on the Masked LM, Causal LM and Masked vs causal pages (AppTest,
the real offline models): the strip is drawn with one value per token, the method, the word explained and
the word it is compared with change it, and bad choices give a message, not a traceback."""

from __future__ import annotations

import re

from explorer import inside


def strips(at) -> list[str]:
    return [h.proto.body for h in at.get("html") if "attribution-strip" in h.proto.body]


def credits(body: str) -> dict[str, float]:
    """Token -> credit, read back from the strip's tooltips."""
    return {m[0]: float(m[1]) for m in re.findall(r'title="([^"]*?): ([+-]\d+\.\d+)', body)}


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_masked_lm_page_explains_a_blank_with_every_method(app_page):
    at = app_page("pages/masked_lm.py")
    assert not strips(at)  # nothing computed until the view is opened
    at.toggle(key="mlm_why_on").set_value(True).run()
    assert not at.exception
    (body,) = strips(at)
    assert len(credits(body)) >= 4
    assert "Explained: log p(" in captions(at) and "convergence delta" in captions(at)
    for method in (inside.GRADIENT, inside.ATTENTION):
        at.selectbox(key="mlm_why_method").set_value(method).run()
        assert not at.exception and strips(at)
    values = credits(strips(at)[0])
    assert all(v >= 0 for v in values.values())  # attention × gradient: how much, never which way
    second = at.selectbox(key="mlm_why_contrast").options[1]
    at.selectbox(key="mlm_why_contrast").set_value(second).run()
    assert not at.exception and "− log p(" in captions(at)


def test_causal_lm_page_explains_the_next_token(app_page):
    at = app_page("pages/causal_lm.py")
    at.toggle(key="clm_why_on").set_value(True).run()
    at.selectbox(key="clm_why_method").set_value(inside.GRADIENT).run()
    assert not at.exception
    (body,) = strips(at)
    assert "next ?" in body and len(credits(body)) >= 2


def test_compare_page_shows_both_models_and_the_causal_side_gets_nothing_after_the_blank(app_page):
    at = app_page("pages/compare.py")
    at.pills(key="cmp_word").set_value(2).run()  # "barked"
    at.toggle(key="cmp_why_on").set_value(True).run()
    at.selectbox(key="cmp_why_method").set_value(inside.GRADIENT).run()
    assert not at.exception
    masked, causal = strips(at)
    words = ["at", "the", "mailman"]
    right_causal = [credits(causal).get(w) for w in ("at", "mailman")]
    assert right_causal == [0.0, 0.0]
    assert any(credits(masked).get(w) not in (None, 0.0) for w in words)
    assert "never read them" in captions(at)


def test_a_typed_blank_with_no_answer_is_explained_by_the_top_guess(app_page):
    at = app_page("pages/masked_lm.py", mlm_text="The cat sat on the <mask> all afternoon.", mlm_masked=[])
    at.toggle(key="mlm_why_on").set_value(True).run()
    at.selectbox(key="mlm_why_method").set_value(inside.GRADIENT).run()
    assert not at.exception
    (body,) = strips(at)
    assert "afternoon" in body and len(credits(body)) >= 6


def test_a_text_of_one_word_gets_a_message_not_a_traceback(app_page):
    at = app_page("pages/masked_lm.py", mlm_text="Hello", mlm_masked=[1], mlm_whole_word=False)
    at.toggle(key="mlm_why_on").set_value(True).run()
    assert not at.exception and not strips(at)
    assert any("nothing in the text but the blank" in e.value for e in at.error)


def test_any_token_of_a_teacher_forced_text_can_be_explained(app_page):
    at = app_page("pages/causal_lm.py", clm_tf_text="The cat sat on the mat because it was warm.")
    at.toggle(key="clm_tf_why_on").set_value(True).run()
    at.selectbox(key="clm_tf_why_token").set_value(2).run()  # the third token, "sat", from "The cat"
    at.selectbox(key="clm_tf_why_method").set_value(inside.GRADIENT).run()
    assert not at.exception
    (body,) = strips(at)
    assert "the word explained: ␣sat (the text&#x27;s)" in body  # escaped, as every label
    after = re.findall(r'title="[^"]*?: ([+-]\d+\.\d+) \(after the blank: a causal LM cannot see it\)"', body)
    assert len(after) >= 6 and all(float(v) == 0.0 for v in after)  # nothing to the right of the token
    assert any(v != 0.0 for v in credits(body).values())
