"""Runs of RLHF's RL step: a private copy of the causal LM learns by RLOO (or GRPO) from a reward model's scores,
the participant's or one trained on the pairs once per process."""

from __future__ import annotations

import copy
import hashlib
import threading
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.training.alignment_runs import check_inputs, reward_run
from explorer.training.dpo import DPOTask
from explorer.training.grpo import GRPOTask
from explorer.training.limits import LARGE_MODEL_PARAMS, MAX_STEPS_LARGE
from explorer.training.loop import Trainer, train
from explorer.training.modelling import private_copy
from explorer.training.preferences import PreferencePair
from explorer.training.reward import rewards
from explorer.training.rloo import DEFAULT_BETA as RL_BETA
from explorer.training.rloo import DEFAULT_K, RLOOTask
from explorer.training.runs import Run, trainable_note
from explorer.training.settings import Plan, plan

if TYPE_CHECKING:
    from torch.nn import Module


RL_METHODS = {"rloo": RLOOTask, "grpo": GRPOTask}
EVAL_PROMPTS = 4  # held-out prompts sampled at each evaluation (two answers each)
_REWARD_MODELS: dict = {}  # the bundled reward model per encoder, pairs and seed: trained once per process
_REWARD_LOCK = threading.Lock()


def bundled_reward_model(
    encoder: LoadedModel,
    pairs: Sequence[PreferencePair],
    *,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Module:
    """A reward model trained on `pairs` with the reward tab's default settings, once per process (a second
    run asking for the same one waits for it and shares it; it is frozen and never changed)."""
    key = (encoder.info.model_id, hashlib.sha1(repr(list(pairs)).encode()).hexdigest(), int(seed))
    with _REWARD_LOCK:
        if key not in _REWARD_MODELS:
            with torch.random.fork_rng(devices=[]):  # its dropout seeded too: the same reward model every time
                torch.manual_seed(seed)
                run = reward_run(encoder, pairs, plan("reward", n_params=encoder.info.params), seed=seed)
                on_step = (lambda t, _rec: progress(t.step_count, run.target)) if progress else None
                train(run.trainer, run.target, on_step=on_step, interrupt=interrupt)
            model = run.model.eval()
            model.requires_grad_(False)
            _REWARD_MODELS[key] = model
        return _REWARD_MODELS[key]


def rlhf_run(
    lm: LoadedModel,
    encoder: LoadedModel | None,
    pairs: Sequence[PreferencePair],
    p: Plan,
    *,
    beta: float = RL_BETA,
    k: int = DEFAULT_K,
    seed: int = 0,
    probes: Sequence[str] = (),
    data_name: str = "pairs",
    bundled: bool = False,
    reward_model: Module | None = None,
    method: str = "rloo",
) -> Run:
    """RLOO (or GRPO, `method="grpo"`) of a private copy of a causal LM against a reward model: `reward_model` (a participant's, copied so
    that retraining it later leaves this run alone) or else one trained on the pairs once per process. Training
    prompts are those of the pairs the reward model trained on; held-out prompts (never trained on) are scored
    at each evaluation, and the held-out pairs, scored by the policy's likelihood, stand for people's taste.
    The reward model, the reference's scores of the pairs and the probes' answers before RL are made in the
    run's own thread (`Run.prepare`)."""
    check_inputs(lm, pairs, "causal LM")
    if encoder is None:
        raise ExplorerError("The reward model needs the sentence encoder, which is not available.", "Pick another.")
    people = DPOTask(lm.model, lm.tokenizer, list(pairs), batch=1, seed=seed, persist=bundled)
    train_prompts = [people.pairs[i].prompt for i in people.train_idx]
    held_prompts = list(dict.fromkeys(people.pairs[i].prompt for i in people.test_idx))[:EVAL_PROMPTS]
    box: dict = {"model": copy.deepcopy(reward_model) if reward_model is not None else None}

    def reward_fn(prompt: str, answers: Sequence[str]) -> list[float]:
        return rewards(box["model"], encoder.tokenizer, prompt, list(answers))

    if method not in RL_METHODS:
        raise ExplorerError(f"Unknown RL method '{method}'.", "Pick RLOO or GRPO.")
    task = RL_METHODS[method](
        lm.model, lm.tokenizer, train_prompts, held_prompts, reward_fn, k=k, beta=beta, people=people, seed=seed
    )
    model = private_copy(lm.model, p.layers)
    trainer = Trainer(
        model,
        task,
        lr=p.lr,
        seed=seed,
        eval_every=max(5, p.steps // 3),  # an evaluation costs ~3 steps
        warmup=min(3, p.steps // 10),
        evaluate_now=False,
    )
    which = "your reward model" if reward_model is not None else f"a reward model trained on {data_name}"
    desc = (
        f"RLHF ({method.upper()}) of {lm.info.name}: {k} answers per prompt scored by {which}, KL penalty β = {beta:g}, "
        f"{len(set(train_prompts))} training prompts ({len(held_prompts)} held out)"
    )
    probes = list(probes)
    run = Run(
        "rlhf",
        desc,
        trainer,
        p.steps,
        lm.tokenizer,
        "rlhf",
        None,
        people.notes + p.notes + [trainable_note(model, p.layers)],
        extra={"probes": probes, "beta": beta, "k": k, "reference": lm},
    )

    def prepare(progress: Callable[[str, float], None], interrupt: Callable[[], None]) -> None:
        if box["model"] is None:
            box["model"] = bundled_reward_model(
                encoder,
                pairs,
                seed=seed,
                progress=lambda i, n: progress(f"Training the reward model on the pairs: step {i} of {n}…", i / n),
                interrupt=interrupt,
            )
        people.score_reference(
            lambda i, n: progress(f"Scoring the pairs with the reference model: {i} of {n}…", i / max(1, n)), interrupt
        )
        progress("Asking the model before RL…", 1.0)
        run.extra["before"] = task.answers(lm.model, probes, seed=seed)

    run.prepare = prepare
    if lm.info.params > LARGE_MODEL_PARAMS:
        run.max_steps = MAX_STEPS_LARGE
    return run


def rlhf_after_probes(run: Run) -> list[dict]:
    """The probes' answers (sampled with the run's seed, as before RL) and their rewards, by the policy now."""
    return run.trainer.task.answers(run.model, run.extra.get("probes") or [], seed=run.trainer.task.seed)
