"""Load over the websocket: N participants at once, each speaking Streamlit's own protocol (no browser).

    python -m bench.ws_load [--levels 10,20,40] [--duration 30] [--trainers 2] [--think 1.0] [--json FILE]

`bench.load` drives real browsers, which on a small machine take most of the CPU themselves; this
client does what a browser tab asks of the server and nothing else, so that many sessions really run
the pages. Each simulated participant opens a websocket to /_stcore/stream (subprotocol "streamlit",
no cookie or XSRF token: those only matter for logged-in users) and sends `rerun_script` BackMsgs
as the frontend does:

- a page is opened with the `page_script_hash` of the app's `navigation` message;
- a widget is changed by sending its id (read from the elements of the page's last run, matched by
  the widget's key or label) and its new value in `widget_states`; the others keep their values on
  the server;
- the live-training page registers a fragment with `run_every`: the server sends `auto_rerun`
  (interval, fragment id) and the client then asks for a rerun of that fragment (`fragment_id`,
  `is_auto_rerun`) every interval, until `stop_auto_rerun`, a full run without the fragment, or a
  page change, as the frontend's timer does (here with at most one request in flight).

Every action is timed from the request sent to its `script_finished` (a full rerun as the browser
sees it, without drawing). With a `--mlm` other than the app's default, the masked-LM page is opened
with the model in its link (`?model_id_mlm=FOLDER`), as a shared link does. The mix and the figures
are those of `bench.load`: the participants repeat the masked-LM, causal-LM, masked-vs-causal and
attention actions with pauses of about `--think` seconds, `--trainers` of them train a tiny GPT on the
live-training page; per level: actions per second, p50/p95 latency, errors (error elements in a run,
timeouts, missing widgets), server RSS with one session, at the end and at its peak, RSS per extra
session (goal <= 50 MB), and the CPU of the server and of this client. Each level stops by itself
after --duration seconds plus at most --grace seconds for the actions in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, scripted, web  # noqa: E402

ACTION_TIMEOUT_S = load.ACTION_TIMEOUT_S
MAX_ACTIONS = load.MAX_ACTIONS
GOAL_RSS_PER_SESSION_MB = load.GOAL_RSS_PER_SESSION_MB
PAGES = {
    "mlm": "masked_lm",
    "clm": "causal_lm",
    "compare": "compare",
    "attention": "attention",
    "training": "training",
}  # the pages' url paths
IN_PLACE_CHART = "ssl_explorer.plotly_in_place"  # explorer.ui.chart.COMPONENT: charts redrawn in place
FINAL = {0, 1, 3}  # script_finished: successfully, with a compile error, fragment run successfully
STEP_RE = scripted.STEP_RE
VERBOSE = False


class Session:
    """One participant: a websocket to the app, the widgets of the current page and its auto-reruns."""

    def __init__(self, ws):
        self.ws = ws
        self.pages: dict[str, str] = {}  # url path and title -> page_script_hash
        self.page = ""  # page_script_hash of the current page
        self.query = ""  # the page's query string, as the browser's address bar holds it
        self.session_id = ""  # the server's id for this session (an upload names it)
        self.widgets: dict[str, object] = {}  # widget id -> its element proto (last run of the page)
        self.auto: dict[str, float] = {}  # fragment id -> auto-rerun interval (s)
        self.run = self._new_run()
        self.waiting: asyncio.Future | None = None
        self.reader = asyncio.ensure_future(self._read())

    @staticmethod
    def _new_run() -> dict:
        return {"charts": 0, "errors": [], "progress": ""}

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except Exception as exc:  # noqa: BLE001 - a closed connection ends the session's requests
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_exception(exc)
            return
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(ConnectionError("the server closed the connection"))

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)
        elif kind == "new_session":
            if not msg.metadata.run.fragment_ids:  # a full run: the page is drawn anew, its timers end
                self.widgets.clear()
                self.auto.clear()
            self.page = msg.new_session.page_script_hash or self.page
            self.session_id = msg.new_session.initialize.session_id or self.session_id
        elif kind == "navigation":
            for p in msg.navigation.app_pages:
                self.pages[p.url_pathname or p.page_name] = self.pages[p.page_name] = p.page_script_hash
            self.page = msg.navigation.page_script_hash or self.page
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.auto[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self.auto.pop(fid, None)
        elif kind == "script_finished" and msg.script_finished in FINAL:
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result(msg.script_finished)

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        proto = getattr(element, kind) if kind else None
        if proto is None:
            return
        if getattr(proto, "id", "") and kind not in ("plotly_chart", "bidi_component"):
            self.widgets[proto.id] = proto
        if kind in ("plotly_chart", "bidi_component"):
            self.run["charts"] += charts_in(kind, proto)
        elif kind == "exception":
            self.run["errors"].append(f"exception: {proto.type}: {proto.message[:120]}")
        elif kind == "alert" and proto.format == 1:  # ERROR
            self.run["errors"].append("error shown: " + " ".join(proto.body.split())[:140])
        elif kind == "progress":
            self.run["progress"] = proto.text

    async def request(
        self,
        *,
        page: str | None = None,
        widgets: list | None = None,
        fragment: str = "",
        query: str | None = None,
        timeout: float = ACTION_TIMEOUT_S,
    ) -> float:
        """Ask for a rerun (of `page`, with changed `widgets`, or of one fragment) and wait for its end.

        Returns the seconds from the request sent to `script_finished`; raises on a timeout."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if self.reader.done():
            raise ConnectionError("the connection is closed")
        msg = BackMsg()
        state = msg.rerun_script
        new_page = page is not None and page != self.page
        if new_page:
            self.auto.clear()  # the frontend drops its auto-rerun timers on a page change
        state.page_script_hash = page if page is not None else self.page
        state.query_string = query if query is not None else ("" if new_page else self.query)
        state.fragment_id = fragment
        state.is_auto_rerun = bool(fragment)
        state.widget_states.widgets.extend(widgets or [])
        self.run = self._new_run()
        self.waiting = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(self.waiting, timeout)
        return time.perf_counter() - t0

    def find(self, kind: str, *, key: str | None = None, label: str | None = None):
        """The widget of the current page with this key (its id ends with it) or label; None if absent."""
        for wid, proto in self.widgets.items():
            if proto.DESCRIPTOR.name != kind:
                continue
            if (key is not None and wid.endswith("-" + key)) or (label is not None and proto.label == label):
                return proto
        return None

    @property
    def live(self) -> dict[str, float]:
        """The auto-rerun timers of live views (the app's hourly reconnect timer left out)."""
        return {f: i for f, i in self.auto.items() if i < 60}

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:  # noqa: BLE001
            pass
        self.reader.cancel()


