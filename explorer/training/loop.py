"""The training loop: one optimisation step at a time, with stop and interruption points."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.training.limits import INTERRUPT_ABOVE_SECONDS, MAX_STEPS
from explorer.training.modelling import transformer_blocks


@contextlib.contextmanager
def interrupt_points(model: Module, interrupt: Callable[[], None] | None) -> Iterator[None]:
    """Call `interrupt()` before every transformer block in the forward pass and after each in the
    backward pass, so whatever it raises ends a long step early."""
    if interrupt is None:
        yield
        return
    handles = []

    def before(_module, _args):
        interrupt()

    def after(_module, _args, output):
        first = output[0] if isinstance(output, tuple) else output
        if isinstance(first, torch.Tensor) and first.requires_grad:
            first.register_hook(lambda grad: (interrupt(), grad)[1])

    try:
        for block in transformer_blocks(model):
            handles.append(block.register_forward_pre_hook(before))
            handles.append(block.register_forward_hook(after))
    except ExplorerError:
        pass
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def eval_mode(model: Module) -> Iterator[None]:
    """The model in eval mode within the block (dropout off), as it was after it."""
    was = model.training
    if was:
        model.eval()
    try:
        yield
    finally:
        if was:
            model.train()


class Trainer:
    """Optimises a private model on a task one step at a time and keeps the history.

    `history` holds one dict per step: step, loss, tokens, seconds, lr, and at evaluation steps
    eval_loss (and accuracy for classification); entry 0 is the evaluation before training.
    """

    def __init__(
        self,
        model: Module,
        task: Any,
        *,
        lr: float,
        seed: int = 0,
        eval_every: int = 10,
        warmup: int = 10,
        sample_every: int = 0,
        sampler: Callable[[Any], list[dict]] | None = None,
        evaluate_now: bool = True,
    ):
        self.model, self.task, self.lr = model, task, lr
        self.params = [p for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad]
        if not self.params:
            raise ExplorerError("Nothing in this model is set to learn.", "Train more layers.")
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(seed)
        self.eval_every, self.warmup = max(1, eval_every), max(0, warmup)
        self.sample_every, self.sampler = sample_every, sampler
        self.step_count = 0
        self.train_seconds = 0.0
        self.samples: list[tuple[int, list[dict]]] = []
        model.train()
        self.history: list[dict] = []
        if evaluate_now:  # else `begin()` does it, e.g. in the run's own thread once the task is ready
            self.begin()

    def begin(self, interrupt: Callable[[], None] | None = None) -> None:
        """The evaluation before training (history entry 0) and its samples, unless done already."""
        if self.history:
            return
        with eval_mode(self.model):
            first = {"step": 0, **self.task.evaluate(self.model, interrupt)}
        self.history.append(first)
        if self.sampler:
            self.samples.append((0, self.sampler(self.model)))

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / (self.warmup + 1))

    def step(self, interrupt: Callable[[], None] | None = None, *, last: bool = False) -> dict:
        """One optimisation step (then an evaluation or samples when due, and always an evaluation after
        the `last` step of a run, so that what it ends at is measured); returns its history entry.

        If `interrupt` raises during the forward or backward pass, the weights stay as they were.
        It is only called in steps that follow a step of at least INTERRUPT_ABOVE_SECONDS (short
        steps end soon enough by themselves, and skipping the hooks keeps them fast).
        """
        t0 = time.perf_counter()
        batch = self.task.batch(self.gen)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        took = self.history[-1].get("seconds", INTERRUPT_ABOVE_SECONDS) if self.history else INTERRUPT_ABOVE_SECONDS
        with interrupt_points(self.model, interrupt if took >= INTERRUPT_ABOVE_SECONDS else None):
            loss = self.task.loss(self.model, batch) if hasattr(self.task, "loss") else self.model(**batch).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        after = getattr(self.task, "after_step", None)  # e.g. DINO's teacher following the student (EMA)
        if after is not None:
            after(self.model)
        self.step_count += 1
        rec = {
            "step": self.step_count,
            "loss": float(loss.detach()),
            "tokens": self.task.tokens(batch),
            "lr": lr,
            **(getattr(self.task, "step_metrics", None) or {}),
        }  # what a task measures on its batch
        self.history.append(rec)
        try:
            if self.step_count % self.eval_every == 0 or last:
                with eval_mode(self.model):
                    rec.update(self.task.evaluate(self.model, interrupt))
            if self.sampler and self.sample_every and self.step_count % self.sample_every == 0:
                self.samples.append((self.step_count, self.sampler(self.model)))
        finally:
            rec["seconds"] = time.perf_counter() - t0
            self.train_seconds += rec["seconds"]
        return rec

    # -- figures for the page

    def recent(self, n: int = 20) -> list[dict]:
        return [h for h in self.history[-n:] if "seconds" in h]

    def tokens_per_second(self, n: int = 20) -> float:
        recent = self.recent(n)
        secs = sum(h["seconds"] for h in recent)
        return sum(h["tokens"] for h in recent) / secs if secs > 0 else 0.0

    def eta_seconds(self, target: int, n: int = 20) -> float:
        recent = self.recent(n)
        if not recent:
            return float("nan")
        return max(0, target - self.step_count) * sum(h["seconds"] for h in recent) / len(recent)

    def last(self, key: str) -> float | None:
        for h in reversed(self.history):
            if key in h:
                return h[key]
        return None


def train(
    trainer: Trainer,
    steps: int,
    *,
    on_step: Callable[[Trainer, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> str:
    """Run `trainer` until it has done `steps` steps in all; returns "done" or "stopped".

    `on_step(trainer, record)` runs after every step (progress, charts); `should_stop()` is asked
    before every step; `interrupt()` is called inside steps (see `Trainer.step`).
    """
    steps = min(int(steps), MAX_STEPS)
    trainer.begin(interrupt)
    while trainer.step_count < steps:
        if should_stop is not None and should_stop():
            return "stopped"
        rec = trainer.step(interrupt, last=trainer.step_count + 1 == steps)
        if on_step is not None:
            on_step(trainer, rec)
    return "done"
