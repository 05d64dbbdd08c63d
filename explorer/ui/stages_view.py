"""The Live training page's "three stages on one model" mode: one tiny GPT pretrained from scratch,
then fine-tuned on prompt → response pairs, then aligned on preference pairs, by DPO or by RLHF (a reward
model, then RL); each stage's
loss chart kept, a table of what the model answers to the same probes after each stage, and the
figures each stage is measured on (`explorer.training.stages`; settings in assets/examples/training.toml)."""

from __future__ import annotations

import streamlit as st

from explorer import training, ui
from explorer.charts import alignment as alignment_charts
from explorer.charts import training as charts
from explorer.training import stages
from explorer.training.stages import ALIGNMENTS, STAGE_NAMES
from explorer.ui.browser import browser_id
from explorer.ui.browser_store import BROWSERS
from explorer.ui.live_run import LiveRun, curve

PIPELINE, RUN = "stages_pipeline", "stages_run"
LESSON = stages.lesson()
DEFAULTS = {
    "stages_size": LESSON["size"],
    "stages_corpus": LESSON["corpus"],
    "stages_probes": "\n".join(LESSON["probes"]),
    "stages_alignment": "dpo",
}
ALIGNMENT_LABELS = {
    "dpo": "DPO: learn from the pairs directly",
    "rlhf": "RLHF: a reward model, then RL",
}
WHAT = {
    "pretrain": "predicts the next token of {corpus}: it learns words, grammar and facts, not how to answer "
    "(it has never seen the chat format)",
    "sft": "learns to answer from {n_sft} prompt → response pairs: Pip the robot answers in one sentence and "
    'signs off with "Beep boop!"',
    "dpo": "learns from {n_pref} preference pairs which of two answers people prefer: Pip refusing a harmful "
    "request over agreeing to it, answering an ordinary question over refusing it, and the right answer "
    "over another question's (plus the chosen answers' own loss, as RPO does, which keeps its words)",
    "rlhf": "is aligned the way RLHF does it: first a reward model (the sentence encoder with a score head) learns "
    "from the {n_pref} preference pairs which answers people prefer; then the model samples {k} answers to each "
    "of the pairs' prompts, the reward model scores them, and RL ({method}) makes the better ones likelier, with a "
    "KL penalty (β = {beta:g}) that keeps it near the model SFT left. RL can only reinforce answers the model "
    "writes itself (what it never samples, it cannot learn), and a reward model learnt from a few pairs has "
    "holes the model finds. The reward model trains first: about a minute",
}
FIGURES_HELP = (
    "Measured after each stage on {n} prompts that no stage trained on ({n_harm} of them harmful requests), and on "
    "held-out pretraining text. **Perplexity**: how surprised the model is by that text (lower is better: the "
    'language is still there if it stays low). **As Pip**: answers that end with "Beep boop!" and stop there. '
    "**In words**: answers made of words the model was taught, without stuttering. **Refused / answered**: harmful "
    "requests refused, ordinary questions answered. **Right**: ordinary questions answered with the fact the "
    "pretraining text gives (a tiny model knows few facts for sure, and every later stage can cost some)."
)
START = {
    "pretrain": "Start pretraining",
    "sft": "Start supervised fine-tuning",
    "dpo": "Start DPO training",
    "rlhf": "Start RLHF",
}


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
    return stages.three_stages(
        st.session_state["stages_size"],
        text,
        stages.sft_pairs(LESSON),
        stages.stage_preferences(LESSON),
        probes,
        seed=int(st.session_state.get("train_seed", LESSON["seed"])),
        corpus_name=training.CORPORA[st.session_state["stages_corpus"]].title,
        settings=LESSON,
        prompts=stages.measured_prompts(LESSON),
        alignment=st.session_state["stages_alignment"],
    )


