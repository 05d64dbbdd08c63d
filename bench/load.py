"""Load: N participants at once on one server, each clicking through the pages for a fixed time.

    python -m bench.load [--levels 5,10,20] [--duration 40] [--trainers 2] [--think 1.0] [--json FILE]

For each level a fresh `streamlit run app.py` serves N headless Chromium contexts (one browser, on
127.0.0.1). One participant opens every page first (models loaded, server memory measured with one
session); then all N run together until the time is up: `--trainers` of them train a tiny GPT on
the live-training page over and over, the others repeat a scripted mix (type a sentence with a
blank and mask words on the masked-LM page, greedy steps and a reset on the causal-LM page, hide
words on the masked-vs-causal page, switch attention views), with a random pause of about
`--think` seconds between actions. Every action is timed in the page (see `bench.web`).

Figures per level: actions per second (all sessions), p50/p95 latency, errors (error messages on
the page, timeouts), server RSS (from /proc/<pid>/status, sampled twice a second) with one session
and at the end, and RSS per extra session = (RSS at the end - RSS with one session) / (N - 1)
(goal <= 50 MB). Everything is bounded: each level stops by itself after --duration seconds, plus
at most --grace seconds for the actions in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scripted, web  # noqa: E402
from bench.common import app_threads, machine, save_json  # noqa: E402
from bench.fixtures import WORDS, masked_lm  # noqa: E402

GOAL_RSS_PER_SESSION_MB = 50
ACTION_TIMEOUT_S = 60
MAX_ACTIONS = 400  # per session and level
VERBOSE = False


class RSSSampler(threading.Thread):
    """Samples a process's resident memory twice a second."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append((time.perf_counter(), web.rss_mb(self.pid)))
            except OSError:
                return
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)

    @property
    def peak(self) -> float:
        return max((r for _, r in self.samples), default=float("nan"))


def mix_plan(index: int) -> list[tuple[str, tuple]]:
    """One round of a participant's actions as (action, arguments), the same for every kind of
    client: the action names are those of `bench.scripted` (browsers) and `bench.ws_load`."""
    w1, w2 = WORDS[index % len(WORDS)], WORDS[(index + 3) % len(WORDS)]
    blanked = scripted.BLANKED[index % len(scripted.BLANKED)]
    return [
        ("go", ("mlm",)),
        ("mlm_text", (blanked,)),
        ("mlm_click", (w1, True)),
        ("mlm_click", (w1, False)),
        ("go", ("clm",)),
        ("clm_button", ("Greedy",)),
        ("clm_button", ("Greedy",)),
        ("clm_button", ("Reset",)),
        ("go", ("compare",)),
        ("compare_word", ("dog",)),
        ("compare_word", ("mailman",)),
        ("go", ("attention",)),
        ("attention_view", ("All heads",)),
        ("attention_view", ("Heatmap",)),
        ("go", ("mlm",)),
        ("mlm_click", (w2, True)),
    ]


def mix(index: int) -> list:
    """One round of a participant's actions in a browser (each a function of the page)."""
    return [lambda page, name=name, args=args: getattr(scripted, name)(page, *args) for name, args in mix_plan(index)]


async def participant(
    browser, url: str, index: int, folder: str | None, deadline: float, think: float, clock
) -> list[web.Interaction]:
    """Open the app, then repeat the mix until `deadline` (on `clock`)."""
    rng = random.Random(index)
    _, page = await web.new_page(browser)
    t0 = clock()
    out: list[web.Interaction] = []
    try:
        await scripted.open_app(page, url, ACTION_TIMEOUT_S * 2)
        out.append(web.Interaction("open app", clock() - t0))
        if folder:
            out.append(await scripted.go(page, "mlm"))
            await scripted.pick_model(page, "Masked LM", folder)
    except Exception as exc:  # noqa: BLE001 - a session that cannot start is an error of the level
        return [web.Interaction("open app", None, error=web.describe(exc))]
    round_no = 0
    while clock() < deadline and len(out) < MAX_ACTIONS:
        for action in mix(index + round_no):
            if clock() >= deadline:
                break
            try:
                out.append(await asyncio.wait_for(action(page), ACTION_TIMEOUT_S + 30))
            except asyncio.TimeoutError:
                out.append(web.Interaction("stalled", None, error="no answer within the time limit"))
            if VERBOSE:
                last = out[-1]
                print(f"    [{index}] {last.kind} {last.seconds} {last.error}", file=sys.stderr, flush=True)
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        round_no += 1
    await page.context.close()
    return out


async def trainer(browser, url: str, deadline: float, clock) -> dict:
    _, page = await web.new_page(browser)
    try:
        await scripted.open_app(page, url, ACTION_TIMEOUT_S * 2)
        opened = await scripted.go(page, "training")
        result = await scripted.train_until(page, deadline, clock)
        if VERBOSE:
            print(f"    [train] {result}", file=sys.stderr, flush=True)
        result["open_error"] = opened.error
    except Exception as exc:  # noqa: BLE001
        result = {"steps": 0, "seconds": 0.0, "runs": 0, "errors": [web.describe(exc)]}
    await page.context.close()
    return result


