"""The Alignment page's RLHF tab: the policy samples answers, the reward model scores them, RLOO updates the
policy with a KL leash to the reference, live; reward hacking when the leash is off."""

from __future__ import annotations

import hashlib

import streamlit as st

from explorer import LoadedModel, training, ui
from explorer.charts import alignment as charts
from explorer.training import preferences, rloo
from explorer.training.rlhf_runs import rlhf_after_probes, rlhf_run
from explorer.ui.live_run import LiveRun, curve, figures

BETAS = [0.0, 0.01, 0.05, 0.1, 0.2, 0.5]
KS = [2, 4, 6, 8]
STEP_CHOICES = [training.AUTO, 10, 20, 30, 50, 100]
LR_CHOICES = [training.AUTO, 1e-4, 3e-4, 5e-4, 1e-3, 3e-3]
KL_BOUND = 40.0  # nats per answer: the leash the page states (k1, held-out prompts; bench/notes/rlhf.md)
PAGE_BETA = 0.1  # chosen on the development split (bench/notes/rlhf.md); TRL's default is 0.05
DEFAULTS = {"align_rl_beta": PAGE_BETA, "align_rl_k": rloo.DEFAULT_K}
LIMITS = {"align_rl_beta": BETAS, "align_rl_k": KS}
LOCAL = {"align_rl_steps": training.AUTO, "align_rl_lr": training.AUTO}


def _reward_model():
    """The reward model the participant trained on the previous tab (when it has trained and is not training)."""
    rm = LiveRun("align_rm_run", "align_rm").run
    return rm if rm is not None and rm.step > 0 and not rm.active else None


def rlhf_tab(
    lm: LoadedModel | None,
    pairs: list[preferences.PreferencePair],
    *,
    data_id: str,
    source_name: str,
    bundled: bool,
    probes_text: str,
    large: bool,
) -> None:
    st.markdown(
        "RLHF's second step. For each prompt the **policy** (a copy of the model) samples **k answers**; the "
        "**reward model** scores them; each answer's **advantage** is its reward minus the mean reward of the "
        "other k − 1 answers (RLOO, REINFORCE leave-one-out: no value model), and the policy makes the better "
        "answers likelier. A **KL penalty** keeps it close to the model it started from: each answer's reward "
        "loses β × Σ (log π − log π_ref) over its tokens (the k1 estimator, folded into the reward as TRL's "
        "RLOOTrainer does). With β = 0 nothing holds it back: it learns whatever fools the reward model."
    )
    ui.model_picker("encoder", label="Reward model's encoder")
    encoder = ui.get_model("encoder", quiet=True)
    rm_run = _reward_model()
    if rm_run is not None:
        st.info(f"Scored by **your reward model** (the previous tab's, after {rm_run.step} steps).")
    else:
        st.info(
            "Scored by a reward model trained on these pairs with the previous tab's settings (once per server; "
            "about a minute the first time). Train your own on the previous tab to use it instead."
        )
    c1, c2 = st.columns([3, 1])
    c1.select_slider("β, the KL penalty (0: no leash)", BETAS, key="align_rl_beta")
    c2.selectbox("k, answers per prompt", KS, key="align_rl_k")
    with st.expander("Training settings", expanded=False):
        s1, s2 = st.columns(2)
        steps = s1.selectbox("Steps", STEP_CHOICES, key="align_rl_steps")
        lr = s2.selectbox("Learning rate", LR_CHOICES, key="align_rl_lr")
        plan = training.plan("rlhf", steps=steps, lr=lr, n_params=lm.info.params if lm else 0)
        st.caption(training.limits_text())
    beta, k, seed = (
        float(st.session_state["align_rl_beta"]),
        int(st.session_state["align_rl_k"]),
        int(st.session_state["align_seed"]),
    )
    rm_id = (id(rm_run), rm_run.step) if rm_run is not None else None
    signature = (
        "rlhf",
        lm.info.model_id if lm else "",
        encoder.info.model_id if encoder else "",
        data_id,
        beta,
        k,
        plan.lr,
        plan.steps,
        plan.layers,
        seed,
        hashlib.sha1(probes_text.encode()).hexdigest(),
        rm_id,
    )
    slot = LiveRun("align_rl_run", "align_rl")

    def _make() -> training.Run:
        return rlhf_run(
            lm,
            encoder,
            pairs,
            plan,
            beta=beta,
            k=k,
            seed=seed,
            probes=training.probe_lines(probes_text),
            data_name=source_name,
            bundled=bundled,
            reward_model=rm_run.model if rm_run is not None else None,
        )

    running = slot.controls(signature, _make, plan.steps, preparing="Copying the model for RL…", start_label="Start RL")

    def _draw(r: training.Run) -> None:
        (fig,) = figures(
            r,
            lambda: (charts.rl_curves(r.trainer.history, target=r.target, kl_bound=KL_BOUND, large=large),),
            large,
        )
        curve(r, fig, key="align_rl_chart")

    slot.live(running, _draw, signature)
    run = slot.run
    if run is None or not (running or run.started):
        st.caption(
            "Press **Start RL**: the reward of answers to held-out prompts (never trained on) should rise while "
            f"the KL to the reference stays under its bound ({KL_BOUND:g} nats per answer). Watch the answers: "
            "a small reward model has favourite phrases, and the policy finds them (reward hacking). Then set "
            "β = 0 and run again: the KL runs further from the reference and more answers turn into what the "
            "reward model likes instead of answers."
        )
        return
    if running:
        return
    with ui.friendly_errors():
        _summary(run)


def _summary(run: training.Run) -> None:
    hist = [h for h in run.trainer.history if "eval_reward" in h]
    if not hist:
        return
    first, last = hist[0], hist[-1]
    if len(hist) < 2:
        st.caption(
            f"Held-out prompts: mean reward {first['eval_reward']:.2f} before RL; they are scored again every "
            f"{run.trainer.eval_every} steps and at the end of the run."
        )
        return
    kl_note = "over its bound" if last["eval_kl"] > KL_BOUND else "under its bound"
    st.markdown(
        f"Held-out prompts: mean reward **{first['eval_reward']:.2f}** before → **{last['eval_reward']:.2f}** after "
        f"{last['step']} steps; KL to the reference **{last['eval_kl']:.1f}** nats per answer ({kl_note}, "
        f"{KL_BOUND:g})."
        + (
            f" People's held-out pairs: **{first['people_accuracy']:.0%}** → **{last['people_accuracy']:.0%}** "
            "prefer the chosen answer (by how much the policy raised each answer's likelihood)."
            if "people_accuracy" in last
            else ""
        )
    )
    if run.trainer.history[-1].get("all_equal"):
        st.warning("The last step's answers all got the same reward, so every advantage was 0: nothing changed.")
    group = run.trainer.task.last_group
    if group:
        with st.expander(f"The last step's {len(group['answers'])} answers to “{group['prompt']}”"):
            st.dataframe(
                {"answer": group["answers"], "reward": [round(r, 2) for r in group["rewards"]]},
                hide_index=True,
                width="stretch",
            )
    if run.extra.get("probes") and run.extra.get("before"):
        key = ("after", run.step)
        if key not in run.extra:
            with st.spinner("Asking the policy the probes…"):
                run.extra[key] = rlhf_after_probes(run)
        st.subheader("Before and after")
        table = training.before_after(run.extra["before"], run.extra[key])
        table["reward before"] = [round(b["reward"], 2) for b in run.extra["before"]]
        table["reward after"] = [round(a["reward"], 2) for a in run.extra[key]]
        st.table(table.set_index("probe"))
    for n in run.notes:
        st.caption(n)
