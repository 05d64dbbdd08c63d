"""Workshop scale: the websocket load of `bench.ws_load` through nginx, with 1 and 2 workers side by side.

    python -m bench.workshop [--workers 1,2] [--levels 30,60] [--duration 30] [--trainers 2]
                             [--kill N] [--json FILE]

Each (workers, N) pair starts `serve.py --workers W --proxy` (nginx in front even of one worker, so
both sides pay for the proxy), warms every worker up directly (each opens every page once), then
runs N simulated participants through nginx for --duration seconds, the same mix as `bench.ws_load`.
Every participant first makes one request without a cookie, as a new browser does, and then sends the
`sslx_worker` cookie nginx set (the worker with the fewest connections), so the participants are
spread over the workers as a room is.

Figures per run: actions/s, p50/p95 latency, errors; server CPU (supervisor, workers and nginx
together) in cores and in CPU milliseconds per action; memory as PSS (`/proc/PID/smaps_rollup`),
the figure that adds up across processes that share pages: per process and in all, after the warm-up
and at the end. "Per extra worker" is the total PSS with W workers minus that with W-1, both after
the warm-up of the same run of this script.

--kill N: at level N, one more run with the most workers (after the runs compared above), and
halfway through it the worker that no trainer is on is killed
(SIGKILL). Its participants' connections drop; like Streamlit's frontend, they reconnect to the
proxy (every 0.5 s, same cookie) and reopen their page with its query string. Reported: errors of
the sessions on the other workers (goal 0), and how long the killed worker's sessions took from the
dropped connection to their page drawn again (goal <= 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, web, ws_load  # noqa: E402
from bench.common import app_threads, machine, save_json  # noqa: E402
from explorer.serving import process  # noqa: E402

RECONNECT_EVERY_S = 0.5
RECONNECT_LIMIT_S = 30.0


class Workshop:
    """`serve.py --workers W --proxy` on a free port, its run folder in a temporary directory."""

    def __init__(self, workers: int, log: Path | None = None):
        self.workers = workers
        self.port = web.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.dir = tempfile.mkdtemp(prefix="bench-workshop-")
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Workshop":
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "SSL_EXPLORER_SERVE_DIR": self.dir}
        out = open(self.log, "w") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "serve.py"),
                "--workers",
                str(self.workers),
                "--proxy",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.py exited with code {self.proc.returncode}")
            try:
                state = self.state()
                if (
                    all(w["state"] == "up" for w in state["workers"])
                    and urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok"
                ):
                    return self
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise RuntimeError("the workshop server did not start")

    def __exit__(self, *exc) -> None:
        process.stop(self.proc, timeout=30)  # SIGTERM: the supervisor stops nginx and its workers

    def state(self) -> dict:
        return json.loads((Path(self.dir) / str(self.port) / "workers.json").read_text())

    def pids(self) -> list[int]:
        return [self.proc.pid, *web.descendants(self.proc.pid)]

    def memory(self) -> dict:
        """PSS per process (supervisor, workers by index, nginx) and in all, in MB."""
        workers = {w["pid"]: w["index"] for w in self.state()["workers"]}
        out: dict = {"workers": {}, "nginx": 0.0}
        for pid in self.pids():
            try:
                m = web.smaps_mb(pid)
            except OSError:
                continue
            if pid == self.proc.pid:
                out["supervisor"] = m
            elif pid in workers:
                out["workers"][workers[pid]] = m
            else:
                out["nginx"] += m.get("Pss", 0.0)
        out["total_pss_mb"] = (
            out.get("supervisor", {}).get("Pss", 0.0) + out["nginx"] + sum(m["Pss"] for m in out["workers"].values())
        )
        return out

    def cpu_seconds(self) -> float:
        return sum(web.cpu_of(self.pids()).values())

    def new_browser(self) -> tuple[str, int]:
        """A first request without a cookie, as a new browser makes: (the cookie nginx set, the port of
        the worker it chose)."""
        with urllib.request.urlopen(self.url + "/_stcore/health", timeout=5) as r:
            cookie = next(c.split(";")[0] for c in r.headers.get_all("Set-Cookie") if c.startswith("sslx_worker="))
            return cookie, int(r.headers["X-Upstream"].split(",")[-1].rsplit(":", 1)[1])


async def reconnect(url: str, cookie: str, page: str, query: str) -> tuple[ws_load.Session | None, float]:
    """Reconnect as the frontend does and reopen `page` with `query`; (session, seconds) or (None, s)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < RECONNECT_LIMIT_S:
        try:
            session = await asyncio.wait_for(ws_load.connect(url, cookie), 5)
            await session.request(page=page, query=query, timeout=ws_load.ACTION_TIMEOUT_S)
            return session, time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - not up yet: try again
            await asyncio.sleep(RECONNECT_EVERY_S)
    return None, time.perf_counter() - t0