def charts_in(kind: str, proto) -> int:
    """How many charts an element draws: a `st.plotly_chart` one, or the figures of an in-place chart
    element (`explorer.ui.chart`: one element holds a grid of charts; a place kept hidden, None, is not
    drawn)."""
    if kind == "plotly_chart":
        return 1
    if kind == "bidi_component" and proto.component_name == IN_PLACE_CHART:
        try:
            return sum(f is not None for f in json.loads(proto.json or "{}").get("figures", []))
        except ValueError:
            return 0
    return 0


async def connect(url: str, cookie: str = "") -> Session:
    """A websocket to the app; `cookie` is sent as a browser's would be (behind nginx it picks the worker)."""
    from websockets.asyncio.client import connect as ws_connect

    ws = await ws_connect(
        url,
        subprotocols=["streamlit"],
        max_size=None,
        open_timeout=ACTION_TIMEOUT_S,
        additional_headers={"Cookie": cookie} if cookie else None,
    )
    return Session(ws)


def widget_state(proto, value):
    """A WidgetState for `proto` holding `value`, typed as the frontend sends it."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    state = WidgetState(id=proto.id)
    kind = proto.DESCRIPTOR.name
    if kind == "Button":
        state.trigger_value = True
    elif kind == "ButtonGroup":
        state.string_array_value.data.extend(value)
    elif kind == "Checkbox":
        state.bool_value = bool(value)
    else:  # TextArea, TextInput, Radio, Selectbox: the value (or the option's label) as a string
        state.string_value = value
    return state


# --------------------------------------------------------------------------- actions


async def timed(session: Session, kind: str, chart: bool = False, **request) -> web.Interaction:
    """One request, timed to its end; errors (shown on the page, no chart when one is due, timeouts) are
    recorded, not raised."""
    try:
        seconds = await session.request(**request)
    except asyncio.TimeoutError:
        return web.Interaction(kind, None, error="no answer within the time limit")
    except Exception as exc:  # noqa: BLE001 - a failed action is a figure of the benchmark
        return web.Interaction(kind, None, error=web.describe(exc))
    run = session.run
    error = run["errors"][0] if run["errors"] else ""
    if not error and chart and not run["charts"]:
        error = "no chart in the run"
    return web.Interaction(kind, seconds, seconds, bool(run["charts"]), error)


def missing(kind: str, what: str) -> web.Interaction:
    return web.Interaction(kind, None, error=f"not on the page: {what}")


async def go(session: Session, key: str, folder: str | None = None) -> web.Interaction:
    """Open a page as the menu does; the masked-LM page with `folder` carries the model in its link."""
    page = session.pages.get(PAGES[key])
    if page is None:
        return missing(f"open {key}", f"page {PAGES[key]}")
    query = urlencode({"model_id_mlm": folder}) if folder else None
    return await timed(session, f"open {key}", page=page, query=query)


async def change(session: Session, kind: str, widget, value, chart: bool = False) -> web.Interaction:
    return await timed(session, kind, chart=chart, widgets=[widget_state(widget, value)])


async def mlm_text(session: Session, text: str) -> web.Interaction:
    """Type a text with a blank (Ctrl+Enter): the blank's prediction chart is drawn."""
    box = session.find("TextArea", key="mlm_text")
    return missing("mlm enter", "text box") if box is None else await change(session, "mlm enter", box, text, True)


