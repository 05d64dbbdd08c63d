"""Limits of a shared server: steps, sizes, uploads, and how many trainings run at once."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Callable, Iterator

from explorer.errors import ExplorerError

MAX_STEPS = 2000
LARGE_MODEL_PARAMS = 50_000_000
MAX_STEPS_LARGE = 300  # for models over LARGE_MODEL_PARAMS parameters
MAX_SEQ_LEN = 128
MAX_BATCH = 32
MAX_UPLOAD_BYTES = 1_000_000
# The same limit for the uploader itself (Streamlit's MB are 1,000,000 bytes): a larger file never reaches
# the server, and the browser says why under the file's name (ui.UPLOAD_ERROR_CSS).
UPLOAD_WIDGET_MB = MAX_UPLOAD_BYTES // 1_000_000
MAX_TEXT_CHARS = 1_000_000
MIN_TEXT_CHARS = 200
MAX_ROWS = 2000
MIN_ROWS = 8
MAX_CLASSES = 10
MAX_FIELD_CHARS = 1000
MAX_PROBES = 5
VOCAB_SIZE = 1024
DEFAULT_MAX_TRAININGS = 2
SLOT_WAIT_SECONDS = 30.0
INTERRUPT_ABOVE_SECONDS = 0.2  # steps this long can be interrupted between transformer blocks

MODES = ("scratch", "continue", "classify", "sft", "dpo", "reward", "rlhf")
AUTO = "auto"
LAYER_CHOICES = (AUTO, "all", "top 4", "top 2", "head only")
MASK = "[MASK]"


def limits_text(max_trainings: int | None = None) -> str:
    """The limits of this server in one sentence, for the page."""
    n = max_trainings if max_trainings is not None else SLOTS.limit
    return (
        f"Limits on this server: at most {MAX_STEPS:,} steps ({MAX_STEPS_LARGE} for models over "
        f"{LARGE_MODEL_PARAMS // 1_000_000} M parameters), {MAX_SEQ_LEN} tokens per sequence, batches of "
        f"{MAX_BATCH}, uploads up to {MAX_UPLOAD_BYTES // 1_000_000} MB ({MAX_TEXT_CHARS // 1_000_000} M "
        f"characters of text, {MAX_ROWS:,} CSV rows), and {n} training{'s' if n != 1 else ''} at a time."
    )


def upload_limits(kind: str) -> str:
    """What an uploader takes, for the caption next to it: format, size, and rows or characters.
    `kind`: "text" (training text), "classify" (text,label CSV), "sft" (prompt,response CSV) or
    "preferences" (prompt,chosen,rejected CSV)."""
    size = f"up to {MAX_UPLOAD_BYTES // 1_000_000} MB"
    if kind == "text":
        return (
            f"Plain text saved as UTF-8 (.txt or any text file), {size}: at least {MIN_TEXT_CHARS} characters; "
            f"the first {MAX_TEXT_CHARS:,} are used."
        )
    columns = {"classify": "text,label", "preferences": "prompt,chosen,rejected"}.get(kind, "prompt,response")
    extra = f"; 2 to {MAX_CLASSES} labels, each with at least two examples" if kind == "classify" else ""
    return (
        f"A CSV file saved as UTF-8 whose first line is the header {columns}, {size}: {MIN_ROWS} to "
        f"{MAX_ROWS:,} rows (the first {MAX_ROWS:,} are used), fields up to {MAX_FIELD_CHARS:,} characters"
        f"{extra}."
    )


# ----------------------------------------------------------------------------- concurrency


class ServerBusy(ExplorerError):
    """Every training slot of this server is taken."""


class TrainingSlots:
    """A process-wide counting semaphore for trainings that can also say how many are running."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self._active = 0
        self._cond = threading.Condition()

    @property
    def active(self) -> int:
        return self._active

    def acquire(self, timeout: float = 0.0) -> bool:
        with self._cond:
            ok = self._cond.wait_for(lambda: self._active < self.limit, timeout=max(0.0, timeout))
            if ok:
                self._active += 1
            return ok

    def release(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify()


def max_trainings() -> int:
    try:
        return max(1, int(os.environ.get("SSL_EXPLORER_MAX_TRAININGS", DEFAULT_MAX_TRAININGS)))
    except ValueError:
        return DEFAULT_MAX_TRAININGS


SLOTS = TrainingSlots(max_trainings())


def busy_message(slots: TrainingSlots) -> str:
    return (
        f"Please wait: {slots.active} of {slots.limit} training slots on this server are in use. "
        "Your training starts as soon as one is free."
    )


@contextlib.contextmanager
def training_slot(
    slots: TrainingSlots | None = None, *, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold one training slot for the block; wait up to `wait` seconds for one, else raise `ServerBusy`.

    `on_wait(message)` is called about twice a second while waiting (a page can show the
    message there, and stop waiting by raising).
    """
    slots = slots or SLOTS
    if not slots.acquire(0.0):
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerBusy(
                    f"The server is busy: {slots.limit} training{'s are' if slots.limit != 1 else ' is'} "
                    "already running, the most it allows at once.",
                    "Please wait a minute and press Start again.",
                )
            if on_wait:
                on_wait(busy_message(slots))
            if slots.acquire(min(0.5, remaining)):
                break
    try:
        yield
    finally:
        slots.release()