async def participant(
    url: str, index: int, cookie: str, deadline: float, think: float, max_actions: int = ws_load.MAX_ACTIONS
) -> dict:
    """`ws_load.participant` that reconnects when its connection drops; returns its interactions and
    its reconnections (seconds each, None for one that failed)."""
    rng = random.Random(index)
    out: list[web.Interaction] = []
    reconnects: list[float | None] = []
    try:
        session, opened = await ws_load.open_app(url, ws_load.ACTION_TIMEOUT_S * 2, cookie)
    except Exception as exc:  # noqa: BLE001
        return {"interactions": [web.Interaction("open app", None, error=web.describe(exc))], "reconnects": []}
    out.append(opened)
    round_no = 0
    try:
        while time.perf_counter() < deadline and len(out) < max_actions:
            for action in ws_load.mix(index + round_no, None):
                if time.perf_counter() >= deadline:
                    break
                result = await action(session)
                if result.error and session.reader.done():  # the connection dropped: not the page's error
                    page, query = session.page, session.query
                    await session.close()
                    session, seconds = await reconnect(url, cookie, page, query)
                    reconnects.append(seconds if session else None)
                    if session is None:
                        out.append(web.Interaction("reconnect", None, error="could not reconnect"))
                        return {"interactions": out, "reconnects": reconnects}
                    break  # the round starts again on the reopened page
                out.append(result)
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            round_no += 1
    finally:
        await session.close()
    return {"interactions": out, "reconnects": reconnects}


def cookies_for(server: Workshop, n: int) -> tuple[list[str], list[int]]:
    """One cookie per participant, set by nginx on their first request, and the worker port of each."""
    pairs = [server.new_browser() for _ in range(n)]
    return [c for c, _ in pairs], [p for _, p in pairs]


