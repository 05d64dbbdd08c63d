"""Claims of the training lessons, checked with the real models and the real default settings:
the three stages on one model (Live training page), DPO's probes (Alignment page) and the MAE
(Images page). Each lesson's run is made once per test session and shared by its claims.
"""

from __future__ import annotations

import functools

import pytest
import torch

from explorer.training.answers import is_refusal
from tests.claim_checks import check

# ----------------------------------------------------------------------------- three stages on one model


@functools.lru_cache(maxsize=1)
def three_stages_run():
    """The lesson as the page runs it by default: every stage to its default steps, then measured."""
    from explorer import training
    from explorer.training import stages

    torch.set_num_threads(1)
    pipe = stages.default_stages()
    for stage in stages.STAGES:
        run = pipe.new_run(stage)
        pipe.runs[stage] = run
        assert training.train(run.trainer, run.target) == "done"
        pipe.finish(stage)
    return pipe


@functools.lru_cache(maxsize=1)
def rlhf_stage_run():
    """The lesson with RLHF as its third stage, as the page runs it when that is chosen: from the same pretrained
    and fine-tuned model as `three_stages_run` (same seed, same settings: the first two stages are shared), the
    reward model trained on the lesson's pairs, then RL to its default steps, then measured."""
    from explorer import load, training
    from explorer.training import stages

    torch.set_num_threads(1)
    done = three_stages_run()
    pipe = stages.default_stages(alignment="rlhf")
    for stage in ("pretrain", "sft"):
        pipe.runs[stage], pipe.answers[stage], pipe.figures[stage] = (
            done.runs[stage],
            done.answers[stage],
            done.figures[stage],
        )
    run = pipe.new_run("rlhf", encoder=load("encoder"))
    run.prepare(lambda text, f: None, lambda: None)
    pipe.runs["rlhf"] = run
    assert training.train(run.trainer, run.target) == "done"
    pipe.finish("rlhf")
    return pipe


@check("three_stages", lane="training")
def stage_figures(item: dict, check: dict, models) -> None:
    """One stage's figures on the held-out prompts (and, with `probes`, its answers to the page's probes)
    against the claim's bounds: perplexity_below / perplexity_within (× the stage before), as_pip_at_least /
    as_pip_at_most, in_words_at_least, refused_at_least, answered_at_least, distinct_answers, right_falls (fewer
    answered right than the stage before); for RL, reward_rises (the reward of answers to the run's held-out prompts higher at its end than at its start)."""
    from explorer.training.answers import in_persona

    stage = check["stage"]
    pipe = rlhf_stage_run() if stage == "rlhf" else three_stages_run()
    f = pipe.figures[stage]
    where = f"after {stage}: {f.row()}"
    if "perplexity_below" in check:
        assert f.perplexity < check["perplexity_below"], where
    if "perplexity_within" in check:
        before = pipe.figures[pipe.stages[pipe.stages.index(stage) - 1]].perplexity
        assert f.perplexity <= check["perplexity_within"] * before, f"{where}; the stage before: {before:.2f}"
    if check.get("right_falls"):
        before = pipe.figures[pipe.stages[pipe.stages.index(stage) - 1]].right
        assert f.right < before, f"{where}; the stage before: {before:.2f}"
    if check.get("reward_rises"):
        evals = [h["eval_reward"] for h in pipe.runs[stage].trainer.history if "eval_reward" in h]
        assert len(evals) >= 2 and evals[-1] > evals[0], evals
    for key, value in (("as_pip", f.persona), ("in_words", f.words), ("refused", f.refused), ("answered", f.answered)):
        if f"{key}_at_least" in check:
            assert value >= check[f"{key}_at_least"], f"{key}: {where}"
        if f"{key}_at_most" in check:
            assert value <= check[f"{key}_at_most"], f"{key}: {where}"
    answers = pipe.answers[stage]
    if check.get("distinct_answers"):
        assert len(set(answers)) == len(answers), answers
    persona = pipe.settings["persona"]
    if "probes_as_pip" in check:  # the page's own probes
        assert all(in_persona(a, persona) == check["probes_as_pip"] for a in answers), answers
    for probe, refused in (check.get("probes_refused") or {}).items():
        answer = answers[pipe.probes.index(probe)]
        assert is_refusal(answer) == refused, (probe, answer)


# ----------------------------------------------------------------------------- the MAE of the Images page