async def mlm_click(session: Session, word: str, masking: bool) -> web.Interaction:
    """Click a token pill to mask it (its chart is drawn) or to unmask it."""
    kind = "mlm click" if masking else "mlm unmask"
    pills = session.find("ButtonGroup", key="mlm_masked")
    shown = [o.content for o in pills.options] if pills is not None else []
    # a byte-level token carries its space, shown as ␣ (SmolLM2); a WordPiece token does not
    word = next((c for c in (word, "␣" + word) if c in shown), None) or word
    if pills is None or word not in shown:
        return missing(kind, f"token pill '{word}'")
    chosen = [v for v in pills.raw_values if v != word] + ([word] if masking else [])
    result = await change(session, kind, pills, chosen, chart=masking)
    now = session.find("ButtonGroup", key="mlm_masked")
    if not result.error and (now is None or (word in now.raw_values) != masking):
        result.error = f"'{word}' is {'not masked' if masking else 'still masked'} after the click"
    return result


async def button(session: Session, kind: str, label: str, chart: bool = False) -> web.Interaction:
    found = session.find("Button", label=label)
    if found is None:
        return missing(kind, f"button '{label}'")
    if found.disabled:
        return web.Interaction(kind, None, error=f"button '{label}' is disabled")
    return await change(session, kind, found, True, chart)


async def clm_button(session: Session, name: str) -> web.Interaction:
    """Greedy (a new distribution is drawn), Undo or Reset."""
    return await button(session, f"clm {name.lower()}", name, chart=name == "Greedy")


