"""A training run on a page: Start / Stop / Reset buttons and a view redrawn while it trains.

A page's run is kept for the browser (`explorer.ui.browser_store`, under the page's key; also in session state
for the rest of the page), not for the session: a reload, a second tab or a visit to another page
finds it again, training or not. A page says what the run is made of (a `signature` of its settings
and data: when that changes, Start makes a new run) and how to make one. Training happens in the
run's own thread (`explorer.training.live`), so the rest of the page stays responsive; so does the
run's slow preparation (`Run.prepare`: DPO's reference scores), with its progress shown and Stop
working throughout. The view is a fragment that redraws itself every `REDRAW_SECONDS` while the run
trains. A participant trains one run at a time: Start pauses their other runs (they can resume).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import streamlit as st

from explorer import training, ui
from explorer.ui import chart
from explorer.ui.browser import browser_connected, browser_id
from explorer.ui.browser_store import BROWSERS

FIRST_POINT_WAIT = 0.6  # seconds Start waits for the run's first point before drawing the page


class LiveRun:
    """One run slot of a page: the browser's run under `key`."""

    def __init__(self, key: str, prefix: str):
        self.key, self.prefix = key, prefix  # buttons: {prefix}_start, {prefix}_stop, {prefix}_reset
        self.browser = browser_id()
        st.session_state[key] = self.run

    @property
    def run(self) -> training.Run | None:
        return BROWSERS.get(self.browser, self.key)

    def _keep(self, run: training.Run | None) -> None:
        BROWSERS.put(self.browser, self.key, run)
        st.session_state[self.key] = run

    def _start(self) -> None:
        st.session_state[f"{self.prefix}_pressed"] = True

    def _stop(self) -> None:
        training.stop(self.run)

    def _reset(self) -> None:
        training.stop(self.run, reason="Reset was pressed")
        self._keep(None)
        st.session_state[f"{self.prefix}_notice"] = (
            "info",
            "Reset: the trained copy is gone; the next run starts from the original weights.",
        )

    def forget(self) -> None:
        """Stop the run and forget it (the page moves on: a stage finished, or everything starts over)."""
        training.stop(self.run, reason="the page moved on")
        self._keep(None)

    def same(self, signature: Any) -> bool:
        run = self.run
        return run is not None and run.extra.get("signature") == signature

    def controls(
        self,
        signature: Any,
        make: Callable[[], training.Run],
        steps: int,
        *,
        preparing: str = "Preparing the model and the data…",
        start_label: str = "Start training",
    ) -> bool:
        """The buttons; starts (or resumes, or extends by `steps`) the run when Start was pressed.
        Returns whether the run is training (or preparing to) now."""
        run = self.run
        same = self.same(signature)
        if st.session_state.pop(f"{self.prefix}_pressed", False) and not (run is not None and run.active):
            with ui.friendly_errors():
                if same and run.started and run.step >= run.target:
                    run.extend(steps)
                elif not same:
                    self._keep(None)  # free the previous copy before making a new one
                    run = None
                    with st.spinner(preparing):
                        run = make()
                    run.extra["signature"] = signature
                    self._keep(run)
                    same = True
                training.pause_others(BROWSERS.values(self.browser).values(), keep=run)
                training.start(run, alive=browser_connected())
                _first_point(run)
        running = run is not None and run.active
        if running:
            label = "Training…"
        elif run is None:
            label = start_label
        elif not same:
            label = "Start a new run"
        elif not run.started:
            label = start_label
        elif run.step >= run.target:
            label = f"Train {steps} more steps"
        else:
            label = f"Resume (step {run.step} of {run.target})"
        b1, b2, b3, _ = st.columns([2.2, 1, 1, 2.2])
        b1.button(label, key=f"{self.prefix}_start", type="primary", on_click=self._start, disabled=running)
        b2.button("Stop", key=f"{self.prefix}_stop", on_click=self._stop, disabled=not running)
        b3.button(
            "Reset",
            key=f"{self.prefix}_reset",
            on_click=self._reset,
            disabled=run is None,
            help="Forget the trained copy and go back to the original weights.",
        )
        notice = st.session_state.pop(f"{self.prefix}_notice", None)
        if notice:
            getattr(st, notice[0])(notice[1])
        return running

    def live(self, running: bool, draw: Callable[[training.Run], None], signature: Any = None) -> None:
        """Status, progress and `draw(run)` (its charts), redrawn every REDRAW_SECONDS while it trains."""

        @st.fragment(run_every=training.live.REDRAW_SECONDS if running else None)
        def view() -> None:
            r = self.run
            if r is None:
                return
            training.seen(r)
            if running and not r.active:  # the run has just ended: redraw the buttons and the results
                st.rerun()
            if r.status == "waiting" and r.message:
                st.info(r.message[1])
            elif r.active and not r.started:  # its own preparation (DPO: the reference's scores)
                text, fraction = r.preparing or ("Preparing the run…", 0.0)
                st.progress(fraction, text=text)
                return
            else:
                st.caption(
                    f"Run: {r.description}."
                    + ("" if r.active else speed_text(r))
                    + (
                        ""
                        if signature is None or self.same(signature)
                        else " (Settings have changed since: press Stop, then Start to train with the new ones.)"
                        if r.active
                        else " (Settings have changed since: press Start to train with the new ones.)"
                    )
                )
            if not r.started:  # stopped before its first step: nothing to draw yet
                return
            st.progress(min(1.0, r.step / max(1, r.target)), text=progress_text(r))
            draw(r)

        view()
        run = self.run
        if run is None or not run.started:  # plotly.js loads in the page before the run's first chart needs it
            chart.plotly_chart(None, key=f"{self.prefix}_chart_ahead", container=st.sidebar)
        if run is not None and not running and run.message:
            getattr(st, run.message[0])(run.message[1])