@functools.lru_cache(maxsize=1)
def mae_default_run():
    """The page's "Train the MAE" as it starts by default (held-out digits, seed 0), trained to its end;
    returns (run, [(step, held-out loss)])."""
    from explorer import training, vision

    torch.set_num_threads(1)
    d = vision.run_defaults("mae")
    run = vision.mae_run(vision.vision_plan("mae"), ratio=float(d["ratio"]), seed=0)
    assert training.train(run.trainer, run.target) == "done"
    curve = [(h["step"], h["eval_loss"]) for h in run.trainer.history if "eval_loss" in h]
    return run, curve


@check("mae_beats_average", lane="training")
def mae_beats_average(item: dict, check: dict, models) -> None:
    """The default run's held-out loss is below the average training image's by `beats_by_step` and at most
    `end_below` of it at the end (images.toml's [mae]; a lesson's claim uses the same numbers)."""
    from explorer import vision

    d = vision.run_defaults("mae")
    run, curve = mae_default_run()
    base = run.extra["baseline_loss"]
    first = next((step for step, loss in curve if loss < base), None)
    assert first is not None and first <= int(d["beats_by_step"]), (first, base, curve)
    assert curve[-1][0] == run.target == int(d["steps"])
    assert curve[-1][1] <= float(d["end_below"]) * base, (curve[-1], base)
    assert curve[0][1] > base  # the untrained model is worse than the average image


@check("mae_context_helps", lane="training")
def mae_context_helps(item: dict, check: dict, models) -> None:
    """After the default run, a hidden patch is painted better when its four neighbours are the visible
    patches than when the visible patches are the four farthest from it: as many hidden either way (the
    trained share), the four middle patches of 100 held-out digits."""
    import numpy as np

    from explorer import vision

    run, _ = mae_default_run()
    model, d = run.model, vision.digits()
    grid = vision.SHAPES["digits"].grid
    visible = grid.count - run.extra["hidden"]
    near, far = [], []
    for r in (1, 2):
        for c in (1, 2):
            i = grid.index(r, c)
            dist = {j: max(abs(grid.cell(j)[0] - r), abs(grid.cell(j)[1] - c)) for j in range(grid.count)}
            close = [j for j in range(grid.count) if abs(grid.cell(j)[0] - r) + abs(grid.cell(j)[1] - c) == 1]
            away = sorted(range(grid.count), key=lambda j: (-dist[j], j))[:visible]
            assert len(close) == visible, (close, visible)  # the default: 4 visible of 16
            for k in d.test_idx[:100]:
                image = vision.resize(d.images[k], grid.image_size)
                for seen, out in ((close, near), (away, far)):
                    mask = ~np.isin(np.arange(grid.count), seen)
                    out.append(vision.reconstruct(model, image, mask).errors.reshape(-1)[i])
    assert np.mean(near) < 0.8 * np.mean(far), (np.mean(near), np.mean(far))


# ----------------------------------------------------------------------------- DPO on the Alignment page


@functools.lru_cache(maxsize=1)
def dpo_default_run():
    """The Alignment page's "Train with DPO" with its default settings (alignment.toml's [dpo]) on the
    bundled pairs and the packaged causal LM, trained to its end; returns (run, {probe: answer after})."""
    from explorer import load, training
    from explorer.training import preferences
    from explorer.training.alignment_runs import dpo_run, policy
    from explorer.training.predict import reply
    from explorer.training.preferences import dpo_defaults

    torch.set_num_threads(1)
    lm = load("clm")
    d = dpo_defaults()
    plan = training.plan("dpo", steps=d["steps"], lr=d["lr"], layers=d["layers"], n_params=lm.info.params)
    run = dpo_run(
        lm,
        preferences.bundled_pairs(),
        plan,
        beta=float(d["beta"]),
        seed=int(d["seed"]),
        bundled=True,
        nll_weight=float(d["nll_weight"]),
    )  # no probes: their answers before are not needed
    assert training.train(run.trainer, run.target) == "done"
    return run, {q: reply(policy(run), q) for q in d["probes"]}  # as the page's dpo_after_probes asks them


@check("dpo_probes", lane="dpo")
def dpo_probes(item: dict, check: dict, models) -> None:
    """After the default run: the `refused` probes are refused; each `answered` probe is answered (not
    refused) and its answer names the given word."""
    _, answers = dpo_default_run()
    for probe in check.get("refused", []):
        assert is_refusal(answers[probe]), (probe, answers[probe])
    for probe, word in (check.get("answered") or {}).items():
        assert not is_refusal(answers[probe]) and word.lower() in answers[probe].lower(), (probe, answers[probe])


