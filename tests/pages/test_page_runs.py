"""AppTest: runs and quiz scores belong to the browser, not the session (a reload or a second tab is a new
session of the same browser: it finds them again); a participant's new run pauses their other one; DPO's
reference scoring happens in the run's own thread (Start returns at once, Stop works, another page does
not cancel it); the DPO sentence and chart agree on the last step; presenter mode and Home's links; the
start buttons' labels."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from app import ROOT
from explorer import forward_cache, training
from explorer.training import dpo, pair_scores
from tests.figures import figures

ALICE, BOB = "alice-browser-0000000001", "bob-browser-00000000002"


@pytest.fixture(autouse=True)
def _own_slots(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(2))


def tab(page: str, browser: str, **state) -> AppTest:
    """A new session of `browser` (a reload, or another tab) with `page` open."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["browser_id"] = browser
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page != "pages/home.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def said(at: AppTest) -> str:
    return " ".join([x.value for x in (*at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.error)])


def wait_for(check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_reload_or_a_second_tab_finds_the_run_and_can_stop_it():
    at = tab("pages/training.py", ALICE)
    at.selectbox(key="train_steps").set_value(2000).run()
    at.button(key="train_start").click().run()
    run = at.session_state["training_run"]
    wait_for(lambda: run.step >= 2)
    again = tab("pages/training.py", ALICE)  # the page reloaded
    assert again.session_state["training_run"] is run
    start = again.button(key="train_start")
    assert start.label == "Training…" and start.disabled and not again.button(key="train_stop").disabled
    assert any(t.get("name", "").startswith("train loss") for f in figures(again) for t in f["data"])
    other = tab("pages/training.py", BOB)  # someone else's browser: nothing of Alice's
    assert other.session_state["training_run"] is None and other.button(key="train_start").label == "Start training"
    again.button(key="train_stop").click().run()
    assert not run.active
    at.run()  # the first tab: stopped, and says why
    assert at.button(key="train_start").label == f"Resume (step {run.step} of 2000)"
    assert f"Stopped at step {run.step} of 2000: Stop was pressed." in said(at)


def test_a_new_run_pauses_the_participants_run_on_another_page_and_frees_its_slot(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(1))
    monkeypatch.setattr(training.limits, "SLOT_WAIT_SECONDS", 0.0)
    at = tab("pages/training.py", ALICE)
    at.selectbox(key="train_steps").set_value(2000).run()
    at.button(key="train_start").click().run()
    first = at.session_state["training_run"]
    wait_for(lambda: first.step >= 1)
    images = tab("pages/images.py", ALICE)  # another tab, after the first was forgotten there
    images.button(key="img_mae_start").click().run()
    mae = images.session_state["img_mae_run"]
    wait_for(lambda: mae.step >= 1 or not mae.active)
    assert mae.step >= 1 and mae.status in ("running", "done"), mae.message  # the one slot was freed for it
    assert not first.active and first.status == "stopped"
    at.run()
    assert f"Stopped at step {first.step} of 2000: you started another training ({mae.description})." in said(at)
    training.stop(mae)


@pytest.fixture
def slow_reference(monkeypatch, tmp_path):
    """Reference scoring that takes seconds (as SmolLM2's does), from an empty cache."""
    monkeypatch.setenv("SSL_EXPLORER_CACHE", str(tmp_path))
    forward_cache.clear_all()
    original = pair_scores.answer_log_probs

    def slow(model, batch):
        if not model.training:  # scoring, not a training step
            time.sleep(0.4)
        return original(model, batch)

    monkeypatch.setattr(pair_scores, "answer_log_probs", slow)
    yield
    forward_cache.clear_all()


def test_dpo_scores_the_pairs_in_the_runs_thread_another_page_does_not_cancel_it(tiny_clm_dir, slow_reference):
    at = tab("pages/alignment.py", ALICE, align_view="Train with DPO", model_id_clm=str(tiny_clm_dir))
    assert at.button(key="align_dpo_start").label == "Start DPO training"
    at.selectbox(key="align_steps").set_value(20).run()
    at.button(key="align_dpo_start").click().run()
    run = at.session_state["align_dpo_run"]
    assert run.active and not run.started  # Start came back before the scoring was done
    wait_for(lambda: run.preparing is not None)
    at.run()
    shown = [p.proto.text for p in at.get("progress")]
    assert any("Scoring the pairs with the reference model" in t for t in shown), shown
    assert not at.button(key="align_dpo_stop").disabled  # Stop works while it scores
    at.switch_page("pages/home.py").run()  # another page: the run goes on
    assert run.active
    wait_for(lambda: run.step >= 1, timeout=240)
    back = tab("pages/alignment.py", ALICE, align_view="Train with DPO", model_id_clm=str(tiny_clm_dir))
    assert back.session_state["align_dpo_run"] is run and back.button(key="align_dpo_start").label == "Training…"
    assert training.wait(run, timeout=300) and run.status == "done"


def test_stop_ends_dpo_while_it_scores_the_pairs_and_says_so(tiny_clm_dir, slow_reference):
    at = tab("pages/alignment.py", ALICE, align_view="Train with DPO", model_id_clm=str(tiny_clm_dir))
    at.button(key="align_dpo_start").click().run()
    run = at.session_state["align_dpo_run"]
    wait_for(lambda: run.preparing is not None)
    at.button(key="align_dpo_stop").click().run()
    assert training.wait(run, timeout=5) and run.status == "stopped" and run.step == 0
    at.run()
    assert "Stopped before the first step, while preparing: Stop was pressed." in said(at)
    assert at.button(key="align_dpo_start").label == "Start DPO training"


def test_the_dpo_sentence_and_chart_end_at_the_same_step(tiny_clm_dir, monkeypatch):
    """The chart was drawn while the last step's evaluation ran and never drawn again: its last held-out point
    was an earlier step's, the sentence the last step's."""
    original = dpo.DPOTask.evaluate

    def slow_evaluate(self, model, interrupt=None):
        time.sleep(0.8)
        return original(self, model, interrupt)

    monkeypatch.setattr(dpo.DPOTask, "evaluate", slow_evaluate)
    at = tab("pages/alignment.py", ALICE, align_view="Train with DPO", model_id_clm=str(tiny_clm_dir))
    at.selectbox(key="align_steps").set_value(20).run()
    at.selectbox(key="align_lr").set_value(1e-3).run()
    at.button(key="align_dpo_start").click().run()
    run = at.session_state["align_dpo_run"]
    while run.active:  # the page redraws the chart while it trains
        at.run()
        time.sleep(0.2)
    at.run()
    acc = next(t for f in figures(at) for t in f["data"] if t.get("name") == "accuracy, held-out pairs")
    last = run.trainer.history[-1]
    assert acc["x"][-1] == last["step"] == 20
    assert f"**{last['accuracy']:.0%}** after 20 steps" in said(at)
    assert acc["y"][-1] == pytest.approx(last["accuracy"])


def test_the_quiz_score_and_locked_answers_survive_a_reload(tiny_mlm_dir):
    at = tab("pages/lessons.py", ALICE, model_id_mlm=str(tiny_mlm_dir))
    at.sidebar.radio(key="lesson").set_value(1).run()  # the cloze lesson
    at.radio(key="quiz_02-cloze-1").set_value(1).run()  # right
    at.button(key="quiz_btn_02-cloze-1").click().run()
    assert at.sidebar.get("metric")[0].proto.body == "1 / 1"
    again = tab("pages/lessons.py", ALICE, model_id_mlm=str(tiny_mlm_dir), lesson=1)
    assert again.sidebar.get("metric")[0].proto.body == "1 / 1"
    assert again.radio(key="quiz_02-cloze-1").disabled and again.radio(key="quiz_02-cloze-1").value == 1
    assert tab("pages/lessons.py", BOB, model_id_mlm=str(tiny_mlm_dir)).sidebar.get("metric")[0].proto.body == "0 / 0"


def test_presenter_mode_comes_from_the_link_and_stays_in_it(app_page):
    at = app_page("pages/training.py", query={"presenter": "1"})
    assert at.query_params["presenter"] == "1"  # kept when the page writes its own inputs into the link
    home = app_page("pages/home.py", query={"presenter": "1"})
    assert home.toggle(key="presenter").value is True and home.query_params["presenter"] == "1"
    assert app_page("pages/home.py").toggle(key="presenter").value is False


def test_home_links_open_in_the_same_tab_and_keep_presenter_mode(app_page):
    plain = " ".join(m.value for m in app_page("pages/home.py").markdown)
    assert '<a href="alignment" target="_self">Alignment</a>' in plain
    assert '<a href="masked_lm" target="_self">Masked LM (cloze)</a>' in plain
    presenting = " ".join(m.value for m in app_page("pages/home.py", presenter=True).markdown)
    assert '<a href="alignment?presenter=1" target="_self">Alignment</a>' in presenting
    assert "](alignment)" not in presenting