async def run(
    workers: int, n: int, duration: float, trainers: int, think: float, grace: float, kill: bool, log: Path | None
) -> dict:
    trainers = min(trainers, n)
    with Workshop(workers, log) as server:
        ports = [w["port"] for w in server.state()["workers"]]
        warm = []
        for port in ports:  # every worker loads its models before the clock starts
            warm += await ws_load.warm_up(f"ws://127.0.0.1:{port}/_stcore/stream", None)
        await asyncio.sleep(2)
        memory_warm = server.memory()
        cookies, ports_of = cookies_for(server, n)  # participant i: cookies[i], on worker port ports_of[i]
        victim = ports[0] if kill and workers > 1 else None
        order = sorted(range(n), key=lambda i: ports_of[i] == victim)  # trainers on a worker that stays
        trainer_ix, people_ix = order[:trainers], sorted(order[trainers:])
        cpu0, client0 = server.cpu_seconds(), time.process_time()
        start = time.perf_counter()
        deadline = start + duration
        tasks = [ws_load.trainer(server.ws_url, deadline, cookies[i]) for i in trainer_ix]
        most = max(ws_load.MAX_ACTIONS, int(duration * 2))  # a soak's participants keep going to the end
        tasks += [participant(server.ws_url, i, cookies[i], deadline, think, most) for i in people_ix]
        running = [asyncio.ensure_future(t) for t in tasks]
        sampler = asyncio.ensure_future(sample_memory(server, start, every=10.0))
        killed_at = None
        if victim is not None:
            await asyncio.sleep(duration / 2)
            pid = next(w["pid"] for w in server.state()["workers"] if w["port"] == victim)
            os.kill(pid, 9)
            killed_at = time.perf_counter() - start
            await asyncio.sleep(duration / 2)
        else:
            await asyncio.sleep(duration)
        server_cores = (server.cpu_seconds() - cpu0) / duration
        client_cores = (time.process_time() - client0) / duration
        memory_end = server.memory()
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        done = await load.finish(running, grace)
        restarts = [w["restarts"] for w in server.state()["workers"]]
    people_done = [d["interactions"] if isinstance(d, dict) else d for d in done[trainers:]]
    r, _ = load.summarise_level(
        n,
        trainers,
        duration,
        think,
        done[:trainers] + people_done,
        deadline,
        warm,
        memory_warm["total_pss_mb"],
        memory_end["total_pss_mb"],
        float("nan"),
    )
    r.update(
        workers=workers,
        server_cpu_cores=server_cores,
        client_cpu_cores=client_cores,
        cpu_ms_per_action=1000 * server_cores * duration / max(1, r["actions"]),
        memory_warm=memory_warm,
        memory_end=memory_end,
        restarts=restarts,
        pss_samples=SAMPLES.pop(start, []),
        sessions_per_worker={p: sum(1 for i in range(n) if ports_of[i] == p) for p in ports},
    )
    if victim is not None:
        on_victim = [ports_of[i] == victim for i in people_ix]
        others = [d for d, v in zip(people_done, on_victim) if not v]
        rec = [s for d, v in zip(done[trainers:], on_victim) if v and isinstance(d, dict) for s in d["reconnects"]]
        r["kill"] = {
            "at_s": killed_at,
            "sessions_on_killed": sum(on_victim),
            "errors_elsewhere": sum(1 for s in others for i in (s if isinstance(s, list) else []) if i.error)
            + sum(1 for s in others if not isinstance(s, list))
            + sum(len(t["errors"]) for t in done[:trainers] if isinstance(t, dict)),
            "examples_elsewhere": sorted(
                {i.error for s in others if isinstance(s, list) for i in s if i.error}
                | {e for t in done[:trainers] if isinstance(t, dict) for e in t["errors"]}
            )[:3],
            "reconnects": len(rec),
            "failed_reconnects": sum(1 for s in rec if s is None),
            "reconnect_s": web.stats([s for s in rec if s is not None]),
        }
    return r


SAMPLES: dict[float, list] = {}  # run start -> [(seconds, total PSS MB)], filled while the run goes


async def sample_memory(server: Workshop, start: float, every: float) -> None:
    """Total PSS every `every` seconds during a run (a soak reads its growth from them)."""
    out = SAMPLES.setdefault(start, [])
    while True:
        out.append((time.perf_counter() - start, server.memory()["total_pss_mb"]))
        await asyncio.sleep(every)


def soak_summary(samples: list, warm_up_s: float = 180.0) -> dict | None:
    """Total PSS at the start, after the warm-up, at the end and at its peak, and the growth from the
    end of the warm-up to the end (a fraction), for runs of at least twice the warm-up."""
    if not samples or samples[-1][0] < 2 * warm_up_s:
        return None
    base = next(mb for t, mb in samples if t >= warm_up_s)
    return {
        "start": samples[0][1],
        "base": base,
        "end": samples[-1][1],
        "peak": max(mb for _, mb in samples),
        "growth": samples[-1][1] / base - 1,
    }


def soak_growth(samples: list, warm_up_s: float = 180.0) -> float | None:
    summary = soak_summary(samples, warm_up_s)
    return None if summary is None else summary["growth"]


