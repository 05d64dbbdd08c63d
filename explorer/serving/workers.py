"""The app's worker processes behind nginx: started, watched, restarted, stopped.

A worker is the app exactly as `serve.py` starts it alone, on a private port of 127.0.0.1. The
supervisor (`Workshop.run`) checks every worker once a second:

- a worker whose process has exited is taken out of nginx at once (marked `down`, nginx reloaded),
  started again on the same port and put back when `/_stcore/health` answers `ok`; a worker that
  keeps dying is restarted after 1, 2, 4 ... 30 s;
- a worker that is alive but has not answered its health check for `hang_after_s` seconds (not
  merely slow: a busy worker answers late, and is left alone) is killed and restarted the same way.

Its participants' browsers reconnect on their own (Streamlit's frontend retries the websocket);
nginx's hash then sends them to a live worker, where the page's link (every page keeps its inputs
in the URL) rebuilds what they were looking at. All workers share one cookie secret, so a
participant's XSRF cookie stays valid on whichever worker they land.

Memory: the supervisor imports torch, transformers, Streamlit and the app's modules once (`preload`)
and forks every worker from itself, as gunicorn's `--preload` does. What those imports allocate
(about 360 MB a process: the libraries' relocated tables, Python's module objects) is then shared
copy-on-write instead of held by every worker, and the model weights, which transformers maps from
their safetensors files, are shared through the page cache. No thread of Python's and no torch
thread pool runs in the supervisor when it forks (it never runs a model).
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import pkgutil
import secrets
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from explorer import paths
from explorer.serving import process, proxy

_LOG = logging.getLogger("ssl_explorer.serve")
ROOT = paths.app_dir()
MAX_BACKOFF_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def health(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> bool:
    """Whether the app on `port` answers its health check."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=timeout) as r:
            return r.read() == b"ok"
    except (OSError, ValueError):
        return False


PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.bert.modeling_bert",
    "streamlit.web.cli",
    "plotly.graph_objects",
    "pandas",
)


def preload() -> None:
    """Import what every worker needs, once, before the workers are forked (see the module docstring)."""
    import explorer

    for name in PRELOAD:
        importlib.import_module(name)
    for info in pkgutil.walk_packages(explorer.__path__, "explorer."):
        importlib.import_module(info.name)
    gc.collect()
    gc.freeze()  # the collector would otherwise write to every shared object's header in each worker


def run_streamlit(args: list[str]) -> None:
    """The app in this process (serve.py with one worker, or a forked worker): `streamlit run app.py`."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    # a first visit straight to a deep link must run with the app's navigation (serve.py's docstring)
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    cli.main()


@dataclass
class Worker:
    """One app process on a private port."""

    index: int
    port: int
    args: list[str]  # its Streamlit options
    env: dict
    log: Path
    proc: process.Forked | None = None
    state: str = "stopped"  # starting, up, down, stopped
    restarts: int = 0
    started_at: float = 0.0
    last_ok: float = 0.0
    next_start: float = 0.0  # when a crashed worker may start again (backoff)
    backoff: float = 1.0

    def start(self) -> None:
        self.proc = process.fork(lambda: run_streamlit(self.args), self.env, self.log, ROOT)
        self.state = "starting"
        self.started_at = self.last_ok = time.monotonic()

    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def stop(self, timeout: float = 10.0) -> None:
        process.stop(self.proc, timeout)
        self.state = "stopped"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid


def worker_args(port: int, streamlit_args: list[str]) -> list[str]:
    """The Streamlit options of one worker: the app's own, on a private port of 127.0.0.1."""
    return [*streamlit_args, "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true"]


