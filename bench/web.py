"""The app server and in-browser timing for the browser benchmarks (latency, cold start, load).

Timing happens inside the page, on the browser's clock: a MutationObserver notes when the
Streamlit script state goes running -> notRunning and when anything inside a plotly chart
changes; the click or key press that starts an interaction is noted by a capturing listener.
An interaction's latency is "event -> last change of a chart" once the app is idle and the
page has been quiet for a moment ("event -> rerun finished" when no chart changed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser import ARGS, CHARTS, CHROMIUM, free_port  # noqa: E402

QUIET_MS = 300  # no chart change and no rerun for this long: the interaction is over
VIEWPORT = {"width": 1400, "height": 1000}

# Installed in every page before the app loads (survives Streamlit's in-app page switches).
HARNESS = """
(() => {
  if (window.__bench) return;
  const b = window.__bench = {armed: false, t0: null, chart: null, idle: null, any: null, running: false};
  const CHART = '%CHARTS%';
  const inChart = n => {
    const el = n && (n.nodeType === 1 ? n : n.parentElement);
    return !!(el && el.closest && el.closest(CHART));
  };
  const addsChart = nodes => Array.from(nodes || []).some(
    n => n.nodeType === 1 && (n.matches(CHART) || n.querySelector(CHART)));
  const observer = new MutationObserver(muts => {
    const now = performance.now();
    for (const m of muts) {
      if (m.type === 'attributes' && m.attributeName === 'data-test-script-state') {
        const s = m.target.getAttribute('data-test-script-state');
        if (s === 'running') { b.running = true; b.idle = null; }
        else if (s === 'notRunning' && b.running) { b.running = false; b.idle = now; }
        continue;
      }
      if (b.t0 === null) continue;
      b.any = now;
      if (inChart(m.target) || addsChart(m.addedNodes)) b.chart = now;
    }
  });
  const start = () => observer.observe(document.documentElement,
    {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
  const mark = e => { if (b.armed && b.t0 === null) { b.t0 = e.timeStamp || performance.now(); b.armed = false; } };
  window.addEventListener('click', mark, true);
  window.addEventListener('keydown', e => { if (e.key === 'Enter') mark(e); }, true);
})();
""".replace("%CHARTS%", CHARTS)
ARM = "() => { const b = window.__bench; b.armed = true; b.t0 = b.chart = b.idle = b.any = null; }"
# Over when the app is idle and nothing changed for `quiet` ms, after a rerun or a chart change (with
# `chart`: a chart change). A rerun so short that the page never showed "running" counts when the page
# has been quiet for a while after the event.
SETTLED = """(a) => {
  const b = window.__bench, app = document.querySelector('[data-testid="stApp"]'), now = performance.now();
  if (!b || b.t0 === null || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (a.chart && b.chart === null) return false;
  if (b.idle === null && b.chart === null && now - b.t0 < 1500) return false;
  return now - Math.max(b.idle || 0, b.chart || 0, b.any || 0) > a.quiet;
}"""
CHART_DRAWN = f":is({CHARTS}) .main-svg"
READ = "() => { const b = window.__bench; return {t0: b.t0, chart: b.chart, idle: b.idle, any: b.any}; }"
ERRORS = """() => Array.from(document.querySelectorAll(
  '[data-testid="stException"], [data-testid="stAlertContentError"]')).map(e => e.innerText.slice(0, 160))"""


# --------------------------------------------------------------------------- server


class Server:
    """The app on a free port of 127.0.0.1, started as `make run` does (from `root`)."""

    def __init__(self, env: dict | None = None, log: Path | None = None, root: Path = ROOT):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> "Server":
        serve = self.root / "serve.py"  # what `make run` starts; else streamlit itself
        start = (
            [sys.executable, str(serve)]
            if serve.exists()
            else [sys.executable, "-m", "streamlit", "run", str(self.root / "app.py")]
        )
        cmd = [
            *start,
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        out = open(self.log, "w") if self.log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds from start until /_stcore/health answers."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app server exited with code {self.proc.returncode}")
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the app server did not start")

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def app_server(
    env: dict | None = None, timeout: float = 120, root: Path = ROOT, log: Path | None = None
) -> Iterator[Server]:
    server = Server(env, log=log, root=root).start()
    try:
        server.wait_healthy(timeout)
        yield server
    finally:
        server.stop()


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """Resident memory of a process in MB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def smaps_mb(pid: int) -> dict[str, float]:
    """A process's memory from /proc/<pid>/smaps_rollup in MB: Rss, Pss (its private pages plus its
    share of every page it shares: the figure that adds up across processes), Private_Dirty, Anonymous."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty", "Anonymous"):
                out[name] = int(rest.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process started, directly or not, by `pid` (e.g. a browser's helper processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[pid] = cpu_seconds(pid)
    return out


@contextlib.contextmanager
def tree_at(rev: str, paths: list[str]) -> Iterator[Path]:
    """A temporary copy of the working tree with `paths` as they are at git revision `rev`, to time a
    change against what it replaces in one run (git is only read)."""
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as d:
        root = Path(d) / "app"
        shutil.copytree(
            ROOT,
            root,
            symlinks=True,
            ignore=shutil.ignore_patterns(".git", ".venv", "build", "runs", ".pytest_cache", "__pycache__", "*.whl"),
        )
        for path in paths:
            old = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, check=True).stdout
            (root / path).write_bytes(old)
        yield root


@contextlib.contextmanager
def temp_cache() -> Iterator[str]:
    """An empty SSL_EXPLORER_CACHE folder (no converted model)."""
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as d:
        yield d


# --------------------------------------------------------------------------- browser


@dataclass
class Interaction:
    kind: str
    seconds: float | None  # event -> chart drawn (or -> rerun finished when no chart changed)
    rerun_seconds: float | None = None  # event -> script run finished
    chart: bool = False  # a chart changed
    error: str = ""
    at: float = field(default_factory=time.perf_counter)


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


async def new_page(browser):
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(HARNESS)
    return context, await context.new_page()


async def wait_idle(page, timeout_s: float = 120) -> None:
    """The current script run is over (twice, a moment apart, as a rerun may follow)."""
    sel = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    await page.wait_for_selector(sel, timeout=timeout_s * 1000)
    await page.wait_for_timeout(300)
    await page.wait_for_selector(sel, timeout=timeout_s * 1000)


async def timed(
    page,
    kind: str,
    action: Callable[[], Awaitable[None]],
    *,
    timeout_s: float = 120,
    check: Callable[[], Awaitable[str]] | None = None,
    chart: bool = False,
) -> Interaction:
    """Run `action` (a click or a key press) and time it to the chart drawn; errors are recorded, not raised.

    With `chart`, the action must change a chart, and it is over only once a chart is drawn (the
    first chart of a session waits for plotly.js to load).
    """
    settled = {"quiet": QUIET_MS, "chart": chart}
    try:
        await page.evaluate(ARM)
        await action()
        await page.wait_for_function(SETTLED, arg=settled, timeout=timeout_s * 1000, polling=50)
        if chart:
            await page.locator(CHART_DRAWN).first.wait_for(timeout=timeout_s * 1000)
            await page.wait_for_function(SETTLED, arg=settled, timeout=timeout_s * 1000, polling=50)
        t = await page.evaluate(READ)
        problem = await check() if check else ""
        shown = await page.evaluate(ERRORS)
        if not problem and shown:
            problem = "error shown: " + " ".join(shown[0].split())
        end = next((t[k] for k in ("chart", "idle", "any") if t[k] is not None), None)
        if end is None:
            return Interaction(kind, None, error="nothing changed on the page")
        rerun = (t["idle"] - t["t0"]) / 1000 if t["idle"] is not None else None
        return Interaction(kind, (end - t["t0"]) / 1000, rerun, t["chart"] is not None, problem)
    except Exception as exc:  # noqa: BLE001 - a failed interaction is a figure of the benchmark
        return Interaction(kind, None, error=describe(exc))


def describe(exc: BaseException) -> str:
    """An exception in one line."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"


def stats(values: list[float]) -> dict:
    from bench.common import median, p

    return {"n": len(values), "p50": median(values), "p95": p(values, 95), "max": max(values) if values else None}


def summarise(interactions: list[Interaction], kinds: list[str] | None = None) -> dict:
    """p50/p95 (seconds) of the interactions of `kinds` (all when None), and their errors."""
    chosen = [i for i in interactions if kinds is None or i.kind in kinds]
    ok = [i.seconds for i in chosen if not i.error and i.seconds is not None]
    return {
        **stats(ok),
        "errors": sum(1 for i in chosen if i.error),
        "error_examples": sorted({i.error for i in chosen if i.error})[:3],
    }
