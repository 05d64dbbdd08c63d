"""Training in the background: each run trains in its own thread, so the page that shows it stays
responsive (any widget can move, the chart keeps growing) and Stop ends the run within a second.

The page polls the run (`Run.step`, `Run.trainer.history`, `Run.status`) and calls `seen()` each
time it draws it. A run whose browser session has gone for `ABANDONED_SECONDS` (the tab was closed:
`start(alive=...)` tells), or, without such a check, that no page has shown for that long, stops by
itself and frees its training slot. Resume continues from the last finished step.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from explorer.training import limits
from explorer.training.limits import ServerBusy, TrainingSlots, training_slot
from explorer.training.loop import train
from explorer.training.runs import Run

NICENESS = 10  # training threads yield the CPU to the page sessions' own work (Linux)
ABANDONED_SECONDS = 120.0  # (a reload or a network blip reconnects well within this)
STOP_WAIT_SECONDS = 1.0
REDRAW_SECONDS = 0.5  # how often a page redraws a run while it trains


class Stopped(Exception):
    """Raised inside a training step when the run is asked to stop."""


def seen(run: Run) -> None:
    """A page has just shown this run (keeps it from being stopped as abandoned)."""
    run.last_seen = time.monotonic()


def start(run: Run, *, slots: TrainingSlots | None = None, wait: float | None = None,
          alive: Callable[[], bool] | None = None) -> None:
    """Train `run` up to `run.target` steps in a new thread (nothing happens if it is already training).

    The thread first waits up to `wait` seconds (default `limits.SLOT_WAIT_SECONDS`) for a training
    slot; meanwhile `run.status` is "waiting" and `run.message` says why. `alive()`, callable from
    any thread, says whether the browser session that started the run is still there.
    """
    if run.active:
        return
    run.stop_event = threading.Event()
    run.status, run.message = "waiting", None
    run.alive = alive
    seen(run)
    wait = limits.SLOT_WAIT_SECONDS if wait is None else wait
    run.thread = threading.Thread(target=_work, args=(run, slots or limits.SLOTS, wait), daemon=True,
                                  name=f"training-{run.mode}")
    run.thread.start()


def stop(run: Run | None, timeout: float = STOP_WAIT_SECONDS) -> None:
    """Ask `run` to stop and wait up to `timeout` seconds for its thread to end; what it learned stays."""
    if run is None:
        return
    run.stop_event.set()
    if run.thread is not None:
        run.thread.join(timeout)


def wait(run: Run, timeout: float | None = None) -> bool:
    """Wait for the run's thread to end; True if it has."""
    if run.thread is not None:
        run.thread.join(timeout)
    return not run.active


def _abandoned(run: Run) -> bool:
    if run.alive is not None and run.alive():
        seen(run)
    return time.monotonic() - run.last_seen > ABANDONED_SECONDS


def _lower_priority() -> None:
    """Give this thread (only) a lower CPU priority, so that clicks on every page of the server stay
    quick while trainings run; a training then uses the CPU time nobody else needs."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed
        pass


def _final_sample(run: Run) -> None:
    """Checkpoint samples of the step a run ends at, so what it has learned shows (tiny models only)."""
    t = run.trainer
    if t.sampler is None or (t.samples and t.samples[-1][0] == t.step_count):
        return
    try:
        t.samples.append((t.step_count, t.sampler(t.model)))
    except Exception:  # noqa: BLE001 - a sample is a nicety; the run's outcome stands
        pass


def _work(run: Run, slots: TrainingSlots, wait_seconds: float) -> None:
    _lower_priority()
    def should_stop() -> bool:
        return run.stop_event.is_set() or _abandoned(run)

    def interrupt() -> None:
        if run.stop_event.is_set():
            raise Stopped

    def waiting(message: str) -> None:
        run.message = ("info", message)
        interrupt()

    try:
        with training_slot(slots, wait=wait_seconds, on_wait=waiting):
            run.status, run.message = "running", None
            t0, c0, s0 = time.perf_counter(), time.process_time(), run.step
            try:
                run.status = train(run.trainer, run.target, should_stop=should_stop, interrupt=interrupt)
            except Stopped:
                run.status = "stopped"
            finally:
                _final_sample(run)
                run.loop_seconds += time.perf_counter() - t0
                run.loop_cpu_seconds += time.process_time() - c0
                run.loop_steps += run.step - s0
        if run.status == "stopped" and _abandoned(run) and not run.stop_event.is_set():
            run.message = ("info", f"Training paused at step {run.step}: the page was closed for "
                                   f"{ABANDONED_SECONDS / 60:.0f} minutes. Resume continues from there.")
    except Stopped:
        run.status = "stopped"
    except ServerBusy as exc:
        run.status, run.message = "stopped", ("warning", f"{exc.message} {exc.hint}")
    except Exception as exc:  # noqa: BLE001 - a failing run ends with a message, not a traceback
        run.status, run.message = "failed", ("error", f"Training stopped: {type(exc).__name__}: {str(exc)[:300]}")
