"""The Live training page's "three stages on one model" mode: one tiny GPT pretrained from scratch,
then fine-tuned on prompt → response pairs, then aligned with DPO on preference pairs; each stage's
loss chart kept, and a table of what the model answers to the same probes after each stage."""

from __future__ import annotations

import streamlit as st

from explorer import training, ui
from explorer.browsers import BROWSERS
from explorer.charts import alignment as alignment_charts
from explorer.charts import training as charts
from explorer.training import preferences
from explorer.training.stages import DEFAULT_STEPS, STAGE_NAMES, STAGES, three_stages
from explorer.ui.browser import browser_id
from explorer.ui.live_run import LiveRun, curve

PIPELINE, RUN = "stages_pipeline", "stages_run"
DEFAULTS = {"stages_size": "tiny", "stages_corpus": "simple",
            "stages_probes": "What is the sun?\nWhy do dogs bark?\nWhat do bees make?"}
WHAT = {"pretrain": "predicts the next token of {corpus}: it learns words and grammar, not how to answer",
        "sft": "learns to answer prompts from 26 prompt → response pairs (Pip the robot, who starts with \"Beep boop!\")",
        "dpo": "learns from preference pairs which of two answers people prefer"}
START = {"pretrain": "Start pretraining", "sft": "Start supervised fine-tuning", "dpo": "Start DPO training"}


def _kept(name: str, default=None):
    """The pipeline's state, kept for the browser like its runs (a reload finds it), mirrored in session state."""
    value = BROWSERS.get(browser_id(), name, default)
    st.session_state[name] = value
    return value


def _keep(name: str, value) -> None:
    BROWSERS.put(browser_id(), name, value)
    st.session_state[name] = value


def _new_pipeline():
    text = training.corpus_text(st.session_state["stages_corpus"])
    probes = training.probe_lines(st.session_state["stages_probes"])
    return three_stages(st.session_state["stages_size"], text, training.sft_examples(), preferences.bundled_pairs(),
                        probes, seed=int(st.session_state.get("train_seed", 0)),
                        corpus_name=training.CORPORA[st.session_state["stages_corpus"]].title)


def draw(large: bool) -> None:
    for k, v in DEFAULTS.items():
        st.session_state.setdefault(k, v)
    st.caption("One tiny GPT goes through the three stages an assistant goes through: each stage starts from the "
               "model the stage before left. Each stage's chart stays, and the table shows what the model answers "
               "after each one.")
    c1, c2 = st.columns(2)
    c1.selectbox("Model size", ["tiny", "small"], format_func=lambda k: training.SIZES[k].label, key="stages_size")
    c2.selectbox("Pretraining text", list(training.CORPORA), format_func=lambda k: training.CORPORA[k].title,
                 key="stages_corpus")
    ui.limited_text("Probe prompts (one per line)", key="stages_probes", what="probes", height=90,
                    max_chars=training.MAX_PROBES * (training.MAX_FIELD_CHARS + 1))
    signature = (st.session_state["stages_size"], st.session_state["stages_corpus"], st.session_state["stages_probes"])
    pipe = _kept(PIPELINE)
    if pipe is not None and _kept("stages_signature") != signature:
        st.info("The settings have changed: **Start over** runs the three stages with the new ones.")
    slot = LiveRun(RUN, "stages")
    run = slot.run
    if pipe is not None and run is not None and not run.active and run.step > 0 and run.status in ("done", "stopped"):
        with ui.friendly_errors(), st.spinner("Asking the model the probes…"):
            pipe.finish(run.extra["stage"])  # a stage ends when its run does: the next starts from there
            slot.forget()
    stage = pipe.next_stage if pipe is not None else "pretrain"
    for done in STAGES:
        if pipe is not None and done in pipe.answers:
            _stage_chart(pipe.runs[done], done, large)
    if stage is not None:
        st.subheader(STAGE_NAMES[stage])
        st.caption("The model " + WHAT[stage].format(corpus=training.CORPORA[st.session_state["stages_corpus"]].title)
                   + f". {DEFAULT_STEPS[stage]} steps; **Stop** ends the stage where it is, and the next one starts "
                   "from there.")

        def _make() -> training.Run:
            nonlocal pipe
            if pipe is None or stage == "pretrain":
                pipe = _new_pipeline()
                _keep(PIPELINE, pipe)
                _keep("stages_signature", signature)
            made = pipe.new_run(stage)
            made.extra["stage"] = stage
            pipe.runs[stage] = made
            return made

        running = slot.controls((_kept("stages_epoch", 0), stage), _make, DEFAULT_STEPS[stage],
                                start_label=START[stage])
        slot.live(running, lambda r: _live_chart(r, stage, large))
    if pipe is not None and pipe.answers:
        st.subheader("What the model answers after each stage")
        st.table(pipe.table().set_index("probe"))
    if pipe is not None and st.button("Start over", key="stages_over"):
        slot.forget()
        _keep(PIPELINE, None)
        _keep("stages_epoch", _kept("stages_epoch", 0) + 1)
        st.rerun()


def _live_chart(r: training.Run, stage: str, large: bool) -> None:
    if stage == "dpo":
        curve(r, alignment_charts.preference_curves(r.trainer.history, target=r.target, large=large),
              key="stages_live_dpo")
    else:
        curve(r, charts.loss_curves(r.trainer.history, smoothing=0.6, reference=r.reference_loss, target=r.target,
                                    large=large, height=300), key="stages_live_chart")


def _stage_chart(r: training.Run, stage: str, large: bool) -> None:
    st.markdown(f"**{STAGE_NAMES[stage]}**: {r.description}, {r.step} steps.")
    fig = (alignment_charts.preference_curves(r.trainer.history, target=r.step, large=large) if stage == "dpo" else
           charts.loss_curves(r.trainer.history, smoothing=0.6, reference=r.reference_loss, target=r.step,
                              large=large, height=280))
    st.plotly_chart(fig, width="stretch", key=f"stages_chart_{stage}")