def _first_point(run: training.Run, seconds: float = FIRST_POINT_WAIT) -> None:
    """Wait a moment for a run just started to have its first point (its evaluation before training, and a
    quick preparation such as reference scores already known), so that this run of the page draws it
    instead of the view's next redraw."""
    deadline = time.monotonic() + seconds
    while run.active and not run.started and run.status != "waiting" and time.monotonic() < deadline:
        time.sleep(0.02)


def curve(r: training.Run, fig: Any, *, key: str) -> None:
    """A run's live chart, redrawn in place as it grows; a zoom or a curve hidden from the legend by
    the person looking stays for as long as it is this run's chart."""
    chart.plotly_chart(fig, key=key, keep_view=id(r))


def figures(r: training.Run, make: Callable[[], tuple], *key: Any) -> tuple:
    """The run's live figures, made again only when its history has grown: the view is redrawn every
    REDRAW_SECONDS, a step of a large model takes seconds, and building figures holds the interpreter
    lock the training thread needs."""
    history = r.trainer.history  # a step's entry is there before its evaluation: "seconds" comes after both
    stamp = (len(history), bool(history) and "seconds" in history[-1], r.target, *key)
    cached = r.extra.get("_figures")
    if cached is None or cached[0] != stamp:
        cached = (stamp, make())
        r.extra["_figures"] = cached
    return cached[1]


def _eta(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "…"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def progress_text(r: training.Run) -> str:
    t = r.trainer
    loss = t.last("loss")
    text = f"Step {r.step} of {r.target}" + (f" · train loss {loss:.3f}" if loss is not None else "")
    if r.active:
        unit = getattr(t.task, "unit", "tokens")  # what a step's "tokens" count: images on the Images page
        text += f" · {t.tokens_per_second():,.0f} {unit}/s · ETA {_eta(t.eta_seconds(r.target))}"
    return text


def speed_text(r: training.Run) -> str:
    if not (r.loop_steps and r.loop_seconds):
        return ""
    return (
        f" Speed: {r.loop_steps / r.loop_seconds:.1f} steps/s over {r.loop_steps} steps "
        f"({r.loop_steps / max(r.loop_cpu_seconds, 1e-9):.1f} per CPU second of the server)."
    )
