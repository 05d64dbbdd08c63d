"""A run of the page: the trainer plus what the page shows around it, for each of the four modes."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.training.data import check_labels, probe_lines, training_text
from explorer.training.limits import LARGE_MODEL_PARAMS, MAX_STEPS, MAX_STEPS_LARGE
from explorer.training.loop import Trainer
from explorer.training.modelling import SIZES, corpus_tokenizer, count_trainable, private_copy, scratch_model
from explorer.training.predict import probe_outputs, reply, trained
from explorer.training.settings import Plan
from explorer.training.sft import SFTTask
from explorer.training.tasks import ClassificationTask, EncoderClassifier, LanguageModelTask

if TYPE_CHECKING:
    from torch.nn import Module


@dataclass
class Run:
    """One training run of a page session: the trainer plus what the page shows around it."""

    mode: str
    description: str
    trainer: Trainer
    target: int
    tokenizer: Any
    objective: str = ""
    reference_loss: float | None = None  # ln(vocabulary) for language models
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    status: str = "ready"  # ready, waiting (for a slot), preparing, running, stopped, done, failed
    message: tuple[str, str] | None = None  # (kind, text) for the page: info, success, warning or error
    # work the run does in its own thread, holding its slot, before its first step (DPO: the reference
    # model's scores of the pairs): prepare(progress, interrupt); progress(text, fraction) also stops it
    prepare: Callable[[Callable[[str, float], None], Callable[[], None]], None] | None = field(default=None, repr=False)
    preparing: tuple[str, float] | None = None  # what the preparation is doing, and how far it is
    stop_reason: str | None = None  # why it was asked to stop, for the page
    loop_seconds: float = 0.0  # wall time inside the training loop
    loop_cpu_seconds: float = 0.0  # CPU time of the whole process meanwhile (the page's work included)
    loop_steps: int = 0
    max_steps: int = MAX_STEPS
    thread: threading.Thread | None = field(default=None, repr=False)
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    last_seen: float = field(default_factory=time.monotonic)  # when the run's session was last seen
    alive: Callable[[], bool] | None = field(default=None, repr=False)  # is the browser session there?

    @property
    def active(self) -> bool:
        """Training (or waiting for a slot) in its own thread."""
        return self.thread is not None and self.thread.is_alive()

    def extend(self, steps: int) -> None:
        """Train `steps` more (up to the limit of steps for this run)."""
        if self.step >= self.max_steps:
            raise ExplorerError(
                f"This run has reached the limit of {self.max_steps:,} steps.", "Press Reset to start again."
            )
        self.target = min(self.max_steps, self.step + int(steps))

    @property
    def started(self) -> bool:
        """Ready and evaluated before its first step: its charts have their first point."""
        return bool(self.trainer.history)

    @property
    def step(self) -> int:
        return self.trainer.step_count

    @property
    def model(self) -> Module:
        return self.trainer.model

    def loaded(self) -> LoadedModel:
        """The model in training as a `LoadedModel`, the way the core's helpers take a model."""
        return trained(self.model, self.tokenizer)


