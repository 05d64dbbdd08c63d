"""Training in the background: each run trains in its own thread, so the page that shows it stays
responsive (any widget can move, the chart keeps growing) and Stop ends the run within a second.

The thread first waits for a training slot, then does the run's own preparation if it has one
(`Run.prepare`, e.g. DPO's scoring of the pairs with the reference model; `Run.preparing` says how far
it is, and Stop interrupts it), then trains. None of it depends on the page: opening another page
or reloading leaves the run going, and the page shows it again when it comes back.

The page polls the run (`Run.step`, `Run.trainer.history`, `Run.status`) and calls `seen()` each
time it draws it. A run whose browser has gone for `ABANDONED_SECONDS` (every tab closed:
`start(alive=...)` tells), or, without such a check, that no page has shown for that long, stops by
itself and frees its training slot (`SSL_EXPLORER_ORPHAN_PAUSE_S` sets the time, default 120 s).
Resume continues from the last finished step. However a run ends, `Run.message` says why (finished,
stopped, paused for another run, paused as abandoned, the server busy, failed).
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
from explorer.wording import count

NICENESS = 10  # training threads yield the CPU to the page sessions' own work (Linux)
ORPHAN_PAUSE_ENV = "SSL_EXPLORER_ORPHAN_PAUSE_S"


def _abandoned_seconds(default: float = 120.0) -> float:
    """How long a run goes on with no tab of its browser open (`SSL_EXPLORER_ORPHAN_PAUSE_S`, seconds)."""
    try:
        value = float(os.environ.get(ORPHAN_PAUSE_ENV) or default)
    except ValueError:
        return default
    return value if value > 0 else default


ABANDONED_SECONDS = _abandoned_seconds()  # (a reload or a network blip reconnects well within the default)
STOP_WAIT_SECONDS = 1.0
REDRAW_SECONDS = 0.5  # how often a page redraws a run while it trains


class Stopped(Exception):
    """Raised inside a training step when the run is asked to stop."""


def seen(run: Run) -> None:
    """A page has just shown this run (keeps it from being stopped as abandoned)."""
    run.last_seen = time.monotonic()


def start(
    run: Run, *, slots: TrainingSlots | None = None, wait: float | None = None, alive: Callable[[], bool] | None = None
) -> None:
    """Train `run` up to `run.target` steps in a new thread (nothing happens if it is already training).

    The thread first waits up to `wait` seconds (default `limits.SLOT_WAIT_SECONDS`) for a training
    slot; meanwhile `run.status` is "waiting" and `run.message` says why. `alive()`, callable from
    any thread, says whether the browser session that started the run is still there.
    """
    if run.active:
        return
    run.stop_event = threading.Event()
    run.status, run.message, run.stop_reason = "waiting", None, None
    run.alive = alive
    seen(run)
    wait = limits.SLOT_WAIT_SECONDS if wait is None else wait
    run.thread = threading.Thread(
        target=_work, args=(run, slots or limits.SLOTS, wait), daemon=True, name=f"training-{run.mode}"
    )
    run.thread.start()


def stop(run: Run | None, timeout: float = STOP_WAIT_SECONDS, *, reason: str = "Stop was pressed") -> None:
    """Ask `run` to stop and wait up to `timeout` seconds for its thread to end; what it learned stays.
    `reason` ends the sentence the page shows ("Stopped at step 12: {reason}.")."""
    if run is None:
        return
    if run.active and not run.stop_event.is_set():
        run.stop_reason = reason
    run.stop_event.set()
    if run.thread is not None:
        run.thread.join(timeout)


def pause_others(runs, keep: Run) -> list[Run]:
    """Stop every run of `runs` that is training, except `keep`: one participant trains one run at a
    time, so a run left going elsewhere (another page, an earlier tab) frees its slot for the new one.
    Returns the runs paused."""
    paused = [r for r in runs if isinstance(r, Run) and r is not keep and r.active]
    for r in paused:
        stop(r, reason=f"you started another training ({keep.description})")
    return paused


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
    if not run.started or t.sampler is None or (t.samples and t.samples[-1][0] == t.step_count):
        return
    try:
        t.samples.append((t.step_count, t.sampler(t.model)))
    except Exception:  # noqa: BLE001 - a sample is a nicety; the run's outcome stands
        pass


def _duration(seconds: float) -> str:
    if seconds >= 60:
        return count(round(seconds / 60), "minute")
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def _ended(run: Run, abandoned: bool = False, phase: str = "running") -> tuple[str, str] | None:
    """Why the run is not training any more, for the page (`phase`: what it was doing when stopped)."""
    if run.status == "done":
        return "success", f"Finished: {run.step} steps of {run.target}."
    if run.status != "stopped":
        return run.message
    why = run.stop_reason or "Stop was pressed"
    if phase == "waiting":
        return "info", f"Stopped while waiting for a training slot: {why}."
    if phase == "preparing" or not run.started:
        return "info", f"Stopped before the first step, while preparing: {why}. Start begins again."
    if abandoned and not run.stop_event.is_set():
        return "info", (
            f"Training paused at step {run.step}: the page was closed for "
            f"{_duration(ABANDONED_SECONDS)}. Resume continues from there."
        )
    return "info", f"Stopped at step {run.step} of {run.target}: {why}. What it learned is kept; Resume continues."


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

    def progress(text: str, fraction: float) -> None:
        run.preparing = (text, min(1.0, max(0.0, float(fraction))))
        interrupt()

    try:
        with training_slot(slots, wait=wait_seconds, on_wait=waiting):
            run.message = None
            if run.prepare is not None:
                run.status = "preparing"
                run.prepare(progress, interrupt)
                run.prepare, run.preparing = None, None
            run.status = "running"
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
        run.message = _ended(run, _abandoned(run))
    except Stopped:
        phase, run.status = run.status, "stopped"
        run.message = _ended(run, phase=phase)
    except ServerBusy as exc:
        run.status, run.message = "stopped", ("warning", f"{exc.message} {exc.hint}")
    except Exception as exc:  # noqa: BLE001 - a failing run ends with a message, not a traceback
        run.status, run.message = "failed", ("error", f"Training stopped: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        run.preparing = None
