"""The three stages on one model (explorer.training.stages), on the lesson's own data and settings
(assets/examples/training.toml) with a few steps per stage: each stage starts from the model the stage
before it left (a copy of its own, the earlier model kept as it was), DPO's reference is the SFT model,
and the stages run in order."""

from __future__ import annotations

import pytest
import torch

from explorer import training
from explorer.errors import ExplorerError
from explorer.training import pair_scores, stages
from explorer.training.data import corpus_text

STEPS = {"pretrain": 12, "sft": 3, "dpo": 2, "rlhf": 2}


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _equal(model, state: dict[str, torch.Tensor]) -> bool:
    now = model.state_dict()
    return now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in state)


def _storage(model) -> set[int]:
    return {p.data_ptr() for p in model.parameters()}


def _run(pipeline: stages.ThreeStages, stage: str) -> training.Run:
    run = pipeline.new_run(stage, steps=STEPS[stage])
    pipeline.runs[stage] = run
    assert training.train(run.trainer, STEPS[stage]) == "done", stage
    pipeline.finish(stage)
    return run


@pytest.fixture(scope="module")
def lesson():
    """The lesson's data and settings as the page uses them, one probe, no measured prompts (fast)."""
    return stages.default_stages(probes=["What is snow?"])


def test_the_lesson_reads_its_data_and_settings_from_training_toml(lesson):
    from explorer import examples

    toml = examples.load("training")["stages"]
    assert lesson.settings == toml and lesson.size == toml["size"] and lesson.seed == toml["seed"]
    assert lesson.text == corpus_text(toml["corpus"])
    assert lesson.sft_pairs == stages.sft_pairs(toml) and lesson.sft_pairs
    assert lesson.preference_pairs == stages.stage_preferences(toml)
    assert lesson.prompts == stages.measured_prompts(toml, "held-out")
    for stage in ("pretrain", "sft", *stages.ALIGNMENTS):
        p = lesson.plan(stage)
        s = toml[stage]
        assert (p.steps, p.lr, p.batch, p.seq_len) == (s["steps"], s["lr"], s["batch"], s["seq_len"]), stage


def test_each_stage_starts_from_the_model_the_stage_before_it_left(lesson):
    pipeline = stages.three_stages(
        lesson.size,
        lesson.text,
        lesson.sft_pairs,
        lesson.preference_pairs,
        lesson.probes,
        seed=lesson.seed,
        settings=lesson.settings,
    )
    assert pipeline.next_stage == "pretrain"
    with pytest.raises(ExplorerError, match="next stage is 1. Pretraining"):
        pipeline.new_run("sft")

    pretrain = _run(pipeline, "pretrain")
    assert pretrain.mode == "scratch" and pretrain.step == STEPS["pretrain"]
    pretrained = _state(pretrain.model)

    # SFT: a copy of the pretrained model (its weights, its tokenizer), not a new model
    sft = pipeline.new_run("sft", steps=STEPS["sft"])
    assert sft.mode == "sft" and sft.tokenizer is pretrain.tokenizer
    assert sft.trainer.task.pairs == lesson.sft_pairs
    assert _equal(sft.model, pretrained), "SFT does not start from the pretrained weights"
    assert not _storage(sft.model) & _storage(pretrain.model)  # a copy of its own
    pipeline.runs["sft"] = sft
    assert training.train(sft.trainer, STEPS["sft"]) == "done"
    pipeline.finish("sft")
    assert _equal(pretrain.model, pretrained)  # the pretrained model stays as it was
    assert not _equal(sft.model, pretrained)  # SFT trained its copy
    fine_tuned = _state(sft.model)

    # DPO: the policy starts as the SFT model, which is also its reference
    with pytest.raises(ExplorerError):
        pipeline.new_run("sft")  # done already: the next stage is DPO
    run = pipeline.new_run("dpo", steps=STEPS["dpo"])
    assert run.mode == "dpo" and run.tokenizer is pretrain.tokenizer
    reference = run.extra["reference"]
    assert reference.model is sft.model, "DPO's reference is not the SFT model"
    assert _equal(run.model, fine_tuned), "DPO does not start from the SFT model's weights"
    assert not _storage(run.model) & _storage(sft.model)
    task = run.trainer.task
    assert [p.prompt for p in task.pairs] == [p.prompt for p in lesson.preference_pairs]
    assert task.beta == lesson.settings["dpo"]["beta"] and task.nll_weight == lesson.settings["dpo"]["nll_weight"]
    ref_c, ref_r = pair_scores.pair_log_probs(sft.model, sft.tokenizer, task.encoded)  # the SFT model's own scores
    assert torch.allclose(task.ref_chosen, ref_c, atol=1e-4) and torch.allclose(task.ref_rejected, ref_r, atol=1e-4)
    pipeline.runs["dpo"] = run
    assert training.train(run.trainer, STEPS["dpo"]) == "done"
    pipeline.finish("dpo")
    assert _equal(sft.model, fine_tuned) and not _equal(run.model, fine_tuned)
    assert pipeline.next_stage is None
    assert list(pipeline.table().columns) == ["probe", *[stages.STAGE_NAMES[s] for s in stages.STAGES]]
    with pytest.raises(ExplorerError, match="all are done"):
        pipeline.new_run("dpo")


