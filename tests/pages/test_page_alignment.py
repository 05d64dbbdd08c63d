"""The Alignment page through AppTest: the bundled pairs, making pairs by picking the better of two
sampled answers, the objective before training (every loss ln 2), DPO live from the page (held-out
accuracy rises, the shared model stays untouched), the reward model with best-of-n,
and the three stages on one model on the Live training page."""

from __future__ import annotations

import math

import pytest
import torch
from streamlit.testing.v1 import AppTest

from app import ROOT
from explorer import training
from explorer.training import preferences, reward
from tests.figures import figures


@pytest.fixture(autouse=True)
def _own_slots(monkeypatch):
    monkeypatch.setattr(training.limits, "SLOTS", training.TrainingSlots(2))


def open_page(view: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in state.items():
        at.session_state[k] = v
    if view:
        at.session_state["align_view"] = view
    at.run()
    at.switch_page("pages/alignment.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success]
    return " ".join(parts)


def charts(at: AppTest) -> list[dict]:
    return figures(at)


def finish(at: AppTest, key: str) -> training.Run:
    run = at.session_state[key]
    assert training.wait(run, timeout=300), "the run did not end"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return run


def test_bundled_pairs_are_listed_with_their_kinds(tiny_clm_dir):
    at = open_page(model_id_clm=str(tiny_clm_dir))
    table = at.dataframe[0].value
    assert list(table.columns) == ["prompt", "chosen", "rejected", "kind"]
    assert len(table) == len(preferences.bundled_pairs()) == 80
    assert "80 pairs from the bundled pairs: 20 helpful, 15 concise, 15 polite, 30 safe." in text(at)


def test_picking_the_better_of_two_answers_makes_a_pair(tiny_clm_dir):
    at = open_page(model_id_clm=str(tiny_clm_dir))
    at.text_input(key="align_hf_prompt").set_value("Why do cats purr?").run()
    at.button(key="align_sample").click().run()
    assert not at.exception
    prompt, answers = at.session_state["align_sampled"]
    assert prompt == "Why do cats purr?" and len(answers) == 2 and answers[0] != answers[1]
    at.button(key="align_pick_1").click().run()
    mine = at.session_state["align_mine"]
    assert len(mine) == 1 and mine[0].chosen == answers[1].strip() and mine[0].rejected == answers[0].strip()
    assert mine[0].kind == "yours" and "Your pairs: 1" in text(at)
    # "Only yours" with one pair says how many are needed and trains nothing
    at.radio(key="align_source").set_value("mine").run()
    assert f"DPO here needs at least {preferences.MIN_PAIRS}" in text(at)
    at.radio(key="align_source").set_value("both").run()
    assert "81 pairs from the bundled pairs and 1 of yours" in text(at)
    at.button(key="align_forget").click().run()
    assert at.session_state["align_mine"] == []


def test_the_objective_before_training_is_ln2_for_every_pair(tiny_clm_dir):
    at = open_page("The objective", model_id_clm=str(tiny_clm_dir))
    metric = next(m for m in at.metric if m.label == "Mean DPO loss now")
    assert metric.value == f"{math.log(2):.3f}"
    table = next(d.value for d in at.dataframe if "DPO loss" in d.value.columns)
    assert len(table) == 80 and (table["DPO loss"] - math.log(2)).abs().max() < 1e-3


def test_dpo_from_the_page_raises_held_out_accuracy_and_leaves_the_shared_model_alone(tiny_clm_dir):
    from explorer import load

    shared = load("clm", str(tiny_clm_dir)).model
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    at = open_page("Train with DPO", model_id_clm=str(tiny_clm_dir))
    at.selectbox(key="align_steps").set_value(50).run()
    at.selectbox(key="align_lr").set_value(1e-3).run()
    at.button(key="align_dpo_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = finish(at, "align_dpo_run")
    assert run.step == 50 and run.status == "done"
    hist = run.trainer.history
    assert hist[0]["accuracy"] == pytest.approx(0.5, abs=0.01)  # all rewards 0 before training: ties
    assert run.trainer.last("accuracy") >= 0.8
    curves = next(c for c in charts(at) if any(t.get("name") == "accuracy, held-out pairs" for t in c["data"]))
    acc = next(t for t in curves["data"] if t["name"] == "accuracy, held-out pairs")
    assert acc["y"][-1] >= 0.8
    assert "Held-out preference accuracy: **50%** before" in text(at)
    assert "Before and after" in [s.value for s in at.subheader]
    for k, v in shared.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the button now offers more steps; Reset forgets the copy
    assert at.button(key="align_dpo_start").label == "Train 50 more steps"
    at.button(key="align_dpo_reset").click().run()
    assert at.session_state["align_dpo_run"] is None


N_BEST = 8


def test_reward_model_then_best_of_n(tiny_clm_dir, tiny_mlm_dir):
    at = open_page("Reward model & best-of-n", model_id_clm=str(tiny_clm_dir), model_id_encoder=str(tiny_mlm_dir))
    at.selectbox(key="align_rm_steps").set_value(30).run()
    at.button(key="align_rm_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = finish(at, "align_rm_run")
    assert run.step == 30
    at.slider(key="align_bon_n").set_value(N_BEST).run()
    at.session_state["align_seed"] = 3  # samples whose best changes with n, so the check below bites
    at.button(key="align_bon_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.session_state["align_bon"]
    assert len(frame) == N_BEST and frame["picked"].nunique() > 2
    # computed again here: the same n samples, each scored alone by the trained reward model
    from explorer import load

    prompt = at.session_state["align_bon_prompt"]
    answers = reward.sample_answers(
        load("clm", str(tiny_clm_dir)), prompt, N_BEST, seed=int(at.session_state["align_seed"])
    )
    scores = [reward.rewards(run.model, run.tokenizer, prompt, [a])[0] for a in answers]
    for n in range(1, N_BEST + 1):
        best = max(range(n), key=lambda i: scores[i])
        row = frame.iloc[n - 1]
        assert row["n"] == n and row["picked"] == best + 1 and row["answer"] == answers[best], n
        assert row["reward of the picked answer"] == pytest.approx(scores[best], abs=1e-4), n
        assert row["mean reward of one sample"] == pytest.approx(sum(scores[:n]) / n, abs=1e-4), n
    assert f"Best of {N_BEST}: answer {frame.iloc[-1]['picked']} (reward " in text(at)


def test_three_stages_on_one_model_on_the_training_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/training.py")
    at.run()
    at.radio(key="train_mode").set_value("stages").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {"pretrain": "Start pretraining", "sft": "Start supervised fine-tuning", "dpo": "Start DPO training"}
    for stage in ("pretrain", "sft", "dpo"):
        assert at.button(key="stages_start").label == labels[stage]  # once "Start alignment (dpo)"
        at.button(key="stages_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        run = at.session_state["stages_run"]
        assert run is not None, stage
        assert training.wait(run, timeout=300)
        at.run()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    stages = at.session_state["stages_pipeline"]
    # each stage went on from the model the one before left: SFT kept the pretrained language (a model
    # fine-tuned from fresh weights would not know the text), DPO's reference is the SFT model
    perplexity = stages.figures_table()["held-out perplexity"]
    assert perplexity.iloc[1] < 1.6 * perplexity.iloc[0], perplexity.tolist()
    sft, pretrain = stages.runs["sft"], stages.runs["pretrain"]
    assert sft.tokenizer is pretrain.tokenizer and stages.runs["dpo"].extra["reference"].model is sft.model
    table = stages.table()
    assert list(table.columns) == [
        "probe",
        "1. Pretraining (self-supervised)",
        "2. Supervised fine-tuning",
        "3. Alignment (DPO)",
    ]
    assert all(a.endswith("Beep boop!") for a in table["2. Supervised fine-tuning"])  # SFT taught the persona
    assert not any("Beep boop!" in a for a in table["1. Pretraining (self-supervised)"])
    dpo_run = stages.runs["dpo"].trainer
    assert dpo_run.last("train_accuracy") >= 0.9  # it learnt the preferences it was shown
    assert "What the model answers after each stage" in [s.value for s in at.subheader]
    # the figures of every stage, computed by the run and shown on the page
    assert "What each stage did, measured" in [s.value for s in at.subheader]
    figures = stages.figures_table().set_index("stage")
    assert list(figures.index) == list(table.columns[1:])
    shown = [t for t in at.table if "held-out perplexity" in str(t.value.columns.tolist())]
    assert shown and list(shown[0].value.index) == list(figures.index)
    assert figures["answers as Pip"].iloc[0] == 0 and figures["answers as Pip"].iloc[1] >= 0.9
    assert figures["harmful requests refused"].iloc[2] > figures["harmful requests refused"].iloc[1]


def test_rlhf_tab_runs_rloo_against_your_reward_model_and_keeps_the_shared_model(tiny_clm_dir, tiny_mlm_dir):
    from explorer import load

    shared = load("clm", str(tiny_clm_dir)).model
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    at = open_page("Reward model & best-of-n", model_id_clm=str(tiny_clm_dir), model_id_encoder=str(tiny_mlm_dir))
    at.selectbox(key="align_rm_steps").set_value(30).run()
    at.button(key="align_rm_start").click().run()
    rm = finish(at, "align_rm_run")
    at.session_state["align_view"] = "Reinforcement learning (RLHF)"
    at.run()
    assert "Scored by **your reward model** (the previous tab's, after 30 steps)" in text(at)
    assert "REINFORCE leave-one-out" in text(at) and "k1 estimator" in text(at)
    at.selectbox(key="align_rl_steps").set_value(10).run()
    at.selectbox(key="align_rl_k").set_value(4).run()
    at.button(key="align_rl_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = finish(at, "align_rl_run")
    assert run.step == 10 and run.status == "done" and run.extra["k"] == 4
    hist = run.trainer.history
    assert {"eval_reward", "eval_kl", "people_accuracy"} <= set(hist[0]) and {"eval_reward", "eval_kl"} <= set(hist[-1])
    assert hist[0]["eval_kl"] == pytest.approx(0, abs=1e-4)  # before RL the policy is the reference
    assert all({"reward", "kl", "length", "entropy"} <= set(h) for h in hist[1:])
    fig = next(c for c in charts(at) if any(t.get("name") == "reward: held-out prompts" for t in c["data"]))
    names = {t["name"] for t in fig["data"]}
    assert {"kl to the reference: train (k1)", "people's held-out pairs: prefer the chosen answer"} <= names
    # the reward the page shows is the participant's reward model's score of the probe's answer
    shown = text(at)
    assert f"mean reward **{hist[0]['eval_reward']:.2f}** before" in shown
    assert "Before and after" in [s.value for s in at.subheader]
    probe = run.extra["before"][0]
    assert probe["reward"] == pytest.approx(
        reward.rewards(rm.model, rm.tokenizer, probe["probe"], [probe["output"]])[0], abs=1e-4
    )
    for k, v in shared.state_dict().items():
        assert torch.equal(v, before[k]), k
    at.button(key="align_rl_reset").click().run()
    assert at.session_state["align_rl_run"] is None


def test_rlhf_without_a_reward_model_trains_the_bundled_one_first(tiny_clm_dir, tiny_mlm_dir):
    at = open_page("Reinforcement learning (RLHF)", model_id_clm=str(tiny_clm_dir), model_id_encoder=str(tiny_mlm_dir))
    assert "Scored by a reward model trained on these pairs" in text(at)
    at.selectbox(key="align_rl_steps").set_value(10).run()
    at.session_state["align_rl_beta"] = 0.0  # no leash
    at.run()
    at.button(key="align_rl_start").click().run()
    run = finish(at, "align_rl_run")
    assert run.status == "done" and run.extra["beta"] == 0.0 and "β = 0" in run.description
    assert not at.exception


def test_three_stages_with_rlhf_as_the_third_trains_a_reward_model_then_rl(monkeypatch, tiny_mlm_dir):
    """The third stage chosen as RLHF (a few steps per stage; a tiny encoder for the reward model): the RL
    chart is drawn, the reference is the SFT model, and the table's third column is RLHF's."""
    import copy

    from explorer.ui import stages_view

    lesson = copy.deepcopy(stages_view.LESSON)
    for stage, steps in {"pretrain": 12, "sft": 3, "rlhf": 3}.items():
        lesson[stage]["steps"] = steps
    monkeypatch.setattr(stages_view, "LESSON", lesson)
    prompts = stages_view.stages.measured_prompts(lesson)
    monkeypatch.setattr(stages_view.stages, "measured_prompts", lambda settings: prompts[:4])  # fewer to measure
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["model_id_encoder"] = str(tiny_mlm_dir)
    at.run()
    at.switch_page("pages/training.py")
    at.run()
    at.radio(key="train_mode").set_value("stages").run()
    at.selectbox(key="stages_alignment").set_value("rlhf").run()
    labels = {"pretrain": "Start pretraining", "sft": "Start supervised fine-tuning", "rlhf": "Start RLHF"}
    for stage in ("pretrain", "sft", "rlhf"):
        if stage == "rlhf":
            assert "first a reward model" in " ".join(c.value for c in at.caption)
        assert at.button(key="stages_start").label == labels[stage]
        at.button(key="stages_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        run = at.session_state["stages_run"]
        assert training.wait(run, timeout=300), stage
        at.run()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    pipe = at.session_state["stages_pipeline"]
    assert pipe.alignment == "rlhf" and pipe.next_stage is None
    rl = pipe.runs["rlhf"]
    assert rl.extra["reference"].model is pipe.runs["sft"].model and rl.step == 3
    assert any(h.get("reward") is not None for h in rl.trainer.history)
    titles = " ".join(str(f.get("layout", {}).get("annotations", "")) for f in charts(at))
    assert "reward" in titles.lower() and "KL" in titles  # the RL chart of the finished stage
    assert list(pipe.table().columns)[-1] == "3. Alignment (RLHF)"
    assert "3. Alignment (RLHF)" in list(pipe.figures_table()["stage"])
