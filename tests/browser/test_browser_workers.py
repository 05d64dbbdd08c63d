"""Real browser through nginx: two workers, participants spread over them, one worker killed.

What a room sees when a worker dies: its participants' pages come back by themselves, with their
text and their masked token, on a live worker; the participants of the other worker notice nothing;
Ctrl+C then stops nginx and every worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser import ARGS, CHARTS, CHROMIUM, ROOT, free_port, wait_idle
from tests.core.serving.test_serving import needs_nginx

pytestmark = [pytest.mark.browser, needs_nginx]
TEXT = "Bees make honey in the hive."


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def workshop(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "serve.py"),
            "--workers",
            "2",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "SSL_EXPLORER_SERVE_DIR": str(tmp_path)},
        stdout=open(tmp_path / "serve.out", "w"),
        stderr=subprocess.STDOUT,
    )
    state = tmp_path / str(port) / "workers.json"
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, (tmp_path / "serve.out").read_text()
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok" and state.exists():
                break
        except OSError:
            pass
        time.sleep(0.3)
    else:
        raise RuntimeError("the workshop server did not start")
    try:
        yield proc, url, lambda: json.loads(state.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()


def open_masked_lm(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + "/masked_lm")
    wait_idle(page)
    expect(page.locator(CHARTS)).to_have_count(1, timeout=90_000)
    worker = next(c["value"] for c in context.cookies() if c["name"] == "sslx_worker")
    return page, worker


def mask(page, piece: str, charts: int) -> None:
    page.locator('[data-testid="stButtonGroup"]').first.get_by_role("button", name=piece, exact=True).click()
    wait_idle(page)
    expect(page.locator(CHARTS)).to_have_count(charts, timeout=60_000)


def test_a_killed_workers_participants_get_their_page_back_and_the_others_notice_nothing(workshop):
    from playwright.sync_api import sync_playwright

    proc, url, state = workshop
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            victim_page, victim = open_masked_lm(browser, url)
            other_page, other = open_masked_lm(browser, url)
            assert {victim, other} == {"w0", "w1"}  # the second browser went to the idle worker

            box = victim_page.get_by_label("Text", exact=True)
            box.fill(TEXT)
            box.press("Control+Enter")
            wait_idle(victim_page)
            mask(victim_page, "␣honey", 1)
            assert "mlm_text=Bees" in victim_page.url

            workers = state()["workers"]
            doomed = next(w for w in workers if f"w{w['index']}" == victim)
            os.kill(doomed["pid"], signal.SIGKILL)

            # the page reconnects by itself and is drawn again from its link on a live worker
            victim_page.wait_for_timeout(1500)
            wait_idle(victim_page)
            expect(victim_page.locator(CHARTS)).to_have_count(1, timeout=60_000)
            assert victim_page.get_by_label("Text", exact=True).input_value() == TEXT
            chart = victim_page.locator(CHARTS).first
            chart.locator(".main-svg").first.wait_for()
            assert "answer “␣honey”" in chart.inner_text()  # the masked token came back with the text
            mask(victim_page, "␣hive", 2)  # and it answers: a live worker serves it

            # the other worker's participant saw no reconnection and keeps working
            mask(other_page, "␣France", 2)
            for page in (victim_page, other_page):
                assert page.locator('[data-testid="stException"]').count() == 0
                assert not page.get_by_text("Something went wrong").count()

            # the supervisor restarted the killed worker
            deadline = time.time() + 60
            while time.time() < deadline and not any(
                w["index"] == doomed["index"] and w["state"] == "up" and w["restarts"] == 1 for w in state()["workers"]
            ):
                time.sleep(0.5)
            assert any(
                w["index"] == doomed["index"] and w["restarts"] == 1 and w["state"] == "up" for w in state()["workers"]
            ), state()
        finally:
            browser.close()

    # Ctrl+C stops nginx and every worker
    pids = [w["pid"] for w in state()["workers"]]
    children = [
        int(x) for x in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert set(pids) <= set(children) and len(children) == 3  # two workers and nginx
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    time.sleep(1)
    assert [pid for pid in children if alive(pid)] == []
