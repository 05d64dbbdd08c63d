"""The live-training page through AppTest: each mode trains from the page, Train more, Reset,
training goes on while the page is used, Stop and Resume, a run nobody watches pauses,, the shared model stays untouched, busy server and bad uploads."""

from __future__ import annotations

import ast
import contextlib
import json
import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

from app import ROOT
from explorer import training
from tests.figures import figures, in_place

RUN = "training_run"
PAGE = ROOT / "pages" / "training.py"


@pytest.fixture(autouse=True)
def _own_slots(monkeypatch):
    """Each test gets its own training slots (the default limit of 2)."""
    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(2))


def open_page(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page("pages/training.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def start(at: AppTest, steps: int, *, finish: bool = True) -> training.Run:
    """Press Start for `steps` steps; with `finish`, wait for the run's thread to end and redraw."""
    at.selectbox(key="train_steps").set_value(steps).run()
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = at.session_state[RUN]
    if finish:
        finish_run(at, run)
    return run


def finish_run(at: AppTest, run: training.Run) -> None:
    assert training.wait(run, timeout=300), "the run did not end"
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def wait_for_step(run: training.Run, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while run.step < step:
        assert run.active and time.monotonic() < deadline, (run.status, run.step)
        time.sleep(0.05)


def stopped(run: training.Run, timeout: float = 60) -> training.Run:
    """`run` once its thread has ended: Stop waits a second for it, a loaded machine (the suite's two
    workers) can take longer to finish the step in flight; a safety limit, not a speed check."""
    if run.thread is not None:
        run.thread.join(timeout)
    return run


def loss_chart(at: AppTest) -> dict:
    specs = figures(at)
    return next(s for s in specs if any(t.get("name", "").startswith("train loss") for t in s["data"]))


def loss_view(at: AppTest) -> str:
    """The live loss chart's view revision: the zoom a person made stays while it is the same."""
    (el,) = [e for e in in_place(at) if e.proto.id.endswith("train_loss_chart")]
    return json.loads(el.proto.json)["uirevisions"][0]


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t["name"] == name)


def page_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.subheader]
    return " ".join(parts)


def widget_keys(at: AppTest) -> set[str]:
    keys = set()
    for kind in ("radio", "selectbox", "text_area", "number_input", "slider"):
        keys |= {w.key for w in getattr(at, kind)}
    return keys


def _page_defaults() -> dict:
    tree = ast.parse(PAGE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DEFAULTS":
            return {ast.literal_eval(k): None for k in node.value.keys}
    raise AssertionError("no DEFAULTS dict in the page")


def test_every_default_is_a_widget_with_a_train_key():
    at = open_page()
    seen = widget_keys(at)
    at.radio(key="train_mode").set_value("continue").run()
    at.selectbox(key="train_corpus").set_value("paste").run()
    seen |= widget_keys(at)
    at.radio(key="train_mode").set_value("supervised").run()
    seen |= widget_keys(at)
    at.radio(key="train_task").set_value("sft").run()
    seen |= widget_keys(at)
    at.radio(key="train_mode").set_value("scratch").run()
    at.radio(key="train_arch").set_value("bert").run()
    seen |= widget_keys(at)
    missing = {f"train_{name}" for name in _page_defaults()} - seen
    assert not missing, missing


def test_scratch_run_draws_loss_curves_progress_and_samples():
    at = open_page()
    run = start(at, 20)
    assert run.step == 20 and run.status == "done" and not run.active
    spec = loss_chart(at)
    raw = trace(spec, "train loss (raw)")
    assert raw["x"] == list(range(1, 21)) and len(raw["y"]) == 20
    held = trace(spec, "held-out loss")
    assert held["x"][0] == 0 and held["y"][-1] < held["y"][0]
    assert abs(held["y"][0] - run.reference_loss) < 0.3  # starts near ln(vocabulary)
    assert "Step 20 of 20" in at.get("progress")[0].proto.text
    samples = next(d.value for d in at.dataframe if "probe" in d.value.columns)
    assert sorted(set(samples["step"])) == [0, 10, 20]
    assert "ln(vocabulary)" in json.dumps(spec["layout"])
    assert "Tokenizer: byte-level BPE" in page_text(at)


def test_smoothing_switch_changes_the_traces():
    at = open_page()
    start(at, 10)
    at.slider(key="train_smoothing").set_value(0.0).run()
    names = [t["name"] for t in loss_chart(at)["data"]]
    assert names == ["train loss", "held-out loss"]


def test_train_more_then_reset_to_the_original_weights():
    at = open_page()
    run = start(at, 10)
    first = {k: v.clone() for k, v in run.model.state_dict().items()}
    view = loss_view(at)
    assert at.button(key="train_start").label == "Train 10 more steps"
    at.button(key="train_start").click().run()
    finish_run(at, run)
    assert at.session_state[RUN] is run and run.step == 20
    assert len(trace(loss_chart(at), "train loss (raw)")["x"]) == 20
    # the chart is redrawn in place, and 10 more steps of the same run keep the viewer's zoom
    assert loss_view(at) == view and view.startswith("train_loss_chart/")
    at.button(key="train_reset").click().run()
    assert at.session_state[RUN] is None and "Reset" in page_text(at)
    again = start(at, 10)
    assert loss_view(at) != view  # a new run is shown whole
    # a new run from the same seed starts from the same initial weights: after the same 10 steps, equal
    assert all(torch.equal(again.model.state_dict()[k], first[k]) for k in first)


def test_training_runs_on_while_the_page_is_used_then_stop_keeps_it_and_resume_continues():
    at = open_page()
    run = start(at, 2000, finish=False)
    wait_for_step(run, 3)
    assert run.active and run.status == "running"
    at.slider(key="train_smoothing").set_value(0.0).run()  # any widget: the script reruns, training goes on
    at.radio(key="train_arch").set_value("bert").run()  # even another setup: this run trains on
    assert at.session_state[RUN] is run and run.active
    seen = run.step
    wait_for_step(run, seen + 3)
    assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    assert "press Stop, then Start" in page_text(at)
    at.radio(key="train_arch").set_value("gpt").run()

    at.button(key="train_stop").click().run()
    assert run.stop_event.is_set() and run.stop_reason == "Stop was pressed"
    assert not stopped(run).active and run.status == "stopped" and 3 < run.step < 2000
    stopped_at = run.step
    weights = {k: v.clone() for k, v in run.model.state_dict().items()}
    time.sleep(0.5)
    at.run()
    assert run.step == stopped_at and all(torch.equal(run.model.state_dict()[k], weights[k]) for k in weights)
    assert at.button(key="train_start").label == f"Resume (step {stopped_at} of 2000)"
    assert len(trace(loss_chart(at), "train loss")["x"]) == stopped_at  # smoothing is off now
    assert run.trainer.samples[-1][0] == stopped_at  # what the model says where it stopped

    at.button(key="train_start").click().run()
    wait_for_step(run, stopped_at + 2)
    at.button(key="train_stop").click().run()
    assert not stopped(run).active and run.step > stopped_at


def test_a_run_whose_browser_session_has_gone_pauses_itself(monkeypatch):
    from explorer import ui

    monkeypatch.setattr(training.live, "ABANDONED_SECONDS", 0.5)
    session = {"there": True}
    monkeypatch.setattr(ui, "session_alive", lambda: lambda: session["there"])
    at = open_page()
    run = start(at, 2000, finish=False)
    wait_for_step(run, 3)
    time.sleep(1.0)  # no page redraws it, but the session is there: it trains on
    assert run.active
    session["there"] = False  # the tab is closed
    assert training.wait(run, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert run.status == "stopped" and run.step < 2000
    at.run()
    assert "the page was closed" in page_text(at)
    assert at.button(key="train_start").label == f"Resume (step {run.step} of 2000)"


@contextlib.contextmanager
def every_slot_taken():
    """Both training slots of the server are in use for the block."""
    slots = training.limits.SLOTS
    for _ in range(slots.limit):
        assert slots.acquire()
    try:
        yield slots
    finally:
        for _ in range(slots.limit):
            slots.release()


def test_busy_server_says_please_wait(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOT_WAIT_SECONDS", 0.0)
    at = open_page()
    with every_slot_taken():
        run = start(at, 10)
    text = page_text(at)
    assert "The server is busy: 2 trainings are already running" in text and "Please wait" in text
    assert run.step == 0 and not run.active
    assert at.button(key="train_start").label == "Resume (step 0 of 10)"
    at.button(key="train_start").click().run()  # a slot is free now
    finish_run(at, run)
    assert at.session_state[RUN].step == 10


def test_a_waiting_run_shows_why_and_starts_when_a_slot_frees(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOT_WAIT_SECONDS", 60.0)
    at = open_page()
    with every_slot_taken():
        run = start(at, 10, finish=False)
        assert run.status == "waiting" and run.active
        deadline = time.monotonic() + 10
        while run.message is None and time.monotonic() < deadline:
            time.sleep(0.05)
        at.run()
        assert "Please wait: 2 of 2 training slots on this server are in use" in " ".join(i.value for i in at.info)
        assert run.step == 0
    finish_run(at, run)  # the slots are free now
    assert run.status == "done" and run.step == 10


def test_continue_mlm_from_the_page_leaves_the_cached_model_bit_identical(tiny_mlm_dir):
    from explorer.models import cache as model_cache

    shared = model_cache.SHARED.get("mlm", str(tiny_mlm_dir))
    before = {k: v.clone() for k, v in shared.model.state_dict().items()}
    at = open_page(model_id_mlm=str(tiny_mlm_dir))
    at.radio(key="train_mode").set_value("continue").run()
    at.selectbox(key="train_corpus").set_value("simple").run()
    at.selectbox(key="train_lr").set_value(1e-3).run()
    run = start(at, 10)
    assert run.mode == "continue" and run.step == 10
    assert model_cache.SHARED.get("mlm", str(tiny_mlm_dir)) is shared
    assert all(torch.equal(shared.model.state_dict()[k], before[k]) for k in before)
    assert not all(torch.equal(run.model.state_dict()[k], before[k]) for k in before)
    table = next(t.value for t in at.table if "before" in t.value.columns)
    assert list(table.index) == [
        "The sky is [MASK].",
        "Fair is foul, and foul is [MASK].",
        "The dog [MASK] at the cat.",
    ]
    assert list(table.columns) == ["before", "after"]
    assert run.trainer.last("eval_loss") < run.trainer.history[0]["eval_loss"]


def test_classification_from_the_page_shows_held_out_accuracy(tiny_mlm_dir):
    at = open_page(model_id_encoder=str(tiny_mlm_dir))
    at.radio(key="train_mode").set_value("supervised").run()
    assert "150 examples: 75 positive, 75 negative." in page_text(at)
    run = start(at, 10)
    assert run.mode == "classify" and run.step == 10
    assert "Held-out accuracy" in page_text(at) and "30 examples the model never trained on" in page_text(at)
    assert "held-out accuracy" in [t["name"] for t in loss_chart(at)["data"]]
    probs = next(d.value for d in at.dataframe if "sentence" in d.value.columns)
    assert list(probs.columns) == ["sentence", "negative", "positive"]
    assert probs[["negative", "positive"]].sum(axis=1).round(3).eq(1.0).all()


def test_sft_from_the_page_shows_label_strip_and_before_after(tiny_clm_dir):
    at = open_page(model_id_clm=str(tiny_clm_dir))
    at.radio(key="train_mode").set_value("supervised").run()
    at.radio(key="train_task").set_value("sft").run()
    assert "Which tokens count in the loss" in page_text(at)
    table = next(d.value for d in at.dataframe if "SFT label" in d.value.columns)
    prompt_rows = table[table["part"] == "prompt"]
    assert len(prompt_rows) > 10 and (prompt_rows["SFT label"] == -100).all()
    assert (table[table["part"] == "response"]["SFT label"] != -100).all()
    at.selectbox(key="train_lr").set_value(1e-3).run()
    run = start(at, 10)
    assert run.mode == "sft" and run.step == 10
    ba = next(t.value for t in at.table if "after" in t.value.columns)
    assert list(ba.index) == ["What is a rainbow?", "Why do birds fly?"]


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("notes.txt", b"", "is empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + bytes(200), "binary"),
        ("short.txt", b"Just a line.", "only 12 characters"),
    ],
)
def test_bad_text_uploads_get_a_message_not_a_traceback(name, data, message):
    at = open_page()
    at.selectbox(key="train_corpus").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value((name, data, "text/plain")).run()
    assert not at.exception
    assert message in page_text(at)
    at.button(key="train_start").click().run()
    assert at.session_state[RUN] is None and "Nothing to train on yet" in page_text(at)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"sentence,category\nhello,a\n", "needs the columns text and label"),
        (b"text,label\n" + b"\n".join(f"row {i},pos".encode() for i in range(10)), "at least two classes"),
    ],
)
def test_bad_csv_uploads_get_a_message(data, message):
    at = open_page()
    at.radio(key="train_mode").set_value("supervised").run()
    at.radio(key="train_data").set_value("upload").run()
    at.file_uploader(key="train_upload_classify").set_value(("data.csv", data, "text/csv")).run()
    assert not at.exception
    assert message in page_text(at)


def test_uploaded_text_trains_from_scratch():
    at = open_page()
    at.selectbox(key="train_corpus").set_value("upload").run()
    text = training.corpus_text("simple")[:20_000].encode()
    at.file_uploader(key="train_upload").set_value(("stories.txt", text, "text/plain")).run()
    n = len(training.training_text(text.decode())[0])
    assert f"{n:,} characters of text." in page_text(at)
    run = start(at, 10)
    assert run.step == 10 and "stories.txt" in run.description


def test_a_link_opens_the_same_training_setup(app_page):
    at = app_page(
        "pages/training.py",
        query={"train_mode": "supervised", "train_task": "sft", "train_seed": "7", "train_arch": "not-an-architecture"},
    )
    assert at.radio(key="train_mode").value == "supervised"
    assert at.radio(key="train_task").value == "sft"
    assert at.number_input(key="train_seed").value == 7
    assert any("train_arch" in w.value for w in at.warning)
