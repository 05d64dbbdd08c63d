"""Runs of the alignment stage: DPO on a private copy of the causal LM, a reward model on the encoder, and
RLHF's RL step (RLOO) of a private copy of the causal LM against a reward model."""

from __future__ import annotations

import copy
import hashlib
import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.loaded import LoadedModel
from explorer.tokens import max_positions
from explorer.training.dpo import DEFAULT_BETA, DPOTask
from explorer.training.limits import LARGE_MODEL_PARAMS, MAX_STEPS_LARGE
from explorer.training.loop import Trainer, train
from explorer.training.modelling import private_copy
from explorer.training.predict import reply, trained
from explorer.training.preferences import PreferencePair
from explorer.training.reward import RewardModel, RewardTask, rewards
from explorer.training.rloo import DEFAULT_BETA as RL_BETA
from explorer.training.rloo import DEFAULT_K, RLOOTask
from explorer.training.runs import Run, eval_interval, trainable_note
from explorer.training.settings import Plan, plan

if TYPE_CHECKING:
    from torch.nn import Module


def _check(lm: LoadedModel, pairs: Sequence[PreferencePair] | None, what: str) -> None:
    if not pairs:
        raise ExplorerError("No preference pairs to train on yet.", "Choose the bundled pairs or upload a CSV.")
    if lm is None:
        raise ExplorerError(f"The {what} is not available (see the message above).", "Pick another model.")


