"""Steps per second of a run started from the live-training page (it trains in its own thread while
the page redraws its chart) against the same loop without any UI (same model, corpus, batch, seed
and number of steps).

    .venv/bin/python bench/training_speed.py [--steps 200] [--repeat 5] [--arch gpt] [--size tiny]

The page runs through Streamlit's AppTest (the real page script: progress bar, plotly chart and
checkpoint samples redrawn twice a second while the run trains); its loop time is what the run
measures around `training.train` in its thread. The plain loop calls `training.train` with no
callbacks. The two alternate for `--repeat` rounds, each measurement in a fresh process; each round
gives a ratio page / plain, and the median is reported, by wall clock and by CPU time of the process
(the CPU ratio is steadier on a machine shared with other work). AppTest's own 1 ms polling for the
end of a run is slowed to 50 ms and the page's compiled script kept between runs as a server keeps it (see
`bench.page_speed.server_like_apptest`; `--apptest-polling` keeps AppTest's own ways).
With `--server` the page runs in a real Streamlit server driven by headless Chromium (which shares
this machine's CPUs; the CPU figure is then the server process's own, as the page reports it). Also prints the plain loop with 2 torch threads, to check
which thread count is faster here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from bench.page_speed import server_like_apptest  # noqa: E402
from explorer import training  # noqa: E402


def page_loop(steps: int, arch: str, size: str) -> tuple[float, float]:
    """(steps per wall-clock second, steps per CPU second of this process) of a run started from the
    page through AppTest. The run trains in its own thread; meanwhile the whole page script is rerun
    every `REDRAW_SECONDS`, as a browser's timer reruns the page's live view (a full rerun costs more
    than that fragment alone, so this errs on the slow side)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
    at.run()
    at.switch_page("pages/training.py")
    at.run()
    at.radio(key="train_arch").set_value(arch)
    at.selectbox(key="train_size").set_value(size)
    at.selectbox(key="train_steps").set_value(steps)
    at.run()
    at.button(key="train_start").click().run()
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception[0].value}")
    run = at.session_state["training_run"]
    while not training.wait(run, timeout=training.live.REDRAW_SECONDS):
        at.run()
    assert run.step == steps and run.status == "done", (run.step, steps, run.status, run.message)
    return run.loop_steps / run.loop_seconds, run.loop_steps / run.loop_cpu_seconds


def server_loop(steps: int, arch: str, size: str) -> tuple[float, float]:
    """Steps/s of the page's loop in a real Streamlit server driven by headless Chromium (the
    browser shares this machine's CPUs); the page reports its own loop speed when the run ends."""
    import re

    from tests.browser import app_server, browser, wait_idle
    from tests.browser import choose_setting as choose

    with app_server() as url, browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url + "/training")
        wait_idle(page)
        if arch != "gpt":
            page.get_by_text(training.ARCHS[arch], exact=True).click()
            wait_idle(page)
        choose(page, "Steps", str(steps))
        page.get_by_role("button", name="Start training").click()
        page.wait_for_function("() => document.body.innerText.includes('Speed:')", timeout=1_800_000)
        text = page.evaluate("document.body.innerText")
    m = re.search(r"Speed: ([0-9.]+) steps/s over (\d+) steps \(([0-9.]+) per CPU second", text)
    assert int(m.group(2)) == steps, m.group(0)
    return float(m.group(1)), float(m.group(3))


def plain_loop(steps: int, arch: str, size: str, threads: int = 1) -> tuple[float, float]:
    """The same run with no UI at all: (steps per wall-clock second, steps per CPU second)."""
    torch.set_num_threads(threads)
    page = training.plan("scratch", steps=steps)
    probes = (
        ["ROMEO:", "Fair is foul, and", "The dog"]
        if arch == "gpt"
        else ["The sky is [MASK].", "Fair is foul, and foul is [MASK].", "The dog [MASK] at the cat."]
    )
    run = training.scratch_run(arch, size, training.corpus_text("shakespeare"), page, seed=0, probes=probes)
    t0, c0 = time.perf_counter(), time.process_time()
    training.train(run.trainer, steps)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def _measure_in_fresh_process(which: str, args, threads: int = 1) -> tuple:
    """Run one measurement in its own Python process, so rounds cannot slow each other down (AppTest
    keeps every message of a run, and a grown heap makes garbage collection slower)."""
    cmd = [
        sys.executable,
        __file__,
        "--only",
        which,
        "--steps",
        str(args.steps),
        "--arch",
        args.arch,
        "--size",
        args.size,
        "--threads",
        str(threads),
    ] + (["--apptest-polling"] if args.apptest_polling else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--arch", default="gpt", choices=list(training.ARCHS))
    ap.add_argument("--size", default="tiny", choices=list(training.SIZES))
    ap.add_argument("--apptest-polling", action="store_true", help="keep AppTest's 1 ms polling")
    ap.add_argument(
        "--server",
        action="store_true",
        help="measure the page in a real Streamlit server driven by headless Chromium instead of AppTest",
    )
    ap.add_argument("--only", choices=["page", "plain", "server"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.only:
        if args.only == "page" and not args.apptest_polling:
            server_like_apptest()
        if args.only == "plain":
            result = plain_loop(args.steps, args.arch, args.size, threads=args.threads)
        else:
            result = (server_loop if args.only == "server" else page_loop)(args.steps, args.arch, args.size)
        print(json.dumps(result))
        return
    p = training.plan("scratch", steps=args.steps)
    print(
        f"{args.arch} {args.size} on Shakespeare, batch {p.batch} x {p.seq_len} tokens, {args.steps} steps, "
        f"torch threads 1, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    wall, cpu = [], []
    for i in range(args.repeat):
        plain = _measure_in_fresh_process("plain", args)
        page = _measure_in_fresh_process("server" if args.server else "page", args)
        wall.append(page[0] / plain[0])
        cpu.append(page[1] / plain[1])
        print(
            f"  round {i + 1}: plain {plain[0]:.1f} steps/s ({plain[1]:.1f} per CPU s), "
            f"page {page[0]:.1f} steps/s ({page[1]:.1f} per CPU s): ratio {wall[-1]:.2f} wall, {cpu[-1]:.2f} CPU",
            flush=True,
        )
    where = "real server + Chromium" if args.server else "AppTest"
    print(
        f"ratio page ({where}) / plain, median of {args.repeat} rounds: {statistics.median(wall):.2f} by wall "
        f"clock, {statistics.median(cpu):.2f} by CPU time (goal >= 0.90)"
    )
    two = _measure_in_fresh_process("plain", args, threads=2)
    print(f"plain loop with 2 torch threads: {two[0]:.1f} steps/s (the page uses 1; compare the rounds above)")


if __name__ == "__main__":
    main()