@dataclass
class Workshop:
    """N workers behind one nginx on `address:port`."""

    n: int
    address: str = "127.0.0.1"
    port: int = 8501
    streamlit_args: list[str] = field(default_factory=list)
    run_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("SSL_EXPLORER_SERVE_DIR", "")
            or Path(os.environ.get("SSL_EXPLORER_CACHE", "") or Path.home() / ".cache" / "ssl-explorer") / "serve"
        )
    )
    interval_s: float = 1.0
    hang_after_s: float = 60.0
    startup_timeout_s: float = 300.0
    max_upload_mb: int = 5
    workers: list[Worker] = field(default_factory=list)
    nginx: proxy.Nginx | None = None
    events: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("--workers needs a whole number of at least 1")
        self.run_dir = Path(self.run_dir) / str(self.port)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32), "TOKENIZERS_PARALLELISM": "false"}
        for i in range(self.n):
            port = free_port()
            self.workers.append(
                Worker(i, port, worker_args(port, self.streamlit_args), env, self.run_dir / f"worker-{i}.log")
            )

    # ------------------------------------------------------------------ nginx

    def upstreams(self) -> list[proxy.Upstream]:
        return [proxy.Upstream(w.port, down=w.state != "up") for w in self.workers]

    def config(self) -> str:
        return proxy.config(
            self.upstreams(),
            address=self.address,
            port=self.port,
            prefix=self.run_dir,
            max_upload_mb=self.max_upload_mb,
        )

    def _apply(self) -> None:
        if self.nginx is not None and self.nginx.alive():
            self.nginx.reload(self.config())
        self.write_state()

    def write_state(self) -> None:
        """`workers.json` in the run folder: every worker's port, pid, state and restarts (for the
        operator, the benchmarks and the tests)."""
        rows = [
            {"index": w.index, "port": w.port, "pid": w.pid, "state": w.state, "restarts": w.restarts}
            for w in self.workers
        ]
        tmp = self.run_dir / "workers.json.new"
        tmp.write_text(json.dumps({"supervisor": os.getpid(), "port": self.port, "workers": rows}, indent=1))
        tmp.replace(self.run_dir / "workers.json")

    def _event(self, text: str) -> None:
        self.events.append(text)
        _LOG.warning(text)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start every worker, wait until all answer, then start nginx in front of them."""
        self.nginx = proxy.Nginx(self.run_dir)  # raises at once when nginx is missing
        preload()
        for w in self.workers:
            w.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while any(w.state != "up" for w in self.workers):
            for w in self.workers:
                if w.exited():
                    raise RuntimeError(f"worker {w.index} exited while starting: see {w.log}")
                if w.state == "starting" and health(w.port, timeout=1.0):
                    w.state = "up"
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start within {self.startup_timeout_s:.0f} s")
            if self.stopping.wait(0.2):
                return
        self.nginx.start(self.config())
        self.write_state()

    def check(self, now: float | None = None) -> None:
        """One round of supervision (see the module's docstring)."""
        now = time.monotonic() if now is None else now
        changed = False
        for w in self.workers:
            if w.state == "up" and w.exited():
                self._event(
                    f"worker {w.index} (port {w.port}) exited with code {w.proc.returncode}: taken out and restarted"
                )
                w.state, w.next_start = "down", now
                changed = True
            elif w.state in ("up", "starting") and not w.exited():
                if health(w.port, timeout=min(5.0, self.interval_s * 5)):
                    w.last_ok = now
                    if w.state == "starting":
                        w.state, w.backoff = "up", 1.0
                        self._event(f"worker {w.index} (port {w.port}) is back")
                        changed = True
                elif now - w.last_ok > (self.hang_after_s if w.state == "up" else self.startup_timeout_s):
                    self._event(
                        f"worker {w.index} (port {w.port}) has not answered for {now - w.last_ok:.0f} s: restarted"
                    )
                    was_up = w.state == "up"
                    w.stop(timeout=5)
                    w.state, w.next_start = "down", now
                    changed |= was_up
            elif w.state == "starting" and w.exited():  # died while starting: wait before the next try
                self._event(f"worker {w.index} (port {w.port}) exited while starting: next try in {w.backoff:.0f} s")
                w.state, w.next_start = "down", now + w.backoff
                w.backoff = min(MAX_BACKOFF_S, w.backoff * 2)
        if changed:
            self._apply()
        for w in self.workers:
            if w.state == "down" and now >= w.next_start:
                w.restarts += 1
                w.start()
                changed = True
        if changed:
            self.write_state()
        if self.nginx is not None and not self.nginx.alive() and not self.stopping.is_set():
            self._event("nginx exited: started again")
            self.nginx.start(self.config())

    def run(self) -> None:
        """Supervise until `stopping` is set (Ctrl+C or SIGTERM in serve.py)."""
        while not self.stopping.wait(self.interval_s):
            self.check()

    def stop(self) -> None:
        self.stopping.set()
        if self.nginx is not None:
            self.nginx.stop()
        for w in self.workers:
            if not w.exited():
                w.proc.terminate()
        for w in self.workers:
            w.stop(timeout=10)

    @property
    def url(self) -> str:
        host = "localhost" if self.address in ("0.0.0.0", "::", "127.0.0.1") else self.address
        return f"http://{host}:{self.port}"
