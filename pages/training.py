"""Live training: pretrain a tiny model from scratch, continue self-supervised training, or
fine-tune with labels, and watch the loss fall."""

from __future__ import annotations

import hashlib

import streamlit as st

from explorer import training, ui
from explorer.charts import training as charts
from explorer.ui import live_run, stages_view, training_view
from explorer.ui.live_run import LiveRun

DEFAULTS = {
    "mode": "scratch",
    "arch": "gpt",
    "size": "tiny",
    "corpus": "shakespeare",
    "text": "",
    "objective": "mlm",
    "task": "classify",
    "data": "bundled",
    "steps": training.AUTO,
    "lr": training.AUTO,
    "batch": training.AUTO,
    "seq_len": training.AUTO,
    "layers": training.AUTO,
    "seed": 0,
    "smoothing": 0.6,
    "probes_clm": "ROMEO:\nFair is foul, and\nThe dog",
    "probes_mlm": "The sky is [MASK].\nFair is foul, and foul is [MASK].\nThe dog [MASK] at the cat.",
    "probes_cls": "What a wonderful afternoon!\nThe food was cold and the waiter was rude.",
    "probes_sft": "What is a rainbow?\nWhy do birds fly?",
}
MODES = {
    "scratch": "Pretrain from scratch",
    "continue": "Continue self-supervised training",
    "supervised": "Supervised fine-tuning",
    "stages": "Three stages on one model",
}
OBJECTIVES = {"mlm": "Masked LM (fill in blanks)", "clm": "Causal LM (next token)"}
TASKS = {"classify": "Sentence classification (encoder + head)", "sft": "SFT of the causal LM (prompt -> response)"}
STEP_CHOICES = [training.AUTO, 10, 20, 50, 100, 200, 300, 500, 1000, 2000]
LR_CHOICES = [training.AUTO, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
BATCH_CHOICES = [training.AUTO, 1, 2, 4, 8, 16, 32]
SEQ_CHOICES = [training.AUTO, 32, 64, 128]

# Every input lives in session state under train_<name>; a link carries the ones with a fixed type.
SHARED = {f"train_{k}": v for k, v in DEFAULTS.items() if k not in ("steps", "lr", "batch", "seq_len", "layers")}
LIMITS = {
    "train_mode": list(MODES),
    "train_arch": list(training.ARCHS),
    "train_size": list(training.SIZES),
    "train_corpus": [c for c in training_view.CORPUS_CHOICES if c != "upload"],
    "train_objective": list(OBJECTIVES),
    "train_task": list(TASKS),
    "train_data": ["bundled", "upload"],
    "train_seed": (0, 10_000),
    "train_smoothing": (0.0, 0.95),
}
ui.page_state("training", SHARED, LIMITS, local={f"train_{k}": v for k, v in DEFAULTS.items()})

RUN, FIGURE = "training_run", "training_figure"
slot = LiveRun(RUN, "train")


def _auto(value, resolved) -> str:
    return f"auto ({resolved:g})" if value == training.AUTO else f"{value:g}"


ui.set_threads()
st.title("Live training")
ui.intro(
    "Watch a model learn while it trains, on this server's CPU. **Self-supervised** modes make their own "
    "labels from raw text (the next token, or a hidden word); **supervised** fine-tuning learns from labels "
    "a person wrote."
)

mode = st.radio("What to train", list(MODES), format_func=MODES.get, key="train_mode", horizontal=True)
if mode == "stages":  # pretraining → SFT → DPO on one tiny model: a view of its own
    stages_view.draw(ui.presenter())
    ui.share_link(ui.publish_state("training", SHARED))
    st.stop()

lm = None
source_text, source_name, examples, pairs, data_notes = None, "", None, None, []
probes_text = ""
left, right = st.columns(2)
with left:
    if mode == "scratch":
        arch = st.radio("Architecture", list(training.ARCHS), format_func=training.ARCHS.get, key="train_arch")
        size = st.selectbox(
            "Model size", list(training.SIZES), format_func=lambda k: training.SIZES[k].label, key="train_size"
        )
        kind, objective = "scratch", "clm" if arch == "gpt" else "mlm"
    elif mode == "continue":
        objective = st.radio("Objective", list(OBJECTIVES), format_func=OBJECTIVES.get, key="train_objective")
        ui.model_picker(objective)
        lm = ui.get_model(objective)
        kind = "continue"
    else:
        kind = st.radio("Task", list(TASKS), format_func=TASKS.get, key="train_task")
        objective = "clm" if kind == "sft" else ""
        ui.model_picker("clm" if kind == "sft" else "encoder")
        lm = ui.get_model("clm" if kind == "sft" else "encoder")
with right:
    if kind in ("scratch", "continue"):
        source_text, source_name, data_notes, probes_text = training_view.text_data(objective)
    else:
        examples, pairs, source_name, data_notes, probes_text = training_view.labelled_data(kind)
    ui.notes(data_notes)

n_params = lm.info.params if lm is not None else 0
with st.expander("Training settings", expanded=False):
    c1, c2, c3 = st.columns(3)
    steps = c1.selectbox("Steps", STEP_CHOICES, key="train_steps")
    lr = c2.selectbox("Learning rate", LR_CHOICES, key="train_lr")
    seed = c3.number_input("Seed", min_value=0, max_value=10_000, step=1, key="train_seed")
    batch = c1.selectbox("Batch size", BATCH_CHOICES, key="train_batch")
    seq_len = c2.selectbox("Tokens per sequence", SEQ_CHOICES, key="train_seq_len")
    layers = c3.selectbox(
        "Layers that learn",
        training.LAYER_CHOICES,
        key="train_layers",
        disabled=kind == "scratch",
        help="Training only the top layers of a large model is much faster.",
    )
    plan = training.plan(kind, steps=steps, lr=lr, batch=batch, seq_len=seq_len, layers=layers, n_params=n_params)
    st.caption(
        f"This run: {plan.steps} steps, learning rate {_auto(lr, plan.lr)}, batches of {plan.batch} x "
        f"{plan.seq_len} tokens"
        + (
            ""
            if kind == "scratch"
            else ", layers: "
            + ("all" if plan.layers is None else "head only" if plan.layers == 0 else f"top {plan.layers}")
        )
        + "."
    )
    st.caption(training.limits_text())
smoothing = st.slider("Smoothing of the loss curve", 0.0, 0.95, step=0.05, key="train_smoothing")

text_id = hashlib.sha1(source_text.encode()).hexdigest()[:12] if source_text else ""
data_id = hashlib.sha1(repr(examples.values.tolist() if examples is not None else pairs).encode()).hexdigest()[:12]
signature = (
    kind,
    st.session_state.get("train_arch"),
    st.session_state.get("train_size"),
    objective,
    lm.info.model_id if lm is not None else "",
    text_id,
    data_id,
    probes_text,
    plan.lr,
    plan.batch,
    plan.seq_len,
    plan.layers,
    int(seed),
)


def _make() -> training.Run:
    return training.new_run(
        kind,
        plan,
        lm=lm,
        text=source_text,
        examples=examples,
        pairs=pairs,
        arch=st.session_state.get("train_arch"),
        size=st.session_state.get("train_size"),
        objective=objective,
        seed=int(seed),
        probes_text=probes_text,
        source_name=source_name,
    )


running = slot.controls(signature, _make, plan.steps)
run: training.Run | None = slot.run
large = ui.presenter()


def _draw_samples(r: training.Run) -> None:
    if not r.trainer.samples:
        return
    rows = [{"step": step, **row} for step, outs in list(r.trainer.samples) for row in outs]
    st.markdown(
        "**What the model says at checkpoints**"
        + (" (sampled continuations)" if r.objective == "clm" else " (top fill-ins)")
    )
    st.dataframe(rows[::-1], hide_index=True, width="stretch")


def _loss_figure(r: training.Run):
    """The loss chart of `r`: built once per run and look, then refreshed with the new steps (cheaper
    than a new figure twice a second)."""
    history = list(r.trainer.history)
    look = (id(r), smoothing, large, r.reference_loss)
    cached = st.session_state.get(FIGURE)
    if cached is not None and cached[0] == look:
        try:
            return charts.update_loss_curves(cached[1], history, smoothing=smoothing, target=r.target)
        except ValueError:  # accuracy appeared: a figure with another set of traces
            pass
    fig = charts.loss_curves(history, smoothing=smoothing, reference=r.reference_loss, target=r.target, large=large)
    st.session_state[FIGURE] = (look, fig)
    return fig


def _draw(r: training.Run) -> None:
    live_run.curve(r, _loss_figure(r), key="train_loss_chart")
    _draw_samples(r)


slot.live(running, _draw, signature)

training_view.outcome(run, running)

if kind == "sft" and pairs and lm is not None:
    training_view.sft_labels(lm, pairs, large)

ui.share_link(ui.publish_state("training", SHARED))
