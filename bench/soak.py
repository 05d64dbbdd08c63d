"""Soak: one server, many participants for a long time; does memory stay put and does nothing break?

    python -m bench.soak [--minutes 20] [--n 20] [--trainers 2] [--warmup 3] [--json FILE]

N websocket participants (`bench.ws_load`, no browser) use the app for `--minutes`: they repeat the
masked-LM, causal-LM, masked-vs-causal and attention actions, change pages, and every few rounds
close their tab and open a new one (a new session). `--trainers` of them start and stop a tiny GPT
on the live-training page, and every other training run uses a corpus they upload (a .txt file,
through Streamlit's own upload endpoint, as the browser does). The server's memory is sampled every
few seconds; after `--warmup` minutes the level it reached is the baseline for the growth figure
(goal: <= 10 %). At the end every tab closes and the server's own count of sessions (from its
/_stcore/metrics) must fall back to none, with their memory. Errors: error or exception elements
in any run, timeouts, failed uploads (goal: zero).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, web, ws_load  # noqa: E402
from bench.common import app_threads, machine, save_json  # noqa: E402

GOAL_GROWTH = 0.10
REOPEN_EVERY = 3  # rounds of the mix before a participant closes its tab and opens a new one
UPLOAD_TEXT = ("The cat sat on the mat. The dog slept by the door. A bird sang in the tree. " * 40).encode()


def xsrf_cookie(http_url: str) -> str:
    """The XSRF cookie the app sets when the page checks its health (what a browser sends with an upload)."""
    with urllib.request.urlopen(http_url + "/_stcore/health", timeout=30) as r:
        for header in r.headers.get_all("Set-Cookie") or []:
            m = re.match(r"_streamlit_xsrf=([^;]+)", header)
            if m:
                return m.group(1)
    return ""


def put_file(http_url: str, session_id: str, file_id: str, name: str, data: bytes, token: str) -> int:
    """Upload one file for a session, as st.file_uploader's frontend does; the HTTP status."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        f"{http_url}/_stcore/upload_file/{session_id}/{file_id}",
        data=body,
        method="PUT",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Xsrftoken": token,
            "Cookie": f"_streamlit_xsrf={token}",
        },
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def live_sessions(http_url: str) -> int | None:
    """Sessions the server holds (its /_stcore/metrics "active_sessions"); None if unknown."""
    try:
        text = urllib.request.urlopen(http_url + "/_stcore/metrics", timeout=10).read().decode()
    except OSError:
        return None
    m = re.search(r"^active_sessions (\d+)", text, re.M)
    return int(m.group(1)) if m else None


