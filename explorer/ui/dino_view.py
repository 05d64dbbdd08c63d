"""The Images page's DINO tab: a student and its EMA teacher on two views of each digit, no labels; centering and
sharpening as switches, so that collapse can be watched; the probe on the student's features afterwards."""

from __future__ import annotations

import streamlit as st

from explorer import training, ui, vision
from explorer.charts import dino as charts
from explorer.charts import vision as vision_charts
from explorer.ui import chart
from explorer.ui.live_run import LiveRun, curve, figures
from explorer.vision import dino

RUN = "img_dino_run"
STEPS = [training.AUTO, 100, 300, 600, 1000, 1500]
DEFAULTS = {"img_dino_centering": True, "img_dino_sharpening": True, "img_dino_backbone": "cnn"}
LIMITS = {"img_dino_backbone": list(dino.BACKBONES)}
BACKBONE_NAMES = {"cnn": "Small CNN (SimCLR's)", "vit": "Tiny ViT (shows where it looks)"}
LOCAL = {"img_dino_steps": training.AUTO, "img_dino_digit": 0}


def draw(large: bool) -> None:
    st.markdown(
        "**DINO** (self-**di**stillation with **no** labels): a **student** and a **teacher** of the same shape "
        "each read a different distortion of one digit, and the student learns to give the teacher's answer, a "
        f"distribution over {dino.OUT_DIM} output dimensions that nobody named. The teacher is never trained: "
        f"its weights follow the student's (an exponential moving average, momentum {dino.TEACHER_MOMENTUM}). "
        "Nothing in that stops both from giving every digit the same answer (**collapse**), except two things "
        "done to the teacher's output: **centering** (subtract its running mean, so no dimension can win for "
        f"every digit) and **sharpening** (a low temperature, {dino.TEACHER_TEMP} against the student's "
        f"{dino.STUDENT_TEMP}, so each answer is peaked). Switch them off and watch."
    )
    c1, c2, c3 = st.columns([1, 1, 2])
    centering = c1.toggle("Centering", key="img_dino_centering")
    sharpening = c2.toggle("Sharpening", key="img_dino_sharpening")
    backbone = c3.radio(
        "Student network",
        list(BACKBONE_NAMES),
        format_func=BACKBONE_NAMES.get,
        key="img_dino_backbone",
        horizontal=True,
    )
    steps = st.selectbox("Steps", STEPS, key="img_dino_steps")
    plan = vision.vision_plan("dino", steps=steps)
    signature = ("dino", plan.steps, bool(centering), bool(sharpening), backbone)
    slot = LiveRun(RUN, "img_dino")
    running = slot.controls(
        signature,
        lambda: vision.dino_run(plan, centering=bool(centering), sharpening=bool(sharpening), backbone=backbone),
        plan.steps,
        preparing="Making a student and its teacher…",
        start_label="Start DINO training",
    )

    def _draw(r: training.Run) -> None:
        loss, signs = figures(
            r,
            lambda: (
                charts.dino_loss_curves(r.trainer.history, target=r.target, large=large),
                charts.collapse_curves(r.trainer.history, dino.OUT_DIM, target=r.target, large=large),
            ),
            large,
        )
        curve(r, loss, key="img_dino_chart")
        curve(r, signs, key="img_dino_collapse")

    slot.live(running, _draw, signature)
    run = slot.run
    if run is None or running or run.step == 0:
        st.caption(
            "Press **Start DINO training**. With both switches on, the teacher's entropy falls (each digit gets a "
            "peaked answer) while no single dimension takes the batch, and the probe on the student's features "
            "rises above the untrained network's. Then switch centering off: one dimension takes the whole batch at "
            "once. Or sharpening: the entropy climbs to the uniform line, every answer alike. Either way the "
            "features get no better than the untrained network's."
        )
        return
    last = run.trainer.history[-1]
    if last.get("eval_teacher_entropy", 0) > 0.95 * dino.max_entropy():
        st.warning(
            "**Collapsed to uniform**: the teacher gives every digit nearly the same flat distribution, so the "
            "student has nothing to learn from."
        )
    elif last.get("eval_top_share", 0) > 0.9:
        st.warning("**Collapsed to one dimension**: the teacher gives nearly every digit the same answer.")
    others = {}  # the browser's SimCLR encoder and MAE, when trained on their tabs, beside DINO's
    simclr, mae = LiveRun("img_simclr_run", "img_simclr").run, LiveRun("img_mae_run", "img_mae").run
    if simclr is not None and simclr.step > 0 and not simclr.active:
        others["SimCLR encoder (your run)"] = simclr.model
    if mae is not None and mae.step > 0 and not mae.active:
        others["MAE encoder (your run)"] = lambda x, m=mae.model: vision.mae_features(m, x)
    with ui.friendly_errors(), st.spinner("Fitting the probes…"):
        key = ("dino_probe", run.step, tuple(others), simclr and simclr.step, mae and mae.step)
        if run.extra.get("_probe_key") != key:
            run.extra["_probe"] = vision.compare_probes(run.model, vision.random_encoder(run), repeats=3, others=others)
            run.extra["_probe_key"] = key
        table = run.extra["_probe"]
        chart.plotly_chart(vision_charts.probe_bars(table, large=large), key="img_dino_probe")
        if run.extra.get("backbone") == "vit":
            d = vision.digits()
            i = int(st.number_input("Held-out digit", 0, len(d.test_idx) - 1, step=1, key="img_dino_digit"))
            k = int(d.test_idx[i])
            att = dino.cls_attention(run.model, d.images[k])
            chart.plotly_chart(
                vision_charts.attention_grids(
                    att.weights,
                    vision.resize(d.images[k], dino.DigitViT.SIZE),
                    large=large,
                    title=f"Where the student's CLS token looks in held-out digit #{i} (a {d.labels[k]})",
                ),
                key="img_dino_attention",
            )
            st.caption(
                "Each tile: one head of one layer, the CLS token's attention to each of the 16 patches (the "
                "DINO picture; on large photographs the heads of a DINO-trained ViT outline objects)."
            )
        st.caption(
            f"After {run.step} steps of DINO ({run.description}). A linear probe on the student's features with a "
            "few labelled digits per class, against the same network untrained and the raw pixels"
            + (
                f", and beside {' and '.join(n.split(' (')[0] for n in others)}"
                if others
                else " (train SimCLR or the MAE on their tabs to see them here too)"
            )
            + "; the mean of 3 draws of the labelled digits."
        )