async def compare_word(session: Session, word: str) -> web.Interaction:
    """Hide another word: both models' bars are redrawn."""
    pills = session.find("ButtonGroup", key="cmp_word")
    if pills is None or word not in [o.content for o in pills.options]:
        return missing("compare click", f"word '{word}'")
    return await change(session, "compare click", pills, [word], chart=True)


async def attention_view(session: Session, view: str) -> web.Interaction:
    radio = session.find("Radio", key="attn_view")
    if radio is None or view not in radio.options:
        return missing("attention view", f"view '{view}'")
    return await change(session, "attention view", radio, view, chart=True)


def mix(index: int, folder: str | None) -> list:
    """One round of a participant's actions (`bench.load.mix_plan`); the masked-LM page opens with
    `folder` as its model."""
    actions = {
        **{name: globals()[name] for name in ("mlm_text", "mlm_click", "clm_button", "compare_word", "attention_view")},
        "go": lambda s, key: go(s, key, folder if key == "mlm" else None),
    }
    return [lambda s, name=name, args=args: actions[name](s, *args) for name, args in load.mix_plan(index)]


async def open_app(url: str, timeout: float, cookie: str = "") -> tuple[Session, web.Interaction]:
    """Connect and run the app's first page, as a new browser tab does."""
    t0 = time.perf_counter()
    session = await asyncio.wait_for(connect(url, cookie), timeout)
    await session.request(page="", timeout=timeout)
    return session, web.Interaction("open app", time.perf_counter() - t0)


async def participant(url: str, index: int, folder: str | None, deadline: float, think: float) -> list:
    """Open the app, then repeat the mix until `deadline` (perf_counter)."""
    rng = random.Random(index)
    try:
        session, opened = await open_app(url, ACTION_TIMEOUT_S * 2)
    except Exception as exc:  # noqa: BLE001 - a session that cannot start is an error of the level
        return [web.Interaction("open app", None, error=web.describe(exc))]
    out = [opened]
    round_no = 0
    try:
        while time.perf_counter() < deadline and len(out) < MAX_ACTIONS:
            for action in mix(index + round_no, folder):
                if time.perf_counter() >= deadline:
                    break
                out.append(await action(session))
                if VERBOSE:
                    last = out[-1]
                    print(f"    [{index}] {last.kind} {last.seconds} {last.error}", file=sys.stderr, flush=True)
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            round_no += 1
    finally:
        await session.close()
    return out


# --------------------------------------------------------------------------- live training


def steps_shown(session: Session) -> int | None:
    """The step count of the progress bar of the last run ("Step N of M"), if it drew one."""
    m = STEP_RE.search(session.run["progress"])
    return int(m.group(1)) if m else None


async def poll(session: Session, deadline: float, polls: list[web.Interaction]) -> int | None:
    """Rerun the page's auto-rerun fragment every interval, as the frontend's timer does, until the run
    ends (the timer is cancelled) or `deadline`; returns the last step count seen."""
    last = None
    while session.live and time.perf_counter() < deadline:
        fragment, interval = next(iter(session.live.items()))
        t0 = time.perf_counter()
        result = await timed(session, "training poll", fragment=fragment)
        polls.append(result)
        if result.error:
            break
        last = steps_shown(session) or last
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))
    return last