async def upload_corpus(session: ws_load.Session, http_url: str, token: str) -> web.Interaction:
    """On the training page: pick "Upload a .txt file", upload one, and run the page with it."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    corpus = session.find("Selectbox", key="train_corpus")
    if corpus is None:
        return ws_load.missing("upload", "the training-text choice")
    picked = await ws_load.change(session, "upload pick", corpus, "Upload a .txt file")
    if picked.error:
        return picked
    up = session.find("FileUploader", key="train_upload")
    if up is None or not session.session_id:
        return ws_load.missing("upload", "the file uploader")
    t0 = time.perf_counter()
    file_id = uuid.uuid4().hex
    try:
        status = await asyncio.to_thread(
            put_file, http_url, session.session_id, file_id, "corpus.txt", UPLOAD_TEXT, token
        )
    except Exception as exc:  # noqa: BLE001 - a refused upload is an error of the soak
        return web.Interaction("upload", None, error=f"upload refused: {web.describe(exc)}")
    if status not in (200, 204):
        return web.Interaction("upload", None, error=f"upload answered {status}")
    state = WidgetState(id=up.id)
    info = state.file_uploader_state_value.uploaded_file_info.add()
    info.file_id, info.name, info.size = file_id, "corpus.txt", len(UPLOAD_TEXT)
    result = await ws_load.timed(session, "upload", widgets=[state])
    return web.Interaction("upload", time.perf_counter() - t0, error=result.error)


async def trainer(url: str, http_url: str, deadline: float, token: str) -> dict:
    """Start and stop training runs on the live-training page until `deadline`; every other run on an upload."""
    out = {"runs": 0, "uploads": 0, "errors": []}
    try:
        session, _ = await ws_load.open_app(url, ws_load.ACTION_TIMEOUT_S * 2)
    except Exception as exc:  # noqa: BLE001
        out["errors"].append(web.describe(exc))
        return out
    try:
        opened = await ws_load.go(session, "training")
        if opened.error:
            out["errors"].append(opened.error)
        while not out["errors"] and time.perf_counter() < deadline:
            if out["runs"] % 2 == 1:
                up = await upload_corpus(session, http_url, token)
                out["uploads"] += 1
                if up.error:
                    out["errors"].append(up.error)
                    break
            start = session.find("Button", key="train_start")
            for _ in range(30):  # a stopped run ends at its next step: Start comes back a moment later
                if start is not None and not start.disabled:
                    break
                await asyncio.sleep(1)
                await ws_load.timed(session, "training wait")
                start = session.find("Button", key="train_start")
            if start is None or start.disabled:
                out["errors"].append("no enabled Start button 30 s after Stop")
                break
            pressed = await ws_load.change(session, "train start", start, True)
            out["runs"] += 1
            if pressed.error:
                out["errors"].append(pressed.error)
                break
            await asyncio.sleep(random.uniform(3, 8))  # let it train a while, then stop it
            stop = session.find("Button", key="train_stop")
            if stop is not None and not stop.disabled:
                stopped = await ws_load.change(session, "train stop", stop, True)
                if stopped.error:
                    out["errors"].append(stopped.error)
            await asyncio.sleep(1)
    finally:
        await session.close()
    return out


async def participant(url: str, index: int, deadline: float, think: float) -> list:
    """Repeat the mix; every REOPEN_EVERY rounds close the tab and open a new one."""
    rng = random.Random(index)
    out: list = []
    round_no = 0
    while time.perf_counter() < deadline:
        try:
            session, opened = await ws_load.open_app(url, ws_load.ACTION_TIMEOUT_S * 2)
        except Exception as exc:  # noqa: BLE001
            out.append(web.Interaction("open app", None, error=web.describe(exc)))
            await asyncio.sleep(5)
            continue
        out.append(opened)
        try:
            for _ in range(REOPEN_EVERY):
                for action in ws_load.mix(index + round_no, None):
                    if time.perf_counter() >= deadline:
                        break
                    out.append(await action(session))
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                round_no += 1
        finally:
            await session.close()
    return out


async def soak(n: int, minutes: float, trainers: int, think: float, warmup: float, env: dict | None) -> dict:
    with web.app_server(env) as server:
        url, http_url = f"ws://127.0.0.1:{server.port}/_stcore/stream", server.url
        sampler = load.RSSSampler(server.proc.pid, every=5)
        sampler.start()
        try:
            await ws_load.warm_up(url, None)
            token = await asyncio.to_thread(xsrf_cookie, http_url)
            start = time.perf_counter()
            deadline = start + minutes * 60
            tasks = [trainer(url, http_url, deadline, token) for _ in range(min(trainers, n))]
            tasks += [participant(url, i, deadline, think) for i in range(n - min(trainers, n))]
            running = asyncio.gather(*tasks)
            await asyncio.sleep(max(0.0, deadline - time.perf_counter() - 5))
            during = await asyncio.to_thread(live_sessions, http_url)  # all tabs still open
            results = await running
            end = time.perf_counter()
            await asyncio.sleep(15)  # every tab is closed: the server lets their sessions go
            after = await asyncio.to_thread(live_sessions, http_url)
            rss_after_close = server.rss_mb()
        finally:
            sampler.stop()
    samples = [(t - start, r) for t, r in sampler.samples]
    base = [r for t, r in samples if warmup * 60 <= t <= warmup * 60 + 30]
    last = [r for t, r in samples if end - start - 30 <= t <= end - start]
    rss_base = sum(base) / len(base) if base else float("nan")
    rss_end = sum(last) / len(last) if last else float("nan")
    actions = [i for r in results[min(trainers, n) :] for i in r]
    training = results[: min(trainers, n)]
    errors = [i.error for i in actions if i.error] + [e for t in training for e in t["errors"]]
    return {
        "n": n,
        "minutes": minutes,
        "trainers": min(trainers, n),
        "think_s": think,
        "warmup_min": warmup,
        "actions": len(actions),
        "actions_per_s": len(actions) / max(end - start, 1e-9),
        "latency": web.stats([i.seconds for i in actions if i.seconds is not None]),
        "tabs_opened": sum(1 for i in actions if i.kind == "open app"),
        "training_runs": sum(t["runs"] for t in training),
        "uploads": sum(t["uploads"] for t in training),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:8],
        "rss_base_mb": rss_base,
        "rss_end_mb": rss_end,
        "rss_peak_mb": sampler.peak,
        "growth": (rss_end - rss_base) / rss_base if rss_base == rss_base and rss_base else float("nan"),
        "rss_after_close_mb": rss_after_close,
        "sessions_at_end": during,
        "sessions_after_close": after,
        "rss_samples": [(round(t, 1), round(r, 1)) for t, r in samples],
    }


def fmt(r: dict) -> str:
    ok = "ok" if r["growth"] <= GOAL_GROWTH and not r["errors"] else "over"
    lat = r["latency"]
    return (
        f"  {r['n']} participants, {r['minutes']:g} min: {r['actions']} actions ({r['actions_per_s']:.1f}/s, "
        f"p50 {lat.get('p50', float('nan')):.2f} s, p95 {lat.get('p95', float('nan')):.2f} s), "
        f"{r['tabs_opened']} tabs opened, {r['training_runs']} training runs, {r['uploads']} uploads\n"
        f"  errors: {r['errors']} {r['error_examples'] if r['errors'] else ''}\n"
        f"  server RSS: {r['rss_base_mb']:.0f} MB after warm-up -> {r['rss_end_mb']:.0f} MB at the end "
        f"(growth {r['growth']:+.1%}, goal <= {GOAL_GROWTH:.0%}: {ok}), peak {r['rss_peak_mb']:.0f} MB; "
        f"all tabs closed: {r['rss_after_close_mb']:.0f} MB, sessions held {r['sessions_at_end']} -> "
        f"{r['sessions_after_close']}"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--n", type=int, default=20, help="participants at once")
    ap.add_argument("--trainers", type=int, default=2)
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between one participant's actions (s)")
    ap.add_argument("--warmup", type=float, default=3, help="minutes before the memory baseline is taken")
    ap.add_argument("--env", action="append", default=[], metavar="ENV=VALUE")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    app_threads()
    print(f"Machine: {machine()}", flush=True)
    r = asyncio.run(
        soak(
            args.n,
            args.minutes,
            args.trainers,
            args.think,
            min(args.warmup, args.minutes / 2),
            dict(e.split("=", 1) for e in args.env) or None,
        )
    )
    print(fmt(r), flush=True)
    save_json(args.json, {"machine": machine(), **r})
    return r


if __name__ == "__main__":
    main()