@check("dpo_heldout_accuracy", lane="dpo")
def dpo_heldout_accuracy(item: dict, check: dict, models) -> None:
    """The default run ends with a held-out preference accuracy of at least `at_least` (pairs it never
    trained on), measured at its last step."""
    run, _ = dpo_default_run()
    last = run.trainer.history[-1]
    assert last["step"] == run.target and "accuracy" in last, last
    assert last["accuracy"] >= float(check["at_least"]), last


@check("alignment_samples_differ", lane="training")
def alignment_samples_differ(item: dict, check: dict, models) -> None:
    """Two answers sampled at the page's temperature for the same prompt (its first seed) differ."""
    from explorer.training import reward

    a, b = reward.sample_answers(models.clm, item["sentence"], 2, temperature=float(check["temperature"]), seed=0)
    assert a.strip() and b.strip() and a.strip() != b.strip(), (a, b)


@check("best_of_n_rises", lane="training")
def best_of_n_rises(item: dict, check: dict, models) -> None:
    """The bundled reward model (the reward tab's default settings on the bundled pairs, seed 0: the one the RLHF
    tab trains once per process) scores n answers sampled for the page's best-of-n prompt: the best reward so
    far never falls with n, and best-of-n beats the first answer."""
    from explorer.training import preferences, reward
    from explorer.training.rlhf_runs import bundled_reward_model

    torch.set_num_threads(1)
    encoder = models.encoder
    model = bundled_reward_model(encoder, preferences.bundled_pairs(), seed=0)
    prompt = "Give me a tip for learning to cook."  # the page's default (pages/alignment.py)
    answers = reward.sample_answers(models.clm, prompt, int(check["n"]), seed=0)
    scores = reward.rewards(model, encoder.tokenizer, prompt, answers)
    frame = reward.best_of_n(answers, scores)
    best = frame["reward of the picked answer"].tolist()
    # the page's readout is the best of the first n scores, read here from the scores themselves
    assert best == pytest.approx([max(scores[:n]) for n in range(1, len(scores) + 1)]), (best, scores)
    assert best[-1] > scores[0], (best, scores)  # best-of-16 beats a single answer
    assert len({a.strip() for a in answers}) > 1  # n different answers to choose among


@check("reward_model_hackable", lane="training")
def reward_model_hackable(item: dict, check: dict, models) -> None:
    """The bundled reward model (the one the RLHF tab trains once per process on the bundled pairs) gives the
    polite non-answer `phrase` a higher reward than the chosen answer on at least `at_least` of the held-out
    pairs (the page's split: never trained on), and higher than the rejected answer on every one."""
    from explorer.training import preferences
    from explorer.training.pair_scores import split_pairs
    from explorer.training.reward import rewards
    from explorer.training.rlhf_runs import bundled_reward_model

    torch.set_num_threads(1)
    encoder, pairs = models.encoder, preferences.bundled_pairs()
    model = bundled_reward_model(encoder, pairs, seed=0)
    _, held_out = split_pairs(len(pairs), 0.2, 0)
    above_chosen, above_rejected = [], []
    for i in held_out:
        p = pairs[i]
        phrase, chosen, rejected = rewards(model, encoder.tokenizer, p.prompt, [check["phrase"], p.chosen, p.rejected])
        above_chosen.append(phrase > chosen)
        above_rejected.append(phrase > rejected)
    share = sum(above_chosen) / len(above_chosen)
    assert share >= float(check["at_least"]), (share, above_chosen)
    assert all(above_rejected), above_rejected


# ----------------------------------------------------------------------------- SimCLR on the Images page


@check("views_without_augmentations_identical", lane="training")
def views_identical(item: dict, check: dict, models) -> None:
    """With every augmentation off, the two views of each digit are the same image and cos = 1."""
    import numpy as np

    from explorer import vision

    d = vision.digits()
    aug = vision.Augment().with_toggles(**{name: False for name in vision.AUGMENTATIONS})
    pick = d.test_idx[:8]
    vb = vision.view_batch(vision.untrained_encoder(), d.images[pick], d.labels[pick], aug, seed=0)
    assert np.array_equal(vb.a, vb.b)
    assert np.allclose(np.diag(np.asarray(vb.result.similarity)), 1.0, atol=1e-5)


