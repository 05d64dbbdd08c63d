"""Alignment, the third stage: learning from preferences. Pairs people made (or you make), the DPO
objective before training, DPO live on a private copy of the causal LM, a reward model with best-of-n
sampling, and RLHF's RL step (RLOO against the reward model, with its KL leash)."""

from __future__ import annotations

import hashlib

import streamlit as st

from explorer import training, ui
from explorer.charts import alignment as charts
from explorer.charts import training as training_charts
from explorer.training import preferences, reward
from explorer.training.alignment_runs import before_probes, dpo_after_probes, dpo_run
from explorer.ui import alignment_view, rlhf_view
from explorer.ui.live_run import LiveRun, curve, figures
from explorer.wording import count

DPO = preferences.dpo_defaults()  # the default run and its probes (assets/examples/alignment.toml)
SOURCES = {"bundled": "Bundled pairs", "upload": "Upload a CSV", "both": "Bundled pairs + yours", "mine": "Only yours"}
BETAS = [0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
DEFAULTS = {
    "align_source": "bundled",
    "align_beta": DPO["beta"],
    "align_seed": DPO["seed"],
    "align_probes": "\n".join(DPO["probes"]),
    "align_hf_prompt": "Why do cats purr?",
    "align_temperature": 0.9,
    "align_bon_prompt": "Give me a tip for learning to cook.",
    "align_bon_n": 8,
    **rlhf_view.DEFAULTS,
}
LIMITS = {
    "align_source": [s for s in SOURCES if s != "upload"],
    "align_beta": BETAS,
    "align_seed": (0, 10_000),
    "align_temperature": (0.1, 1.5),
    "align_bon_n": (1, reward.MAX_N),
    **rlhf_view.LIMITS,
}
SHARED = {k: v for k, v in DEFAULTS.items()}
LOCAL = {
    "align_steps": training.AUTO,
    "align_lr": training.AUTO,
    "align_layers": training.AUTO,
    "align_rm_steps": training.AUTO,
    **rlhf_view.LOCAL,
}
ui.page_state("alignment", SHARED, LIMITS, local=LOCAL)
MINE = alignment_view.MINE  # your pairs (session state)
st.session_state.setdefault(MINE, [])

ui.set_threads()
st.title("Alignment: learning from preferences")
ui.intro(
    "The third stage of an assistant. After pretraining (self-supervised) and supervised fine-tuning, people "
    "compare two answers to the same prompt and say which is better. **DPO** tunes the model straight from "
    "those pairs; **RLHF** first trains a reward model on them. Everything runs here, on this server's CPU."
)

ui.model_picker("clm")
lm = ui.get_model("clm")
large = ui.presenter()


def _pairs() -> tuple[list[preferences.PreferencePair], str, list[str]]:
    source = st.session_state["align_source"]
    mine = list(st.session_state[MINE])
    if source == "upload":
        up = st.file_uploader(
            "CSV with the columns prompt,chosen,rejected (kind is optional)",
            type=None,
            key="align_upload",
            max_upload_size=training.UPLOAD_WIDGET_MB,
            help=training.upload_limits("preferences"),
        )
        st.caption(training.upload_limits("preferences"))
        if up is None:
            return [], "", []
        pairs, notes = preferences.preference_pairs(up.getvalue(), "uploaded CSV")
        return pairs, up.name, notes
    if source == "mine":
        if len(mine) < preferences.MIN_PAIRS:
            st.info(
                f"You have made {len(mine)} pair{'s' if len(mine) != 1 else ''}; DPO here needs at least "
                f"{preferences.MIN_PAIRS}. Make more in the first tab, or add the bundled pairs."
            )
            return [], "", []
        return mine, "your pairs", []
    bundled = preferences.bundled_pairs()
    if source == "both" and mine:
        pairs, notes = preferences.check_pairs(bundled + mine, "pairs")
        return pairs, f"the bundled pairs and {len(mine)} of yours", notes
    return bundled, "the bundled pairs", []


st.radio("Preference pairs", list(SOURCES), format_func=SOURCES.get, key="align_source", horizontal=True)
pairs, source_name, data_notes = [], "", []
with ui.friendly_errors():
    pairs, source_name, data_notes = _pairs()
ui.notes(data_notes)
if pairs:
    kinds = {}
    for p in pairs:
        kinds[p.kind or "other"] = kinds.get(p.kind or "other", 0) + 1
    st.caption(f"{len(pairs)} pairs from {source_name}: " + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ".")
data_id = hashlib.sha1(repr(pairs).encode()).hexdigest()[:12]
bundled = st.session_state["align_source"] == "bundled"  # pairs the app ships: their reference scores go to disk

tabs = st.tabs(
    [
        "Preference pairs",
        "The objective",
        "Train with DPO",
        "Reward model & best-of-n",
        "Reinforcement learning (RLHF)",
    ],
    key="align_view",
    on_change="rerun",
)

# ----------------------------------------------------------------------------- 1. the pairs, and yours
with tabs[0]:
    if tabs[0].open is not False:
        alignment_view.pairs_tab(pairs, lm)

# ----------------------------------------------------------------------------- 2. the objective before training
beta = st.session_state["align_beta"]
with tabs[1]:
    if tabs[1].open:
        alignment_view.objective_tab(lm, pairs, betas=BETAS, beta=beta, bundled=bundled, large=large)

# ----------------------------------------------------------------------------- 3. DPO live
STEP_CHOICES = [training.AUTO, 20, 50, 100, 150, 200, 300]
LR_CHOICES = [training.AUTO, 1e-5, 3e-5, 5e-5, 1e-4, 3e-4, 1e-3, 3e-3]
with tabs[2]:
    if tabs[2].open:
        st.select_slider("β (how far the tuned model may move from the reference)", BETAS, key="align_beta")
        with st.expander("Training settings", expanded=False):
            c1, c2, c3 = st.columns(3)
            steps = c1.selectbox("Steps", STEP_CHOICES, key="align_steps")
            lr = c2.selectbox("Learning rate", LR_CHOICES, key="align_lr")
            layers = c3.selectbox("Layers that learn", training.LAYER_CHOICES, key="align_layers")
            seed = c1.number_input("Seed", min_value=0, max_value=10_000, step=1, key="align_seed")
            n_params = lm.info.params if lm else 0
            auto = DPO if n_params > training.LARGE_MODEL_PARAMS else {}  # the defaults are SmolLM2's
            plan = training.plan(
                "dpo",
                steps=auto.get("steps", steps) if steps == training.AUTO else steps,
                lr=auto.get("lr", lr) if lr == training.AUTO else lr,
                layers=auto.get("layers", layers) if layers == training.AUTO else layers,
                n_params=n_params,
            )
            st.caption(training.limits_text())
        probes_text = ui.limited_text(
            "Probe prompts, answered before and after (one per line)",
            key="align_probes",
            max_chars=training.MAX_PROBES * (training.MAX_FIELD_CHARS + 1),
            what="probes",
            height=90,
        )
        signature = (
            "dpo",
            lm.info.model_id if lm else "",
            data_id,
            beta,
            plan.lr,
            plan.steps,
            plan.layers,
            int(seed),
            probes_text,
        )
        slot = LiveRun("align_dpo_run", "align_dpo")

        def _make() -> training.Run:  # quick: the reference's scores are computed in the run's own thread
            return dpo_run(
                lm,
                pairs,
                plan,
                beta=beta,
                seed=int(seed),
                probes=training.probe_lines(probes_text),
                data_name=source_name,
                bundled=bundled,
                prepare_in_thread=True,
                nll_weight=float(DPO["nll_weight"]),
            )

        running = slot.controls(
            signature, _make, plan.steps, preparing="Copying the model for training…", start_label="Start DPO training"
        )

        def _draw(r: training.Run) -> None:
            curves, loss = figures(
                r,
                lambda: (
                    charts.preference_curves(r.trainer.history, target=r.target, large=large),
                    training_charts.loss_curves(
                        r.trainer.history,
                        smoothing=0.6,
                        target=r.target,
                        large=large,
                        title="DPO loss (ln 2 = no preference yet)",
                        height=300,
                    ),
                ),
                large,
            )
            curve(r, curves, key="align_dpo_chart")
            curve(r, loss, key="align_dpo_loss")

        slot.live(running, _draw, signature)
        run = slot.run
        if run is None or not (running or run.started):
            st.caption(
                "Press **Start DPO training**: the chosen answers' rewards should rise above the rejected "
                "ones', and held-out pairs (never trained on) should follow."
            )
        elif not running:
            with ui.friendly_errors():
                h0 = run.trainer.history[0]
                last = next(h for h in reversed(run.trainer.history) if "accuracy" in h)  # the chart's last point
                st.markdown(
                    f"Held-out preference accuracy: **{h0['accuracy']:.0%}** before → **{last['accuracy']:.0%}** "
                    f"after {count(last['step'], 'step')}, on {len(run.trainer.task.test_idx)} pairs it never "
                    "trained on."
                )
                if run.extra.get("probes"):
                    key = ("after", run.step)
                    if key not in run.extra:
                        with st.spinner("Asking the model before and after training…"):
                            before_probes(run)
                            run.extra[key] = dpo_after_probes(run)
                    st.subheader("Before and after")
                    st.table(training.before_after(before_probes(run), run.extra[key]).set_index("probe"))
                with st.expander("Pair by pair, after training"):
                    st.dataframe(run.trainer.task.table(run.model).round(3), hide_index=True, width="stretch")
            for n in run.notes:
                st.caption(n)

# ----------------------------------------------------------------------------- 4. reward model and best-of-n
with tabs[3]:
    if tabs[3].open:
        alignment_view.reward_tab(lm, pairs, data_id=data_id, source_name=source_name, large=large)

# ----------------------------------------------------------------------------- 5. RLHF's RL step
with tabs[4]:
    if tabs[4].open:
        rlhf_view.rlhf_tab(
            lm,
            pairs,
            data_id=data_id,
            source_name=source_name,
            bundled=bundled,
            probes_text=st.session_state["align_probes"],
            large=large,
        )

ui.share_link(ui.publish_state("alignment", SHARED))
