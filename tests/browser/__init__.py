"""Helpers for real-browser tests: start the app on a free port, drive Debian's Chromium."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# a chart in the page: st.plotly_chart's element or a chart drawn in place (explorer.ui.chart)
CHARTS = '[data-testid="stPlotlyChart"], [data-testid="sslPlotlyChart"]'
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(env: dict | None = None, timeout: float = 90) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        str(ROOT / "serve.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    log = (
        open(ROOT / ".pytest_cache" / f"streamlit-{port}.log", "w")
        if (ROOT / ".pytest_cache").exists()
        else subprocess.DEVNULL
    )
    inherited = {k: v for k, v in os.environ.items() if k != "SSL_EXPLORER_BF16"}  # the app's own choice (conftest)
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**inherited, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("the app server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the Streamlit script run is finished (and the page has drawn something)."""
    page.wait_for_selector(
        '[data-testid="stMain"] [data-testid="stElementContainer"]', state="attached", timeout=timeout_ms
    )
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)


def choose_setting(page, label: str, option: str) -> None:
    """Pick an option of a selectbox inside the (collapsed) "Training settings" expander."""
    page.get_by_text("Training settings").click()
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    box.wait_for(state="visible")
    choose(page, box, page.get_by_role("option", name=option, exact=True))


def choose(page, box, opt) -> None:
    """Open a selectbox and click one of its options (the list sometimes does not open at the first click while
    an expander is still animating or the page still drawing)."""
    for _ in range(3):
        box.click()
        try:
            opt.wait_for(state="visible", timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - try again
            page.keyboard.press("Escape")
    opt.click()
    wait_idle(page)


def open_from_sidebar(page, url: str, title: str) -> None:
    """Load the app, then open one page by its menu title, waiting for each script run to finish."""
    page.goto(url)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page)


_SHARED: dict[str, object] = {}


def shared_server() -> str:
    """One app server for the tests that need nothing special of it (started on first use, stopped when
    the test process ends): each test still gets a session of its own in a new browser, and the models
    are loaded once instead of once per test."""
    if "url" not in _SHARED:
        stack = contextlib.ExitStack()
        _SHARED["url"] = stack.enter_context(app_server())
        atexit.register(stack.close)
    return _SHARED["url"]


@contextlib.contextmanager
def opened_page(
    title: str, *, width: int = 1400, height: int = 1000, fresh: bool = False
) -> Iterator[tuple[object, "RequestLog"]]:
    """Chromium with one page of the app opened from the menu: (page, request log). The app is the
    shared server, or with `fresh` one of its own (for a test that leaves work running on it)."""
    with app_server() if fresh else contextlib.nullcontext(shared_server()) as url, browser() as b:
        page = b.new_page(viewport={"width": width, "height": height})
        log = RequestLog(page)
        open_from_sidebar(page, url, title)
        yield page, log


@contextlib.contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class RequestLog:
    """Records every request a page makes; `external` lists those leaving 127.0.0.1."""

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))

    @property
    def external(self) -> list[str]:
        ok = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
        return [u for u in self.urls if not u.startswith(ok)]