async def warm_up(browser, url: str, folder: str | None) -> list[web.Interaction]:
    """One participant opens every page once (loads the models and plotly); not counted."""
    _, page = await web.new_page(browser)
    await scripted.open_app(page, url, 300)
    out = [await scripted.go(page, "mlm", timeout_s=300, chart=True)]
    await scripted.pick_model(page, "Masked LM", folder)
    for name in ("clm", "compare", "attention", "training"):
        out.append(await scripted.go(page, name, timeout_s=300))
    await page.context.close()
    return out


async def level(
    n: int,
    duration: float,
    trainers: int,
    think: float,
    folder: str | None,
    grace: float,
    env: dict | None = None,
    log: Path | None = None,
) -> dict:
    from playwright.async_api import async_playwright

    trainers = min(trainers, n)
    with web.app_server(env, log=log) as server:
        sampler = RSSSampler(server.proc.pid)
        sampler.start()
        try:
            async with async_playwright() as pw:
                browser = await web.launch(pw)
                try:
                    warm = await warm_up(browser, server.url, folder)
                    await asyncio.sleep(2)
                    rss_one = server.rss_mb()
                    browsers = [p for p in web.descendants(os.getpid()) if p != server.proc.pid]
                    cpu0 = {"server": web.cpu_seconds(server.proc.pid), **web.cpu_of(browsers)}
                    clock = time.perf_counter
                    start = clock()
                    deadline = start + duration
                    tasks = [trainer(browser, server.url, deadline, clock) for _ in range(trainers)]
                    tasks += [
                        participant(browser, server.url, i, folder, deadline, think, clock) for i in range(n - trainers)
                    ]
                    running = [asyncio.ensure_future(t) for t in tasks]
                    await asyncio.sleep(duration)  # the figures are taken when the time is up
                    rss_end = server.rss_mb()
                    server_cores = (web.cpu_seconds(server.proc.pid) - cpu0.pop("server")) / duration
                    browsers = [p for p in web.descendants(os.getpid()) if p != server.proc.pid]
                    browser_cores = sum(c - cpu0.get(p, 0.0) for p, c in web.cpu_of(browsers).items()) / duration
                    load_average = os.getloadavg()[0]
                    done = await finish(running, grace)
                finally:
                    await browser.close()
        finally:
            sampler.stop()
    r, _ = summarise_level(n, trainers, duration, think, done, deadline, warm, rss_one, rss_end, sampler.peak)
    return {**r, "server_cpu_cores": server_cores, "browser_cpu_cores": browser_cores, "load_average": load_average}


async def finish(running: list, grace: float) -> list:
    """Give the sessions' actions in flight `grace` seconds to end; then each session's result, or
    its exception (or a "did not stop in time" error), and cancel whatever still runs."""
    await asyncio.wait(running, timeout=grace)
    done = [
        t.result()
        if t.done() and not t.exception()
        else (t.exception() if t.done() else RuntimeError("did not stop in time"))
        for t in running
    ]
    for t in running:
        t.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    return done


def summarise_level(
    n: int,
    trainers: int,
    duration: float,
    think: float,
    done: list,
    deadline: float,
    warm: list,
    rss_one: float,
    rss_end: float,
    rss_peak: float,
) -> tuple[dict, list[dict]]:
    """The figures of one level from what its sessions returned (`done`: the trainers' dicts first,
    then each participant's interactions; an exception where a session failed), and the trainers'
    own dicts."""
    training = [
        d if isinstance(d, dict) else {"steps": 0, "seconds": 0.0, "runs": 0, "errors": [repr(d)[:160]]}
        for d in done[:trainers]
    ]
    sessions = [
        d if isinstance(d, list) else [web.Interaction("session", None, error=repr(d)[:160])] for d in done[trainers:]
    ]
    actions = [i for s in sessions for i in s]
    timed_actions = [i for i in actions if i.kind != "open app"]
    summary = web.summarise(timed_actions)
    in_time = [i for i in timed_actions if not i.error and i.at <= deadline]
    return {
        "sessions": n,
        "trainers": trainers,
        "duration_s": duration,
        "think_s": think,
        "actions": len(in_time),
        "throughput_per_s": len(in_time) / duration,
        "latency": summary,
        "errors": summary["errors"]
        + sum(len(t["errors"]) for t in training)
        + sum(1 for i in actions if i.kind == "open app" and i.error),
        "open_app": web.summarise([i for i in actions if i.kind == "open app"]),
        "by_kind": {k: web.summarise(timed_actions, [k]) for k in sorted({i.kind for i in timed_actions})},
        "training": {
            "steps": sum(t["steps"] for t in training),
            "steps_per_s": sum(t["steps"] for t in training) / max(1e-9, sum(t["seconds"] for t in training)),
            "runs": sum(t["runs"] for t in training),
            "errors": [e for t in training for e in t["errors"]],
        },
        "rss_one_session_mb": rss_one,
        "rss_end_mb": rss_end,
        "rss_peak_mb": rss_peak,
        "rss_per_extra_session_mb": (rss_end - rss_one) / (n - 1) if n > 1 else float("nan"),
        "goal_rss_per_session_mb": GOAL_RSS_PER_SESSION_MB,
        "warm_up_errors": [i.error for i in warm if i.error],
    }, training