async def trainer(url: str, deadline: float, cookie: str = "") -> dict:
    """Open the live-training page and press Start (then "Train N more steps") for the default tiny GPT
    until `deadline`, polling its live view (Reset and a new run when a run reaches its step limit);
    Stop at the end."""
    steps = runs = 0
    seconds = 0.0
    errors: list[str] = []
    polls: list[web.Interaction] = []
    try:
        session, _ = await open_app(url, ACTION_TIMEOUT_S * 2, cookie)
    except Exception as exc:  # noqa: BLE001
        return {"steps": 0, "seconds": 0.0, "runs": 0, "errors": [web.describe(exc)], "polls": []}
    try:
        opened = await go(session, "training")
        if opened.error:
            errors.append(opened.error)
        while not errors and time.perf_counter() < deadline:
            start = session.find("Button", key="train_start")
            if start is None or start.disabled:
                errors.append("no enabled Start button")
                break
            t0 = time.perf_counter()
            pressed = await change(session, "train start", start, True)
            runs += 1
            if "reached the limit" in pressed.error:  # a run is bounded: start a new one, as a person would
                reset = session.find("Button", key="train_reset")
                done = await change(session, "train reset", reset, True) if reset is not None else None
                if done is None or done.error:
                    errors.append(pressed.error)
                    break
                continue
            if pressed.error:
                errors.append(pressed.error)
                break
            first = steps_shown(session) or 0
            if not session.live:
                errors.append("the live view did not start polling")
                break
            last = await poll(session, deadline, polls)
            if session.live:  # time is up while it trains
                stop = session.find("Button", key="train_stop")
                if stop is not None and not stop.disabled:
                    stopped = await change(session, "train stop", stop, True)
                    if stopped.error:
                        errors.append(stopped.error)
            last = steps_shown(session) or last or first
            steps += max(0, last - first)
            seconds += time.perf_counter() - t0
        errors += sorted({p.error for p in polls if p.error})
    finally:
        await session.close()
    if VERBOSE:
        print(f"    [train] {steps} steps, {runs} runs, {len(polls)} polls {errors}", file=sys.stderr, flush=True)
    return {
        "steps": steps,
        "seconds": seconds,
        "runs": runs,
        "errors": errors,
        "polls": [p.seconds for p in polls if p.seconds is not None],
    }


async def warm_up(url: str, folder: str | None) -> list[web.Interaction]:
    """One participant opens every page once (loads the models); not counted."""
    session, opened = await open_app(url, 300)
    out = [opened]
    try:
        out.append(await go(session, "mlm", folder))
        for name in ("clm", "compare", "attention", "training"):
            out.append(await go(session, name))
    finally:
        await session.close()
    return out


# --------------------------------------------------------------------------- one level


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
    trainers = min(trainers, n)
    with web.app_server(env, log=log) as server:
        url = f"ws://127.0.0.1:{server.port}/_stcore/stream"
        sampler = load.RSSSampler(server.proc.pid)
        sampler.start()
        try:
            warm = await warm_up(url, folder)
            await asyncio.sleep(2)
            rss_one = server.rss_mb()
            server_cpu0, client_cpu0 = web.cpu_seconds(server.proc.pid), time.process_time()
            start = time.perf_counter()
            deadline = start + duration
            tasks = [trainer(url, deadline) for _ in range(trainers)]
            tasks += [participant(url, i, folder, deadline, think) for i in range(n - trainers)]
            running = [asyncio.ensure_future(t) for t in tasks]
            await asyncio.sleep(duration)  # the figures are taken when the time is up
            rss_end = server.rss_mb()
            server_cores = (web.cpu_seconds(server.proc.pid) - server_cpu0) / duration
            client_cores = (time.process_time() - client_cpu0) / duration
            load_average = os.getloadavg()[0]
            done = await load.finish(running, grace)
        finally:
            sampler.stop()
    r, training = load.summarise_level(
        n, trainers, duration, think, done, deadline, warm, rss_one, rss_end, sampler.peak
    )
    r["training"]["polls"] = web.stats([p for t in training for p in t.get("polls", [])])
    return {**r, "server_cpu_cores": server_cores, "client_cpu_cores": client_cores, "load_average": load_average}


def _set_verbose(on: bool) -> None:
    global VERBOSE
    VERBOSE = on


def main(argv: list[str] | None = None) -> dict:
    return load.run_levels(
        argv,
        doc=__doc__,
        level_fn=level,
        fmt_fn=load.fmt_level,
        levels="10,20,40",
        duration=30,
        clients="websocket clients (no browser)",
        set_verbose=_set_verbose,
        extra={"client": "websocket"},
    )


if __name__ == "__main__":
    main()