def eval_interval(steps: int) -> int:
    """Steps between two evaluations of a language-model run (25 or so per run)."""
    return max(5, steps // 25)


def scratch_run(
    arch: str, size: str, text: str, p: Plan, *, seed: int = 0, probes: Sequence[str] = (), corpus_name: str = "corpus"
) -> Run:
    """Pretrain a new tiny GPT or BERT on `text` (a tokenizer is trained on it first)."""
    text, notes = training_text(text)
    t0 = time.perf_counter()
    tok = corpus_tokenizer(arch, text)
    took = time.perf_counter() - t0
    notes.append(
        f"Tokenizer: {'byte-level BPE' if arch == 'gpt' else 'WordPiece'} with {len(tok):,} tokens, trained "
        f"on this text{f' in {took:.1f} s' if took >= 0.05 else ''}."
    )
    objective = "clm" if arch == "gpt" else "mlm"
    task = LanguageModelTask(objective, tok, text, batch=p.batch, seq_len=p.seq_len)
    model = scratch_model(arch, size, tok, seed)
    probes = list(probes)
    sampler = (lambda m: probe_outputs(trained(m, tok), probes, objective, sample=True, seed=seed)) if probes else None
    trainer = Trainer(
        model,
        task,
        lr=p.lr,
        seed=seed,
        eval_every=eval_interval(p.steps),
        warmup=min(30, p.steps // 10),
        sample_every=max(10, p.steps // 10),
        sampler=sampler,
    )
    n = count_trainable(model)[1]
    desc = f"new {arch.upper()} ({SIZES[size].label}, {n / 1e6:.2f} M parameters) on {corpus_name}"
    return Run("scratch", desc, trainer, p.steps, tok, objective, math.log(len(tok)), notes + p.notes)


def continue_run(
    lm: LoadedModel,
    objective: str,
    text: str,
    p: Plan,
    *,
    seed: int = 0,
    probes: Sequence[str] = (),
    corpus_name: str = "text",
) -> Run:
    """More self-supervised training of a private copy of a pretrained model on `text`."""
    text, notes = training_text(text)
    tok = lm.tokenizer
    probes = list(probes)
    before = probe_outputs(lm, probes, objective) if probes else []
    large = lm.info.params > LARGE_MODEL_PARAMS
    task = LanguageModelTask(objective, tok, text, batch=p.batch, seq_len=p.seq_len, eval_windows=4 if large else 8)
    model = private_copy(lm.model, p.layers)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=eval_interval(p.steps), warmup=min(10, p.steps // 10))
    desc = f"{lm.info.name} ({'masked' if objective == 'mlm' else 'causal'} LM objective) on {corpus_name}"
    return Run(
        "continue",
        desc,
        trainer,
        p.steps,
        tok,
        objective,
        math.log(len(tok)),
        notes + p.notes + [trainable_note(model, p.layers)],
        extra={"probes": probes, "before": before},
    )


def classify_run(lm: LoadedModel, examples, p: Plan, *, seed: int = 0, data_name: str = "examples") -> Run:
    """A classification head (plus the chosen encoder layers) trained on labelled sentences."""
    examples = check_labels(examples, data_name)
    task = ClassificationTask(
        lm.tokenizer, list(examples["text"]), list(examples["label"]), batch=p.batch, seq_len=p.seq_len, seed=seed
    )
    model = EncoderClassifier(private_copy(lm.model, p.layers), len(task.classes), seed)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=eval_interval(p.steps), warmup=min(10, p.steps // 10))
    desc = (
        f"a {len(task.classes)}-class head on {lm.info.name} ({len(task.train_idx)} training and "
        f"{len(task.test_idx)} held-out examples from {data_name})"
    )
    return Run(
        "classify",
        desc,
        trainer,
        p.steps,
        lm.tokenizer,
        notes=p.notes + [trainable_note(model, p.layers)],
        extra={"classes": task.classes},
    )


def sft_run(
    lm: LoadedModel,
    pairs: Sequence[tuple[str, str]],
    p: Plan,
    *,
    seed: int = 0,
    probes: Sequence[str] = (),
    data_name: str = "pairs",
) -> Run:
    """Supervised fine-tuning of a private copy of a causal LM on prompt-response pairs."""
    tok = lm.tokenizer
    task = SFTTask(tok, pairs, batch=p.batch, seq_len=p.seq_len, seed=seed)
    probes = list(probes)
    before = [{"probe": q, "output": reply(lm, q)} for q in probes]
    model = private_copy(lm.model, p.layers)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=eval_interval(p.steps), warmup=min(10, p.steps // 10))
    desc = f"{lm.info.name} on {len(task.train_idx)} prompt-response pairs ({len(task.test_idx)} held out) from {data_name}"
    return Run(
        "sft",
        desc,
        trainer,
        p.steps,
        tok,
        "clm",
        None,
        p.notes + [trainable_note(model, p.layers)],
        extra={"probes": probes, "before": before},
    )


def new_run(
    kind: str,
    p: Plan,
    *,
    lm: LoadedModel | None = None,
    text: str | None = None,
    examples=None,
    pairs: Sequence[tuple[str, str]] | None = None,
    arch: str = "gpt",
    size: str = "tiny",
    objective: str = "mlm",
    seed: int = 0,
    probes_text: str = "",
    source_name: str = "",
) -> Run:
    """A run of one of the MODES from the page's inputs; says what is missing if it cannot start."""
    data = {"scratch": text, "continue": text, "classify": examples, "sft": pairs}.get(kind)
    if data is None or len(data) == 0:
        raise ExplorerError("Nothing to train on yet.", "Choose or upload the training data first.")
    if kind != "scratch" and lm is None:
        raise ExplorerError(
            "The model for this mode is not available (see the message above).", "Pick another model in the sidebar."
        )
    probes = probe_lines(probes_text, required=kind != "classify")
    if kind == "scratch":
        run = scratch_run(arch, size, text, p, seed=seed, probes=probes, corpus_name=source_name)
    elif kind == "continue":
        run = continue_run(lm, objective, text, p, seed=seed, probes=probes, corpus_name=source_name)
    elif kind == "classify":
        run = classify_run(lm, examples, p, seed=seed, data_name=source_name)
        run.extra["probes"] = probes
    else:
        run = sft_run(lm, pairs, p, seed=seed, probes=probes, data_name=source_name)
    if lm is not None and lm.info.params > LARGE_MODEL_PARAMS:
        run.max_steps = MAX_STEPS_LARGE
    return run


def trainable_note(model: Module, layers: int | None) -> str:
    """What a run trains, in a sentence for the page."""
    trainable, total = count_trainable(model)
    which = "all layers" if layers is None else "the head only" if layers == 0 else f"the top {layers} layers"
    return f"Training {which}: {trainable / 1e6:.1f} M of {total / 1e6:.1f} M parameters learn."


def after_probes(run: Run) -> list[dict]:
    """The trained copy's outputs for the run's probes (same format as the 'before' list)."""
    probes = run.extra.get("probes") or []
    if run.mode == "sft":
        return [{"probe": q, "output": reply(run.loaded(), q)} for q in probes]
    return probe_outputs(run.loaded(), probes, run.objective)