def draw(large: bool) -> None:
    if "stages_alignment" not in st.session_state:  # a reload: the kept pipeline's third stage, not the default
        kept = BROWSERS.get(browser_id(), PIPELINE)
        if kept is not None:
            st.session_state["stages_alignment"] = kept.alignment
    for k, v in DEFAULTS.items():
        st.session_state.setdefault(k, v)
    st.caption(
        "One tiny GPT goes through the three stages an assistant goes through: each stage starts from the "
        "model the stage before left. Each stage's chart stays, and the table shows what the model answers "
        "after each one."
    )
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Model size", ["tiny", "small"], format_func=lambda k: training.SIZES[k].label, key="stages_size")
    c2.selectbox(
        "Pretraining text", list(training.CORPORA), format_func=lambda k: training.CORPORA[k].title, key="stages_corpus"
    )
    c3.selectbox(
        "Third stage",
        ALIGNMENTS,
        format_func=ALIGNMENT_LABELS.get,
        key="stages_alignment",
        help="DPO learns from the preference pairs directly; RLHF first trains a reward model on them, then lets "
        "the model learn by RL from the reward model's scores of its own answers.",
    )
    ui.limited_text(
        "Probe prompts (one per line)",
        key="stages_probes",
        what="probes",
        height=90,
        max_chars=training.MAX_PROBES * (training.MAX_FIELD_CHARS + 1),
    )
    signature = (st.session_state["stages_size"], st.session_state["stages_corpus"], st.session_state["stages_probes"])
    pipe = _kept(PIPELINE)
    if pipe is not None and _kept("stages_signature") != signature:
        st.info("The settings have changed: **Start over** runs the three stages with the new ones.")
    chosen = st.session_state["stages_alignment"]
    if pipe is not None and pipe.alignment != chosen:
        if pipe.alignment in pipe.runs:
            st.info(
                f"This model was aligned by {pipe.alignment.upper()}: **Start over** to take the three stages again "
                f"with {chosen.upper()} as the third."
            )
        else:  # the third stage has not started: the pipeline takes the way chosen now
            pipe.alignment = chosen
    slot = LiveRun(RUN, "stages")
    run = slot.run
    if pipe is not None and run is not None and not run.active and run.step > 0 and run.status in ("done", "stopped"):
        with ui.friendly_errors(), st.spinner("Asking the model the probes and measuring it…"):
            pipe.finish(run.extra["stage"])  # a stage ends when its run does: the next starts from there
            slot.forget()
    stage = pipe.next_stage if pipe is not None else "pretrain"
    for done in pipe.stages if pipe is not None else ():
        if done in pipe.answers:
            _stage_chart(pipe.runs[done], done, large)
    if stage is not None:
        steps = int(LESSON[stage]["steps"])
        st.subheader(STAGE_NAMES[stage])
        st.caption(
            "The model "
            + WHAT[stage].format(
                corpus=training.CORPORA[st.session_state["stages_corpus"]].title,
                n_sft=len(stages.sft_pairs(LESSON)),
                n_pref=len(stages.stage_preferences(LESSON)),
                k=LESSON["rlhf"]["k"],
                beta=LESSON["rlhf"]["beta"],
                method=LESSON["rlhf"]["method"].upper(),
            )
            + f". {steps} steps; **Stop** ends the stage where it is, and the next one starts from there."
            + (f" All three stages take {LESSON['takes']}." if stage == "pretrain" else "")
        )

        def _make() -> training.Run:
            nonlocal pipe
            if pipe is None or stage == "pretrain":
                pipe = _new_pipeline()
                _keep(PIPELINE, pipe)
                _keep("stages_signature", signature)
            made = pipe.new_run(stage, encoder=ui.get_model("encoder", quiet=True) if stage == "rlhf" else None)
            made.extra["stage"] = stage
            pipe.runs[stage] = made
            return made

        running = slot.controls((_kept("stages_epoch", 0), stage), _make, steps, start_label=START[stage])
        slot.live(running, lambda r: _live_chart(r, stage, large))
    if pipe is not None and pipe.answers:
        st.subheader("What the model answers after each stage")
        st.table(pipe.table().set_index("probe"))
    if pipe is not None and pipe.figures:
        _figures(pipe)
    if pipe is not None and st.button("Start over", key="stages_over"):
        slot.forget()
        _keep(PIPELINE, None)
        _keep("stages_epoch", _kept("stages_epoch", 0) + 1)
        st.rerun()


def _live_chart(r: training.Run, stage: str, large: bool) -> None:
    if stage == "rlhf":
        curve(r, alignment_charts.rl_curves(r.trainer.history, target=r.target, large=large), key="stages_live_rl")
    elif stage == "dpo":
        curve(
            r,
            alignment_charts.preference_curves(r.trainer.history, target=r.target, large=large),
            key="stages_live_dpo",
        )
    else:
        curve(
            r,
            charts.loss_curves(
                r.trainer.history, smoothing=0.6, reference=r.reference_loss, target=r.target, large=large, height=300
            ),
            key="stages_live_chart",
        )


def _stage_chart(r: training.Run, stage: str, large: bool) -> None:
    st.markdown(f"**{STAGE_NAMES[stage]}**: {r.description}, {r.step} steps.")
    fig = (
        alignment_charts.rl_curves(r.trainer.history, target=r.step, large=large)
        if stage == "rlhf"
        else alignment_charts.preference_curves(r.trainer.history, target=r.step, large=large)
        if stage == "dpo"
        else charts.loss_curves(
            r.trainer.history, smoothing=0.6, reference=r.reference_loss, target=r.step, large=large, height=280
        )
    )
    st.plotly_chart(fig, width="stretch", key=f"stages_chart_{stage}")


def _figures(pipe: stages.ThreeStages) -> None:
    st.subheader("What each stage did, measured")
    table = pipe.figures_table().set_index("stage")
    shares = [c for c in table.columns if c != "held-out perplexity"]
    st.table(table.style.format({c: "{:.0%}" for c in shares} | {"held-out perplexity": "{:.2f}"}, na_rep="–"))
    harmful = sum(p.kind == "harmful" for p in pipe.prompts)
    st.caption(FIGURES_HELP.format(n=len(pipe.prompts), n_harm=harmful))