def fmt(r: dict) -> str:
    lat, mem = r["latency"], r["memory_warm"]
    per = ", ".join(f"worker {i} {m['Pss']:.0f}" for i, m in sorted(mem["workers"].items()))
    lines = [
        f"  {r['workers']} worker(s), N = {r['sessions']} ({r['trainers']} training): "
        f"{r['throughput_per_s']:.2f} actions/s, p50 {lat['p50']:.2f} s, p95 {lat['p95']:.2f} s, "
        f"errors {r['errors']}; sessions per worker {list(r['sessions_per_worker'].values())}",
        f"      server CPU {r['server_cpu_cores']:.2f} cores, {r['cpu_ms_per_action']:.0f} CPU ms per action; "
        f"this client {r['client_cpu_cores']:.2f} cores",
        f"      PSS after warm-up {mem['total_pss_mb']:.0f} MB in all (supervisor "
        f"{mem.get('supervisor', {}).get('Pss', 0):.0f}, {per}, nginx {mem['nginx']:.0f}); at the end "
        f"{r['memory_end']['total_pss_mb']:.0f} MB",
    ]
    soak = soak_summary(r.get("pss_samples", []))
    if soak is not None:
        lines.append(
            f"      soak: PSS {soak['start']:.0f} MB at the start, after 3 min {soak['base']:.0f} MB, at the end "
            f"{soak['end']:.0f} MB ({soak['growth']:+.1%} after warm-up; goal <= +10%), peak {soak['peak']:.0f} MB"
        )
    if "kill" in r:
        k = r["kill"]
        lines.append(
            f"      worker killed at {k['at_s']:.0f} s with {k['sessions_on_killed']} sessions: errors on "
            f"the other workers {k['errors_elsewhere']}; {k['reconnects']} reconnections, "
            f"{k['failed_reconnects']} failed, p50 {k['reconnect_s']['p50'] or 0:.1f} s, max "
            f"{k['reconnect_s']['max'] or 0:.1f} s"
        )
    if lat["error_examples"]:
        lines.append("      e.g. " + "; ".join(lat["error_examples"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2", help="worker counts to compare")
    ap.add_argument("--levels", default="30,60", help="numbers of simultaneous sessions")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--trainers", type=int, default=2)
    ap.add_argument("--think", type=float, default=1.0)
    ap.add_argument("--grace", type=float, default=120)
    ap.add_argument(
        "--kill",
        type=int,
        default=0,
        metavar="N",
        help="kill a worker halfway through the run with the most workers at this level",
    )
    ap.add_argument("--server-log", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    app_threads()
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    print(
        f"Machine: {machine()}\nws_load mix through nginx; {args.duration:.0f} s per run, {args.trainers} "
        f"training, pauses of ~{args.think:g} s",
        flush=True,
    )
    results = []
    for n in [int(x) for x in args.levels.split(",") if x.strip()]:
        for w in counts + ([max(counts)] if n == args.kill and max(counts) > 1 else []):
            kill = (
                n == args.kill and w == max(counts) and any(r["sessions"] == n and r["workers"] == w for r in results)
            )
            r = asyncio.run(run(w, n, args.duration, args.trainers, args.think, args.grace, kill, args.server_log))
            results.append(r)
            print(fmt(r), flush=True)
    by = {(r["workers"], r["sessions"]): r for r in results if "kill" not in r}
    extra = {
        f"{w}": by[(w, n)]["memory_warm"]["total_pss_mb"] - by[(w - 1, n)]["memory_warm"]["total_pss_mb"]
        for (w, n) in by
        if (w - 1, n) in by
    }
    for n in sorted({r["sessions"] for r in results}):
        if (1, n) in by and (2, n) in by:
            print(
                f"  N = {n}: 2 workers / 1 worker = {by[(2, n)]['throughput_per_s'] / by[(1, n)]['throughput_per_s']:.2f}x"
                f" actions/s; PSS per extra worker {by[(2, n)]['memory_warm']['total_pss_mb'] - by[(1, n)]['memory_warm']['total_pss_mb']:.0f} MB"
            )
    out = {"machine": machine(), "runs": results, "pss_per_extra_worker_mb": extra, "duration_s": args.duration}
    save_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