def dpo_run(
    lm: LoadedModel,
    pairs: Sequence[PreferencePair],
    p: Plan,
    *,
    beta: float = DEFAULT_BETA,
    seed: int = 0,
    probes: Sequence[str] = (),
    data_name: str = "pairs",
    bundled: bool = False,
    prepare_in_thread: bool = False,
    nll_weight: float = 0.0,
) -> Run:
    """DPO of a private copy of a causal LM (the policy) against the model as it is (the reference,
    never changed: its log-probabilities are computed once, and kept on disk for the `bundled` pairs).

    With `prepare_in_thread` the run is returned at once: the reference's scoring is left to the run's
    own thread (`Run.prepare`, with progress; Stop interrupts it), and the probes' answers before
    training to `before_probes` (when the page shows them). Otherwise both are done here.
    `nll_weight`: see `DPOTask` (0 = DPO alone)."""
    _check(lm, pairs, "causal LM")
    task = DPOTask(
        lm.model, lm.tokenizer, list(pairs), batch=p.batch, seq_len=p.seq_len, beta=beta, seed=seed, persist=bundled
    )
    task.nll_weight = float(nll_weight)
    probes = list(probes)
    model = private_copy(lm.model, p.layers)
    task.starts_from_reference(model)  # its evaluation before training is the reference's: no forward pass
    if not prepare_in_thread:
        task.score_reference()
    trainer = Trainer(
        model,
        task,
        lr=p.lr,
        seed=seed,
        eval_every=max(10, p.steps // 10),  # scoring 24 pairs costs ~6 steps
        warmup=min(10, p.steps // 10),
        evaluate_now=not prepare_in_thread,
    )
    desc = (
        f"DPO of {lm.info.name}, β = {beta:g}, on {len(task.train_idx)} preference pairs "
        f"({len(task.test_idx)} held out) from {data_name}"
        + (f", plus {nll_weight:g} × the chosen answers' own loss (RPO)" if nll_weight else "")
    )
    run = Run(
        "dpo",
        desc,
        trainer,
        p.steps,
        lm.tokenizer,
        "dpo",
        None,
        task.notes + p.notes + [trainable_note(model, p.layers)],
        extra={"probes": probes, "beta": beta, "reference": lm},
    )
    if prepare_in_thread:

        def prepare(progress: Callable[[str, float], None], interrupt: Callable[[], None]) -> None:
            def say(done: int, n: int) -> None:
                progress(
                    f"Scoring the pairs with the reference model: {done} of {n}"
                    f"{' (once per server for the bundled pairs)' if bundled else ''}…",
                    done / max(1, n),
                )

            say(0, len(task.pairs))
            task.score_reference(say, interrupt)

        run.prepare = prepare
    else:
        run.extra["before"] = before_probes(run)
    if lm.info.params > LARGE_MODEL_PARAMS:
        run.max_steps = MAX_STEPS_LARGE
    return run


_BEFORE = ForwardCache(32)  # a room asking the same probes of the same model asks once


def before_probes(run: Run) -> list[dict]:
    """What the model answered to the run's probes before training (the reference, unchanged), computed
    once per run (and once per process for a shared model)."""
    if "before" not in run.extra:
        lm = run.extra["reference"]

        def ask(q: str) -> str:
            return _BEFORE.get(lm.model, (q,), lambda: reply(lm, q)) if is_frozen(lm.model) else reply(lm, q)

        run.extra["before"] = [{"probe": q, "output": ask(q)} for q in run.extra.get("probes") or []]
    return run.extra["before"]


def reward_run(
    encoder: Module, pairs: Sequence[PreferencePair], p: Plan, *, seed: int = 0, data_name: str = "pairs"
) -> Run:
    """A reward model (the encoder, privately copied, with a scalar head) trained with the Bradley–Terry loss."""
    _check(encoder, pairs, "sentence encoder")
    task = RewardTask(
        encoder.tokenizer,
        list(pairs),
        batch=p.batch,
        seq_len=min(p.seq_len, max_positions(encoder.model, encoder.tokenizer)),
        seed=seed,
    )
    model = RewardModel(private_copy(encoder.model, p.layers), seed)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=eval_interval(p.steps), warmup=min(10, p.steps // 10))
    desc = (
        f"a reward model ({encoder.info.name} + a scalar head) on {len(task.train_idx)} preference pairs "
        f"({len(task.test_idx)} held out) from {data_name}"
    )
    return Run(
        "reward", desc, trainer, p.steps, encoder.tokenizer, "reward", None, p.notes + [trainable_note(model, p.layers)]
    )


def policy(run: Run) -> Any:
    """The tuned copy of a DPO run as a `LoadedModel` (for replies, samples, scores)."""
    return trained(run.model, run.tokenizer, name="the model after DPO")


def dpo_after_probes(run: Run) -> list[dict]:
    return [{"probe": q, "output": reply(policy(run), q)} for q in run.extra.get("probes") or []]


# ----------------------------------------------------------------------------- RLHF's RL step

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
) -> Run:
    """RLOO of a private copy of a causal LM against a reward model: `reward_model` (a participant's, copied so
    that retraining it later leaves this run alone) or else one trained on the pairs once per process. Training
    prompts are those of the pairs the reward model trained on; held-out prompts (never trained on) are scored
    at each evaluation, and the held-out pairs, scored by the policy's likelihood, stand for people's taste.
    The reward model, the reference's scores of the pairs and the probes' answers before RL are made in the
    run's own thread (`Run.prepare`)."""
    _check(lm, pairs, "causal LM")
    if encoder is None:
        raise ExplorerError("The reward model needs the sentence encoder, which is not available.", "Pick another.")
    people = DPOTask(lm.model, lm.tokenizer, list(pairs), batch=1, seed=seed, persist=bundled)
    train_prompts = [people.pairs[i].prompt for i in people.train_idx]
    held_prompts = list(dict.fromkeys(people.pairs[i].prompt for i in people.test_idx))[:EVAL_PROMPTS]
    box: dict = {"model": copy.deepcopy(reward_model) if reward_model is not None else None}

    def reward_fn(prompt: str, answers: Sequence[str]) -> list[float]:
        return rewards(box["model"], encoder.tokenizer, prompt, list(answers))

    task = RLOOTask(
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
        f"RLHF (RLOO) of {lm.info.name}: {k} answers per prompt scored by {which}, KL penalty β = {beta:g}, "
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
