"""Runs of the alignment stage: DPO on a private copy of the causal LM and a reward model on the encoder (RLHF's
RL step against a reward model: `explorer.training.rlhf_runs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.loaded import LoadedModel
from explorer.tokens import max_positions
from explorer.training.dpo import DEFAULT_BETA, DPOTask
from explorer.training.limits import LARGE_MODEL_PARAMS, MAX_STEPS_LARGE
from explorer.training.loop import Trainer
from explorer.training.modelling import private_copy
from explorer.training.predict import reply, trained
from explorer.training.preferences import PreferencePair
from explorer.training.reward import RewardModel, RewardTask
from explorer.training.runs import Run, eval_interval, trainable_note
from explorer.training.settings import Plan

if TYPE_CHECKING:
    from torch.nn import Module


def check_inputs(lm: LoadedModel, pairs: Sequence[PreferencePair] | None, what: str) -> None:
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
    check_inputs(lm, pairs, "causal LM")
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
    check_inputs(encoder, pairs, "sentence encoder")
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
