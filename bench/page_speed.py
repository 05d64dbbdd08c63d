"""A run started from the Alignment page against the same run with no UI: the one measurement the DPO and the
RLHF benchmarks share.

The page runs through Streamlit's AppTest (the whole page script rerun every REDRAW_SECONDS while the run
trains in its own thread, as a browser's timer reruns its live view); the plain loop calls `training.train` on
the same run. Each measurement runs in a fresh process (`python -m <module> --only page|plain`), the two
alternate for a number of rounds, and the median ratio page / plain is reported, by wall clock and by the
process's CPU time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def server_like_apptest() -> None:
    """Make AppTest run a page the way a server does, so that the page is measured, not AppTest:
    - AppTest waits for a script run by waking up every millisecond, which a server does not do (its event loop
      sleeps until a message comes); on a 2-core machine those wake-ups alone cost a training thread several
      percent. Poll every 50 ms instead.
    - AppTest compiles the page's script (and its magic) anew at every run; a server compiles it once and keeps
      the bytecode (its ScriptCache). Keep one cache for every run."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test
    from streamlit.testing.v1 import local_script_runner as lsr

    def wait_for_end(runner, timeout: float = 3) -> None:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if runner.script_stopped():
                return
            time.sleep(0.05)
        runner.request_stop()
        runner.join()
        raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")

    lsr.require_widgets_deltas = wait_for_end
    kept = ScriptCache()
    app_test.ScriptCache = lsr.ScriptCache = lambda: kept


def alignment_page_loop(view: str, settings: dict, start_key: str, run_key: str, steps: int) -> tuple[float, float]:
    """(steps per wall second, per CPU second) of the run the Alignment page's `view` starts with `settings`
    (session-state keys), `steps` steps; what the run does before its first step is not timed."""
    from streamlit.testing.v1 import AppTest

    from explorer import training

    server_like_apptest()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
    at.run()
    at.switch_page("pages/alignment.py")
    at.session_state["align_view"] = view
    for key, value in settings.items():
        at.session_state[key] = value
    at.run()
    for key, value in settings.items():
        if at.session_state[key] != value:
            raise SystemExit(f"{key} = {value!r} is not one of the page's choices")
    at.button(key=start_key).click().run()
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception[0].value}")
    run = at.session_state[run_key]
    while not training.wait(run, timeout=training.live.REDRAW_SECONDS):
        at.run()
    assert run.step == steps and run.status == "done", (run.step, steps, run.status, run.message)
    return run.loop_steps / run.loop_seconds, run.loop_steps / run.loop_cpu_seconds


def _fresh(module: str, which: str, steps: int) -> tuple:
    cmd = [sys.executable, "-m", module, "--only", which, "--speed-steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def page_against_plain(module: str, rounds: int, steps: int) -> dict:
    """`rounds` rounds of (plain, page) in fresh processes of `module`; the median ratios."""
    wall, cpu = [], []
    for i in range(rounds):
        plain, page = _fresh(module, "plain", steps), _fresh(module, "page", steps)
        wall.append(page[0] / plain[0])
        cpu.append(page[1] / plain[1])
        print(
            f"  speed round {i + 1}: plain {plain[0]:.3f} steps/s, page {page[0]:.3f} steps/s: ratio "
            f"{wall[-1]:.2f} wall, {cpu[-1]:.2f} CPU",
            flush=True,
        )
    return {
        "steps": steps,
        "rounds": rounds,
        "ratio_wall": statistics.median(wall),
        "ratio_cpu": statistics.median(cpu),
        "all_wall": wall,
    }