def test_a_stage_cannot_be_finished_before_it_has_run(lesson):
    pipeline = stages.three_stages(
        lesson.size,
        lesson.text,
        lesson.sft_pairs,
        lesson.preference_pairs,
        lesson.probes,
        seed=lesson.seed,
        settings=lesson.settings,
    )
    with pytest.raises(ExplorerError, match="has not run yet"):
        pipeline.finish("pretrain")
    with pytest.raises(ExplorerError, match="has not run yet"):
        pipeline.model_after("sft")


def test_rlhf_as_the_third_stage_starts_from_the_sft_model_and_scores_with_a_reward_model(lesson, tiny_mlm_dir):
    """The third stage's other way: a reward model (the encoder with a score head) trained on the lesson's pairs
    in the run's preparation, then RL of a copy of the SFT model, whose reference is the SFT model itself."""
    from explorer import load

    encoder = load("encoder", str(tiny_mlm_dir))
    pipeline = stages.default_stages(probes=["What is snow?"], alignment="rlhf")
    pipeline.prompts = []  # no measured prompts (fast)
    assert pipeline.stages == ("pretrain", "sft", "rlhf")
    _run(pipeline, "pretrain")
    sft = _run(pipeline, "sft")
    fine_tuned = _state(sft.model)
    with pytest.raises(ExplorerError, match="next stage is 3. Alignment \\(RLHF\\)"):
        pipeline.new_run("dpo")
    run = pipeline.new_run("rlhf", steps=STEPS["rlhf"], encoder=encoder)
    assert run.mode == "rlhf" and run.tokenizer is sft.tokenizer
    assert run.extra["reference"].model is sft.model, "RL's reference is not the SFT model"
    assert _equal(run.model, fine_tuned) and not _storage(run.model) & _storage(sft.model)
    task = run.trainer.task
    r = lesson.settings["rlhf"]
    assert (task.k, task.beta) == (r["k"], r["beta"]) and type(task).__name__ == "RLOOTask"
    assert set(task.prompts) <= {p.prompt for p in lesson.preference_pairs}
    run.prepare(lambda text, f: None, lambda: None)  # the reward model, trained on the lesson's pairs
    group = task.reward_fn("What is snow?", ["Snow is frozen rain. Beep boop!", "I cannot help with that."])
    assert len(group) == 2 and all(isinstance(x, float) for x in group)
    pipeline.runs["rlhf"] = run
    assert training.train(run.trainer, STEPS["rlhf"]) == "done"
    assert {"reward", "kl"} <= set(run.trainer.history[-1])
    pipeline.finish("rlhf")
    assert _equal(sft.model, fine_tuned) and not _equal(run.model, fine_tuned)
    assert pipeline.next_stage is None
    assert list(pipeline.table().columns) == ["probe", *[stages.STAGE_NAMES[s] for s in pipeline.stages]]
    with pytest.raises(ExplorerError, match="Unknown alignment"):
        stages.default_stages(alignment="ppo")
