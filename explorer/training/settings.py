"""The settings of a run: the page's choices, with `auto` resolved per mode and model size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from explorer.errors import ExplorerError
from explorer.training.limits import AUTO, LARGE_MODEL_PARAMS, MAX_BATCH, MAX_SEQ_LEN, MAX_STEPS, MAX_STEPS_LARGE, MODES


@dataclass
class Plan:
    """Concrete settings for a run, after 'auto' choices and limits are applied."""

    steps: int
    lr: float
    batch: int
    seq_len: int
    layers: int | None  # trainable top blocks; None = all, 0 = head only
    notes: list[str] = field(default_factory=list)


_DEFAULTS = {  # mode → (steps, lr, batch, seq_len) for small models; large models below
    "scratch": (300, 2e-3, 16, 64),
    "continue": (100, 1e-4, 8, 64),
    "classify": (60, 1e-4, 16, 64),
    "sft": (60, 1e-4, 8, 128),
    "dpo": (100, 1e-3, 8, 128),
    "reward": (60, 1e-4, 8, 128),
    "rlhf": (30, 1e-3, 1, 128),  # a step: one prompt, k answers
}
_LARGE = {
    "continue": (40, 1e-4, 2, 64),
    "sft": (40, 2e-4, 2, 128),
    "dpo": (60, 5e-5, 4, 128),
    "rlhf": (30, 5e-4, 1, 128),
}


def plan(
    mode: str,
    *,
    steps: Any = AUTO,
    lr: Any = AUTO,
    batch: Any = AUTO,
    seq_len: Any = AUTO,
    layers: str = AUTO,
    n_params: int = 0,
) -> Plan:
    """Resolve 'auto' settings for a mode and model size, and clamp everything to the limits."""
    if mode not in MODES:
        raise ExplorerError(f"Unknown training mode '{mode}'.")
    large = n_params > LARGE_MODEL_PARAMS
    d_steps, d_lr, d_batch, d_seq = _LARGE.get(mode, _DEFAULTS[mode]) if large else _DEFAULTS[mode]
    notes: list[str] = []
    steps = d_steps if steps in (AUTO, None) else int(steps)
    cap = MAX_STEPS_LARGE if large else MAX_STEPS
    if steps > cap:
        notes.append(f"Steps are limited to {cap} here{' for a model this size' if large else ''}.")
    steps = min(max(1, steps), cap)
    batch = min(max(1, d_batch if batch in (AUTO, None) else int(batch)), MAX_BATCH)
    seq_len = min(max(8, d_seq if seq_len in (AUTO, None) else int(seq_len)), MAX_SEQ_LEN)
    lr = d_lr if lr in (AUTO, None) else float(lr)
    if not 0 < lr <= 0.1:
        raise ExplorerError(f"A learning rate of {lr:g} is out of range.", "Pick one between 1e-6 and 0.1.")
    if layers in (AUTO, None):
        n_layers = 4 if large and mode in ("continue", "sft", "dpo", "rlhf") else None
    elif layers == "all":
        n_layers = None
    elif layers == "head only":
        n_layers = 0
    elif str(layers).startswith("top "):
        n_layers = int(str(layers)[4:])
    else:
        raise ExplorerError(f"Unknown choice of layers to train: '{layers}'.")
    if mode == "scratch":
        n_layers = None
    return Plan(steps, lr, batch, seq_len, n_layers, notes)
