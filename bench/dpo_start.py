"""Seconds from pressing Start on the Alignment page's DPO tab to the run's first chart point, in Chromium.

    python -m bench.dpo_start [--rounds 4] [--cold] [--cache DIR] [--pause S] [--rev REV]

A real server and headless Chromium on this machine. The page opens the DPO tab with its defaults (the
bundled pairs, the packaged SmolLM2) and presses Start; each round times, from the click: the first
point of the held-out accuracy curve (the evaluation before training), and the first training step's
point (the "margin (train)" curve); then Stop and Reset. The first round of a fresh server finds the
reference model's scores of the bundled pairs on disk (the cache folder) or, with `--cold` (a new
cache folder holding only the converted SmolLM2), computes them, and a second server on that folder
(a restart) then finds them on disk; later rounds find them in memory.
`--rev REV` times the app with the run-control files as they were at git revision REV, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402

CURVE = """(name) => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.data || []).find(d => d.name === name);
        if (t && t.x.length) return t.x.length;
    }
    return 0;
}"""
# the files a comparison with an older revision takes from it
FILES = [
    "app.py",
    "pages/alignment.py",
    "pages/home.py",
    "pages/lessons.py",
    "pages/images.py",
    "explorer/ui/__init__.py",
    "explorer/ui/live_run.py",
    "explorer/ui/links.py",
    "explorer/ui/stages_view.py",
    "explorer/training/__init__.py",
    "explorer/training/live.py",
    "explorer/training/loop.py",
    "explorer/training/runs.py",
    "explorer/training/dpo.py",
    "explorer/training/alignment_runs.py",
    "explorer/training/sft.py",
]


@contextlib.contextmanager
def cache_folder(cold: bool, folder: str | None = None):
    """The server's cache folder: the usual one, `folder`, or (cold) a new one holding only the converted
    SmolLM2 (in `folder` if given, which is then kept)."""
    if not cold:
        yield {"SSL_EXPLORER_CACHE": folder} if folder else {}
        return
    from explorer.models.made import gguf_cache

    with contextlib.ExitStack() as stack:
        d = folder or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-dpo-"))
        Path(d).mkdir(parents=True, exist_ok=True)
        Path(d, gguf_cache.smollm2_cache_path().name).symlink_to(gguf_cache.smollm2_cache_path())
        yield {"SSL_EXPLORER_CACHE": d}


def _start_label(page) -> str:
    for name in ("Start DPO training", "Start training"):  # the label before it read "Start DPO training"
        if page.get_by_role("button", name=name, exact=True).count():
            return name
    raise AssertionError("no Start button: " + page.evaluate("document.body.innerText")[-800:])


def rounds(url: str, n: int, timeout_s: float, pause_s: float = 0.0) -> list[dict]:
    import re

    from tests.browser import browser, wait_idle

    out = []
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url + "/alignment")
        wait_idle(page, timeout_ms=int(timeout_s * 1000))
        page.get_by_role("tab", name="Train with DPO").click()
        wait_idle(page, timeout_ms=int(timeout_s * 1000))
        page.wait_for_timeout(pause_s * 1000)  # a participant reads the tab before pressing Start
        for i in range(n):
            start = page.get_by_role("button", name=_start_label(page), exact=True)
            t0 = time.perf_counter()
            start.click()
            page.wait_for_selector(
                "[data-testid=stMain] .ssl-chart, [data-testid=stMain] [data-testid=stPlotlyChart]",
                state="attached",
                timeout=timeout_s * 1000,
            )
            element = time.perf_counter() - t0  # the chart's element has come from the server
            page.wait_for_function(f"() => ({CURVE})('accuracy, held-out pairs') > 0", timeout=timeout_s * 1000)
            first = time.perf_counter() - t0
            page.wait_for_function(f"() => ({CURVE})('margin (train)') > 0", timeout=timeout_s * 1000)
            step = time.perf_counter() - t0
            out.append(
                {
                    "round": i,
                    "chart_element_s": round(element, 2),
                    "first_point_s": round(first, 2),
                    "first_step_s": round(step, 2),
                }
            )
            print(json.dumps(out[-1]), flush=True)
            page.get_by_role("button", name="Stop", exact=True).click()
            page.get_by_role("button", name=re.compile(r"^Resume \(step")).wait_for(timeout=timeout_s * 1000)
            wait_idle(page, timeout_ms=int(timeout_s * 1000))
            page.get_by_role("button", name="Reset", exact=True).click()
            wait_idle(page, timeout_ms=int(timeout_s * 1000))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument(
        "--cold",
        action="store_true",
        help="a new cache folder: the first server's first round computes the reference scores, and a "
        "second server (a restart) then finds them on disk",
    )
    ap.add_argument("--cache", help="the cache folder to use (with --cold: a new folder to make and keep)")
    ap.add_argument("--rev", help="time the run-control files as they were at this git revision")
    ap.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds between the tab's opening and the first Start (the page loads plotly.js meanwhile)",
    )
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)

    from bench.web import app_server, tree_at

    tree = tree_at(args.rev, FILES) if args.rev else contextlib.nullcontext(ROOT)
    servers = {}
    with tree as root, cache_folder(args.cold, args.cache) as env:
        for name in ["first start", "restart"] if args.cold else ["server"]:
            with app_server(env=env or None, timeout=180, root=root) as server:
                print(f"# {name}", flush=True)
                servers[name] = rounds(server.url, args.rounds, args.timeout, args.pause)
    result = {
        "machine": machine(),
        "cold_cache": args.cold,
        "rev": args.rev or "working tree",
        "pause_s": args.pause,
        "servers": servers,
    }
    for name, got in servers.items():
        warm = got[1:] or got
        result[name] = {
            "first_round_first_point_s": got[0]["first_point_s"],
            "first_round_first_step_s": got[0]["first_step_s"],
            "later_rounds_first_point_s_median": statistics.median(r["first_point_s"] for r in warm),
            "later_rounds_first_step_s_median": statistics.median(r["first_step_s"] for r in warm),
        }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