def fmt_level(r: dict) -> str:
    """One level's figures as printed lines (browser or websocket clients)."""
    lat, tr = r["latency"], r["training"]
    polls = (
        f", {tr['polls']['n']} live-view reruns (p50 {tr['polls']['p50']:.2f} s)"
        if tr.get("polls", {}).get("n")
        else ""
    )
    clients = (
        f"browsers {r['browser_cpu_cores']:.2f} cores"
        if "browser_cpu_cores" in r
        else f"this client {r['client_cpu_cores']:.2f} cores"
    )
    lines = [
        f"  N = {r['sessions']:>2} ({r['trainers']} training): {r['throughput_per_s']:.2f} actions/s "
        f"({r['actions']} in {r['duration_s']:.0f} s); latency p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s; "
        f"errors {r['errors']}",
        f"           server RSS {r['rss_one_session_mb']:.0f} MB with one session -> {r['rss_end_mb']:.0f} MB "
        f"(peak {r['rss_peak_mb']:.0f} MB): {r['rss_per_extra_session_mb']:.1f} MB per extra session "
        f"(goal <= {GOAL_RSS_PER_SESSION_MB} MB: "
        f"{'ok' if r['rss_per_extra_session_mb'] <= GOAL_RSS_PER_SESSION_MB else 'over'})",
        f"           training: {tr['steps']} steps at {tr['steps_per_s']:.1f} steps/s per training session, "
        f"{tr['runs']} runs{polls}; app opened in p50 {r['open_app']['p50']:.1f} s",
        f"           CPU: server {r['server_cpu_cores']:.2f} cores, {clients}; "
        f"load average {r['load_average']:.1f} on {os.cpu_count()} cores",
    ]
    examples = lat["error_examples"] + tr["errors"] + r.get("warm_up_errors", [])
    if examples:
        lines.append("           e.g. " + "; ".join(examples[:3]))
    return "\n".join(lines)


def run_levels(
    argv: list[str] | None,
    *,
    doc: str,
    level_fn,
    fmt_fn,
    levels: str,
    duration: float,
    clients: str,
    set_verbose,
    extra: dict | None = None,
) -> dict:
    """The command line shared by the load tests: parse `argv`, run `level_fn` for each level, print
    each with `fmt_fn`, save the results (`--json`). `clients` says who plays the participants."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--levels", default=levels, help="numbers of simultaneous sessions")
    ap.add_argument("--duration", type=float, default=duration, help="seconds of activity per level")
    ap.add_argument("--trainers", type=int, default=2, help="sessions training at the same time")
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between one participant's actions (s)")
    ap.add_argument("--grace", type=float, default=120, help="seconds allowed after the end for actions in flight")
    ap.add_argument("--mlm", default="default", help="masked LM: default, standin, tiny, or an id/folder")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="ENV=VALUE",
        help="environment variable for the server (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    ap.add_argument("--server-log", type=Path, help="write the server's output to this file")
    ap.add_argument("--verbose", action="store_true", help="print every action as it ends")
    args = ap.parse_args(argv)
    app_threads()
    set_verbose(args.verbose)
    m = masked_lm(args.mlm)
    print(f"Machine: {machine()}")
    print(
        f"Masked LM: {m.lm.info.name} [{m.label}]; {args.duration:.0f} s per level, {args.trainers} sessions "
        f"training, pauses of ~{args.think:g} s; {clients} and server on this machine",
        flush=True,
    )
    results = []
    for n in [int(x) for x in args.levels.split(",") if x.strip()]:
        r = asyncio.run(
            level_fn(
                n,
                args.duration,
                args.trainers,
                args.think,
                m.folder,
                args.grace,
                dict(e.split("=", 1) for e in args.env) or None,
                args.server_log,
            )
        )
        results.append(r)
        print(fmt_fn(r), flush=True)
    out = {
        "machine": machine(),
        "mlm": m.label,
        "levels": results,
        "duration_s": args.duration,
        "trainers": args.trainers,
        "think_s": args.think,
        **(extra or {}),
    }
    save_json(args.json, out)
    return out


def _set_verbose(on: bool) -> None:
    global VERBOSE
    VERBOSE = on


def main(argv: list[str] | None = None) -> dict:
    return run_levels(
        argv,
        doc=__doc__,
        level_fn=level,
        fmt_fn=fmt_level,
        levels="5,10,20",
        duration=40,
        clients="browsers",
        set_verbose=_set_verbose,
    )


if __name__ == "__main__":
    main()
