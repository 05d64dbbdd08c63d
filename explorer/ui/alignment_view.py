"""The Alignment page's tabs around DPO's live run: the preference pairs and the pairs a participant makes
by picking the better of two sampled answers, the DPO objective on the pairs before training, and the
reward model (trained live) with best-of-n sampling."""

from __future__ import annotations

import streamlit as st

from explorer import LoadedModel, training, ui
from explorer.charts import alignment as charts
from explorer.charts import training as training_charts
from explorer.training import dpo, preferences, reward
from explorer.training.alignment_runs import reward_run
from explorer.ui.live_run import LiveRun, curve

MINE, SAMPLED, BON = "align_mine", "align_sampled", "align_bon"  # session state: your pairs, two answers, best-of-n


def pairs_tab(pairs: list[preferences.PreferencePair], lm: LoadedModel | None) -> None:
    """The pairs in use (and their CSV), and the human in the loop: two sampled answers, you pick the better."""
    if pairs:
        st.dataframe(preferences.pairs_frame(pairs), hide_index=True, width="stretch", height=260)
        st.download_button(
            "Download these pairs (CSV)",
            preferences.pairs_csv(pairs),
            "preference-pairs.csv",
            mime="text/csv",
            key="align_download",
        )
    st.subheader("Be the human in the loop")
    st.caption(
        "The model answers your prompt twice (sampled, so the answers differ); you say which is better. "
        "That is how preference data is made. Your pairs stay in this browser session."
    )
    c1, c2 = ui.columns([3, 1])
    with c1:
        hf_prompt = ui.limited_text(
            "Your prompt", key="align_hf_prompt", max_chars=training.MAX_FIELD_CHARS, what="prompt", area=False
        )
    with c2:
        st.slider("Temperature", 0.1, 1.5, step=0.1, key="align_temperature")
    if st.button("Sample two answers", key="align_sample", disabled=lm is None):
        with ui.friendly_errors(), st.spinner("The model answers twice…"):
            seed = len(st.session_state[MINE]) * 7 + int(st.session_state["align_seed"])
            st.session_state[SAMPLED] = (
                hf_prompt,
                reward.sample_answers(
                    lm, hf_prompt, 2, temperature=float(st.session_state["align_temperature"]), seed=seed
                ),
            )
    sampled = st.session_state.get(SAMPLED)
    if sampled:
        prompt, answers = sampled
        cols = ui.columns(2)
        for i, col in enumerate(cols):
            with col.container(border=True):
                st.markdown(f"**Answer {'AB'[i]}**")
                st.text(answers[i] or "(empty)")
                if st.button(f"{'AB'[i]} is better", key=f"align_pick_{i}"):
                    with ui.friendly_errors():
                        st.session_state[MINE].append(preferences.human_pair(prompt, answers, i))
                        st.session_state[SAMPLED] = None
                        st.rerun()
    mine = st.session_state[MINE]
    if mine:
        st.markdown(f"**Your pairs: {len(mine)}** (use them with *Bundled pairs + yours* or *Only yours* above)")
        st.dataframe(preferences.pairs_frame(mine), hide_index=True, width="stretch")
        if st.button("Forget my pairs", key="align_forget"):
            st.session_state[MINE] = []
            st.rerun()


def objective_tab(
    lm: LoadedModel | None,
    pairs: list[preferences.PreferencePair],
    *,
    betas: list[float],
    beta: float,
    bundled: bool,
    large: bool,
) -> None:
    """β, the DPO objective explained, and every pair's loss and margin before training."""
    st.select_slider("β (how far the tuned model may move from the reference)", betas, key="align_beta")
    st.markdown(
        "For each pair DPO compares the **policy** π (the model being tuned) with the **reference** π_ref (the "
        "model as it was). The implicit reward of an answer is **β·(log π(answer | prompt) − log π_ref(answer | "
        "prompt))**; the loss is **−log σ(reward(chosen) − reward(rejected))**. Before training π = π_ref: every "
        "reward is 0, every loss ln 2 ≈ 0.693, and training has to move the two answers apart."
    )
    if pairs and lm is not None:
        with ui.friendly_errors():
            task = dpo.DPOTask(
                lm.model,
                lm.tokenizer,
                pairs,
                batch=1,
                beta=beta,
                seed=int(st.session_state["align_seed"]),
                persist=bundled,
            )
            place = st.empty()  # progress only when the scores are computed (else they are known at once)
            with st.spinner(
                f"Scoring the {len(task.pairs)} pairs with the model (once per server"
                f"{' for the bundled pairs' if bundled else ''})…"
            ):
                task.score_reference(
                    lambda done, n: place.progress(done / n, text=f"Scoring the pairs with the model: {done} of {n}…")
                )
            place.empty()
            table = task.table()
            ui.notes(task.notes)
            c1, c2, c3 = st.columns(3)
            c1.metric("Mean DPO loss now", f"{table['DPO loss'].mean():.3f}", help="ln 2 = 0.693 before training")
            c2.metric(
                "Already prefers the chosen answer",
                f"{dpo.likelihood_preference(table):.0%}",
                help="Share of pairs where the chosen answer is already the likelier one (log π). "
                "Likelihood favours short answers, which is one reason DPO compares with the reference.",
            )
            c3.metric("Preference accuracy by reward", "50%", help="All rewards are 0 before training: a tie.")
            st.plotly_chart(charts.pair_margins(table, large=large), width="stretch", key="align_pair_margins")
            st.dataframe(table.round(3), hide_index=True, width="stretch", height=300)