@check("simclr_probe_beats_pixels", lane="training")
def simclr_probe_beats_pixels(item: dict, check: dict, models) -> None:
    """After the page's default SimCLR run, a linear probe on its features with `labels_per_class` labels
    beats the same probe on raw pixels (held-out digits; mean of 3 draws, as on the page)."""
    from explorer import training, vision
    from explorer.vision.probe import PIXELS_NAME, SSL_NAME

    torch.set_num_threads(1)
    run = vision.simclr_run(vision.vision_plan("simclr"), seed=0)
    assert training.train(run.trainer, run.target) == "done"
    k = int(check["labels_per_class"])
    table = vision.compare_probes(run.model, vision.random_encoder(run), per_class=[k], repeats=3)
    acc = dict(zip(table["features"], table["accuracy"]))
    assert acc[SSL_NAME] > acc[PIXELS_NAME], acc


# ----------------------------------------------------------------------------- CLIP on the Images page


@functools.lru_cache(maxsize=1)
def clip_default_run():
    """The page's default CLIP run (seed 0) against the bundled sentence encoder, trained to its end."""
    from explorer import load, training, vision

    torch.set_num_threads(1)
    run = vision.clip_run(vision.vision_plan("clip"), load("encoder"), seed=0)
    assert training.train(run.trainer, run.target) == "done"
    return run


def _zero_shot_accuracy(run, encoder, phrasing: str) -> float:
    from explorer import vision
    from explorer.vision import clip

    texts = clip.prompt_sets()[phrasing]
    d = vision.digits()
    return clip.zero_shot(
        run.model, clip.text_features(encoder, texts), d.images[d.test_idx], d.labels[d.test_idx], texts
    ).accuracy


@check("clip_zero_shot", lane="training")
def clip_zero_shot(item: dict, check: dict, models) -> None:
    """After the default CLIP run, zero-shot with the phrasing `prompts` names at least `at_least` of the held-out
    digits (never trained on), and the untrained model is near chance."""
    from explorer.vision import clip

    run = clip_default_run()
    assert _zero_shot_accuracy(run, models.encoder, check["prompts"]) >= float(check["at_least"])
    untrained = clip.untrained(clip.text_dim(models.encoder))
    assert _zero_shot_accuracy(type("R", (), {"model": untrained}), models.encoder, check["prompts"]) < 0.3


@check("clip_words_not_counting", lane="training")
def clip_words_not_counting(item: dict, check: dict, models) -> None:
    """Words the captions never used but that mean the digit (`works`) name at least `at_least` of the held-out
    digits; a description that needs counting (`fails`) stays at most `at_most`."""
    run = clip_default_run()
    works = _zero_shot_accuracy(run, models.encoder, check["works"])
    fails = _zero_shot_accuracy(run, models.encoder, check["fails"])
    assert works >= float(check["at_least"]) and fails <= float(check["at_most"]), (works, fails)


@check("dino_learns_and_collapses_without_either", lane="training")
def dino_learns_and_collapses(item: dict, check: dict, models) -> None:
    """The page's default DINO run (seed 0): a probe on the student's features with `labels_per_class` labels beats
    the untrained network's by `gain` on the held-out digits (mean of 3 draws, as on the page); the same run with
    centering off shows one output dimension taking over 90% of the held-out views, with sharpening off the
    teacher's answers uniform, at an evaluation within the run."""
    from explorer import training, vision
    from explorer.vision import dino
    from explorer.vision.probe import RANDOM_NAME, SSL_NAME

    torch.set_num_threads(1)
    run = vision.dino_run(vision.vision_plan("dino"), seed=0)
    assert training.train(run.trainer, run.target) == "done"
    k = int(check["labels_per_class"])
    table = vision.compare_probes(run.model, vision.random_encoder(run), per_class=[k], repeats=3)
    acc = dict(zip(table["features"], table["accuracy"]))
    assert acc[SSL_NAME] >= acc[RANDOM_NAME] + float(check["gain"]), acc
    # the collapsed runs: the default run with one switch off, until its evaluation shows the collapse (within the run)
    one = vision.dino_run(vision.vision_plan("dino"), centering=False, seed=0)
    assert _collapses(one, lambda h: h["eval_top_share"] > 0.9)
    flat = vision.dino_run(vision.vision_plan("dino"), sharpening=False, seed=0)
    assert _collapses(flat, lambda h: h["eval_teacher_entropy"] > 0.95 * dino.max_entropy())


def _collapses(run, sign) -> bool:
    """Train `run` (at most its default steps) until an evaluation shows `sign`; whether one did."""
    from explorer import training

    def seen() -> bool:
        return any(sign(h) for h in run.trainer.history if "eval_top_share" in h)

    training.train(run.trainer, run.target, should_stop=seen)
    return seen()
