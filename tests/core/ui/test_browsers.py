"""What the server keeps per browser (explorer.ui.browser_store), the run's end messages and the one-run-at-a-time
rule (explorer.training.live), the evaluation at a run's last step, and a live chart redrawn once its
last point is evaluated (explorer.ui.live_run.figures)."""

from __future__ import annotations

import threading

from explorer import training
from explorer.training import live
from explorer.ui.browser_store import Browsers


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Busy:
    active = True


def test_values_are_kept_per_browser_and_shared_by_its_sessions():
    b = Browsers()
    b.touch("alice", "tab1")
    b.put("alice", "run", 1)
    b.touch("alice", "tab2")  # a reload or a second tab: another session, the same browser
    assert b.get("alice", "run") == 1 and b.get("bob", "run") is None
    assert b.setdefault("alice", "score", list) is b.setdefault("alice", "score", list)
    b.put("alice", "run", None)
    assert "run" not in b.values("alice")


def test_a_browser_gone_for_the_forget_time_is_forgotten_unless_a_run_trains():
    clock, there = Clock(), {"tab": True}
    b = Browsers(forget_seconds=60, clock=clock)
    b.touch("alice", "tab", lambda: there["tab"])
    b.put("alice", "run", 1)
    b.touch("carol", "tab", lambda: there["tab"])
    b.put("carol", "run", Busy())
    there["tab"] = False  # every tab closed
    assert not b.connected("alice")
    b.sweep()
    clock.now += 59
    b.sweep()
    assert b.get("alice", "run") == 1  # a reload comes back well within the time
    clock.now += 2
    b.sweep()
    assert "alice" not in b and b.get("alice", "run") is None
    assert "carol" in b  # still training: kept (the run stops itself once abandoned)


def test_a_connected_session_keeps_its_browser():
    clock = Clock()
    b = Browsers(forget_seconds=10, clock=clock)
    b.touch("alice", "tab", lambda: True)
    b.put("alice", "score", 3)
    for _ in range(5):
        clock.now += 100
        b.sweep()
    assert b.connected("alice") and b.get("alice", "score") == 3


def _run(steps: int = 2000) -> training.Run:
    p = training.plan("scratch", steps=steps)
    return training.scratch_run("gpt", "tiny", training.corpus_text("shakespeare"), p)


def test_starting_a_run_pauses_the_participants_other_run_and_says_why():
    slots = training.TrainingSlots(1)
    first, second = _run(), _run(steps=5)
    live.start(first, slots=slots)
    while first.step < 2:
        assert first.active
    assert training.pause_others([first, second], keep=second) == [first]
    live.start(second, slots=slots, wait=0)  # the one slot is free again at once
    assert live.wait(second, timeout=120) and second.status == "done"
    assert not first.active and first.status == "stopped"
    kind, text = first.message
    assert kind == "info" and f"Stopped at step {first.step} of 2000: you started another training" in text
    assert second.message == ("success", "Finished: 5 steps of 5.")


def test_stop_says_it_was_pressed():
    run = _run()
    live.start(run, slots=training.TrainingSlots(1))
    while run.step < 1:
        assert run.active
    live.stop(run)
    assert live.wait(run, timeout=60)
    assert run.message[1].startswith(f"Stopped at step {run.step} of 2000: Stop was pressed.")


def test_a_run_is_evaluated_at_its_last_step():
    run = _run(steps=7)
    run.trainer.eval_every = 5
    assert training.train(run.trainer, 7) == "done"
    evaluated = [h["step"] for h in run.trainer.history if "eval_loss" in h]
    assert evaluated == [0, 5, 7]


def test_a_preparation_runs_in_the_thread_with_progress_and_stop_interrupts_it():
    run = _run(steps=5)
    release, seen = threading.Event(), []

    def prepare(progress, interrupt):
        for i in range(1000):
            progress(f"Preparing {i}", i / 1000)
            seen.append(run.status)
            release.wait(0.01)

    run.prepare = prepare
    live.start(run, slots=training.TrainingSlots(1))
    while len(seen) < 3:
        assert run.active
    assert run.status == "preparing" and run.preparing[0].startswith("Preparing")
    live.stop(run)
    assert live.wait(run, timeout=10) and run.status == "stopped" and run.step == 0
    assert run.message == (
        "info",
        "Stopped before the first step, while preparing: Stop was pressed. Start begins again.",
    )
    run.prepare = lambda progress, interrupt: progress("quick", 1.0)
    live.start(run, slots=training.TrainingSlots(1))
    assert live.wait(run, timeout=120) and run.status == "done" and run.prepare is None


def test_a_live_chart_is_made_again_once_its_last_step_is_evaluated():
    from explorer.ui.live_run import figures

    run = _run(steps=10)
    made = []
    run.trainer.history.append({"step": 1, "loss": 1.0, "tokens": 10})  # the step's entry, its evaluation to come
    figures(run, lambda: made.append(len(made)) or len(made))
    run.trainer.history[-1].update(eval_loss=0.9, seconds=0.1)  # evaluated: the chart's last point
    figures(run, lambda: made.append(len(made)) or len(made))
    assert made == [0, 1]
    figures(run, lambda: made.append(len(made)) or len(made))
    assert made == [0, 1]  # nothing new: the same figures