def reward_tab(
    lm: LoadedModel | None,
    pairs: list[preferences.PreferencePair],
    *,
    data_id: str,
    source_name: str,
    large: bool,
) -> None:
    """A reward model trained live on the pairs (Bradley–Terry), then best-of-n sampling scored by it."""
    st.markdown(
        "RLHF's first step: a **reward model** reads a prompt and an answer and gives one number. It is "
        "trained on the same pairs with the Bradley–Terry loss **−log σ(r(chosen) − r(rejected))**. "
        "The simplest use of it is **best-of-n**: sample n answers and keep the one it scores highest."
    )
    ui.model_picker("encoder", label="Reward model's encoder")
    encoder = ui.get_model("encoder")
    rm_steps = st.selectbox("Steps", [training.AUTO, 30, 60, 100, 200], key="align_rm_steps")
    rm_plan = training.plan("reward", steps=rm_steps, n_params=encoder.info.params if encoder else 0)
    rm_signature = (
        "reward",
        encoder.info.model_id if encoder else "",
        data_id,
        rm_plan.steps,
        int(st.session_state["align_seed"]),
    )
    rm_slot = LiveRun("align_rm_run", "align_rm")
    rm_running = rm_slot.controls(
        rm_signature,
        lambda: reward_run(encoder, pairs, rm_plan, seed=int(st.session_state["align_seed"]), data_name=source_name),
        rm_plan.steps,
        start_label="Train the reward model",
    )
    rm_slot.live(
        rm_running,
        lambda r: curve(
            r,
            training_charts.loss_curves(
                r.trainer.history,
                smoothing=0.6,
                target=r.target,
                large=large,
                title="Bradley–Terry loss and held-out accuracy",
                height=300,
            ),
            key="align_rm_chart",
        ),
        rm_signature,
    )
    rm = rm_slot.run
    if rm is not None and not rm_running and rm.step > 0:
        st.subheader("Best-of-n")
        c1, c2 = ui.columns([3, 1])
        with c1:
            bon_prompt = ui.limited_text(
                "Prompt", key="align_bon_prompt", max_chars=training.MAX_FIELD_CHARS, what="prompt", area=False
            )
        with c2:
            st.slider("n", 1, reward.MAX_N, key="align_bon_n")
        if st.button("Sample n answers and score them", key="align_bon_go", disabled=lm is None):
            with ui.friendly_errors(), st.spinner("Sampling and scoring…"):
                n = int(st.session_state["align_bon_n"])
                answers = reward.sample_answers(lm, bon_prompt, n, seed=int(st.session_state["align_seed"]))
                scores = reward.rewards(rm.model, rm.tokenizer, bon_prompt, answers)
                st.session_state[BON] = reward.best_of_n(answers, scores)
        frame = st.session_state.get(BON)
        if frame is not None:
            st.plotly_chart(charts.best_of_n_curve(frame, large=large), width="stretch", key="align_bon_chart")
            best = frame.iloc[-1]
            st.success(
                f"Best of {len(frame)}: answer {best['picked']} (reward {best['reward of the picked answer']:.2f})"
                f": {best['answer']}"
            )
            st.caption(
                "The more answers sampled, the higher the best reward, but the reward model is only a "
                "model of people's taste: push it hard enough and it picks what fools it (reward hacking)."
            )
