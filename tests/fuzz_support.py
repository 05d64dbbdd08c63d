"""Interaction fuzzing through AppTest: seeded random sequences of real widget actions on a page.

`FuzzSession` drives one AppTest session (one browser tab) the way a browser does:

- pages run through app.py's st.navigation, as on the server (see `through_app_py`);
- every run sends, for each widget on the screen, the value the *browser* holds: the one the participant
  set, else the one the server sent with the widget (`set_value`), else, for a widget the browser has
  just mounted, the widget's own default. AppTest alone sends the server's current value instead,
  which hides every bug where the screen and the server disagree;
- choices are sent as option labels, as the browser sends them.

After every run it checks: no exception, no unexpected error caught and logged by a page's error
boundary, the page's title still there, and every widget the browser mounts showing the value the page
computes with. `machine_for(page, ...)` wraps the session in a Hypothesis `RuleBasedStateMachine`, so a
failure is shrunk to a minimal sequence of actions, printed as numbered steps.

Budget (environment): SSL_EXPLORER_FUZZ_EXAMPLES sequences per page, SSL_EXPLORER_FUZZ_STEPS actions
per sequence, SSL_EXPLORER_FUZZ_SEED the seed (same seed, same sequences); SSL_EXPLORER_FUZZ_VERBOSE=1
prints every run with its time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import re
import time
import traceback
from typing import Any

from hypothesis import HealthCheck, currently_in_test_context, note, seed, settings
from hypothesis import strategies as hs
from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, rule
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import element_tree as et

from app import PAGES, ROOT

EXISTING = [f for f, _, _ in PAGES if (ROOT / f).exists()]
# The CI budget: 5 sequences of 15 actions per page (about 3 min for the module on two shared cores,
# measured); a page whose runs are slow gets a share of the sequences. A budget set in the environment
# (`make fuzz`) applies to every page as it is.
DEFAULT_EXAMPLES, DEFAULT_STEPS = 5, 15
DEFAULT_SHARE = {
    "pages/span_corruption.py": 0.5,  # ~0.4 s a run: the seq2seq fill and 500-draw statistics
    "pages/alignment.py": 0.5,
    "pages/images.py": 0.5,
}  # ~0.5 s a run (sampling; an MAE pass and a probe)

# The title each page shows (the home page's is its markdown heading; lessons: the lesson's own).
TITLES = {
    "pages/home.py": "SSL Explorer",
    "pages/masked_lm.py": "Masked LM: the cloze game",
    "pages/causal_lm.py": "Causal LM: predict the next token",
    "pages/compare.py": "Masked vs causal, side by side",
    "pages/span_corruption.py": "Span corruption (T5)",
    "pages/contrastive.py": "Contrastive embeddings",
    "pages/attention.py": "Inside the model",
    "pages/training.py": "Live training",
    "pages/alignment.py": "Alignment: learning from preferences",
    "pages/images.py": "Images: masked patches and contrastive views",
    "pages/models.py": "Models",
}

LONG = "word " * 1_300  # 6,500 characters: over the limit of every text box
BAD_TEXTS = [
    "",
    "   ",
    "\n\t \n",
    LONG,
    "x" * 700,
    "🤖 🙂‍↔️ 東京 مرحبا بالعالم \u200b\u200d\u2066\u202eabc\ufeff",
    "[MASK]",
    "<mask>",
    "The [MASK] sat on the <mask> ___ .",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)> &amp; ${7*7} {{x}} %s \\",
    "12345",
    "-3.5e10",
    "The cat sat on the mat.",
    "A man is playing the guitar.\nThe cat sleeps.",
    "A | B\nC | D\n|\n | \n",
    "control \x00\x07\x1b[31m characters",
]
BAD_QUERY_VALUES = [
    "abc",
    "-1",
    "999999999",
    "1e309",
    "nan",
    "",
    "0,1,2,999",
    "yes",
    "1.5",
    "<script>",
    "x" * 3_000,
    "%00",
    "[]",
]
# Files for an uploader: empty, binary, not UTF-8, CSVs (wrong columns, usable), other types, a usable text.
BAD_FILES = [
    ("empty.txt", b"", "text/plain"),
    ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png"),
    ("latin1.txt", "caf\xe9 ".encode("latin-1") * 100, "text/plain"),
    ("data.csv", b"sentence,category\nhello,a\n", "text/csv"),
    (
        "data.csv",
        b"text,label\n" + b"\n".join(f"row {i},{'pos' if i % 2 else 'neg'}".encode() for i in range(40)),
        "text/csv",
    ),
    (
        "pairs.csv",
        b"prompt,response\n" + b"\n".join(f"Question {i}?,Answer {i}.".encode() for i in range(12)),
        "text/csv",
    ),
    (
        "prefs.csv",
        b"prompt,chosen,rejected\n" + b"\n".join(f"Q{i}?,Good {i}.,Bad {i}.".encode() for i in range(10)),
        "text/csv",
    ),
    ("notes.pdf", b"%PDF-1.4 " + bytes(100), "application/pdf"),
    ("story.txt", ("Once upon a time there was a small dog. " * 60).encode(), "text/plain"),
]
# The model picker's id box: it also gets model ids and folders to type.
PICKER_BOX = "pick_other_"


# Buttons the fuzzer leaves alone: they start or stop background training threads.
SKIP_BUTTONS = {
    f"{run}_{b}"
    for run in ("train", "stages", "align_dpo", "align_rm", "align_rl", "img_mae", "img_simclr", "img_clip", "img_dino")
    for b in ("start", "stop", "reset")
}
NOT_USED = (et.DownloadButton,)
LOGGERS = ("ssl_explorer.pages",)  # where the error boundary logs an unexpected exception


def budget(page: str) -> tuple[int, int, int]:
    """(sequences, actions per sequence, seed) for a page, from the environment or the CI default."""
    env = os.environ.get
    examples = env("SSL_EXPLORER_FUZZ_EXAMPLES")
    examples = int(examples) if examples else max(1, round(DEFAULT_EXAMPLES * DEFAULT_SHARE.get(page, 1.0)))
    return examples, int(env("SSL_EXPLORER_FUZZ_STEPS") or DEFAULT_STEPS), int(env("SSL_EXPLORER_FUZZ_SEED") or 0)


class _Errors(logging.Handler):
    """Collects what a page's error boundary logs: an unexpected exception shown as a message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --------------------------------------------------------------------------- the browser's side


def _ws(w: et.Widget) -> WidgetState:
    ws = WidgetState()
    ws.id = w.id
    return ws


def is_slider(w: et.Widget) -> bool:
    return isinstance(w, et.Slider) and not isinstance(w, et.SelectSlider)


def browser_state(w: et.Widget) -> WidgetState | None:
    """The state the browser holds for a widget the server has just drawn: the value sent with it
    (`set_value`), else, if the browser mounts it now, the widget's own default. None for the widgets
    left to AppTest (buttons, uploaders)."""
    p, ws = w.proto, _ws(w)
    sent = bool(getattr(p, "set_value", False))
    if is_slider(w):
        ws.double_array_value.data[:] = list(p.value if sent else p.default)
    elif isinstance(w, et.NumberInput):
        has = p.HasField("value") if sent else p.HasField("default")
        if has:
            ws.double_value = p.value if sent else p.default
    elif isinstance(w, (et.Checkbox, et.Toggle)):
        ws.bool_value = p.value if sent else p.default
    elif isinstance(w, (et.TextInput, et.TextArea)):
        has = p.HasField("value") if sent else p.HasField("default")
        if has:
            ws.string_value = p.value if sent else p.default
    elif isinstance(w, (et.Selectbox, et.Radio)):
        if sent and p.HasField("raw_value"):
            ws.string_value = p.raw_value
        elif not sent and p.HasField("default") and 0 <= p.default < len(w.options):
            ws.string_value = w.options[p.default]
    elif isinstance(w, (et.ButtonGroup, et.Multiselect)):
        labels = list(p.raw_values) if sent else [w.options[i] for i in p.default if 0 <= i < len(w.options)]
        ws.string_array_value.data[:] = labels
    else:
        return None
    return ws


def shown(ws: WidgetState, w: et.Widget) -> Any:
    """What the browser shows for a widget state, in the form of `used_value`."""
    field = ws.WhichOneof("value")
    if field == "double_array_value":
        return [float(x) for x in ws.double_array_value.data]
    if field == "string_array_value":
        return sorted(ws.string_array_value.data)
    if field is None:
        return (
            ""
            if isinstance(w, (et.TextInput, et.TextArea))
            else []
            if isinstance(w, (et.ButtonGroup, et.Multiselect))
            else None
        )
    return getattr(ws, field)


def _label(w: et.Widget, value: Any) -> Any:
    if value is None:
        return None
    try:
        return et._format_value_for_widget(w.format_func, value)
    except Exception:  # noqa: BLE001 - a value the widget cannot even format
        return ("unformattable", repr(value))


def used_value(w: et.Widget) -> Any:
    """The widget's value on the server (what the page computes with), in the form of `shown`."""
    v = w.value
    if is_slider(w):
        return [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
    if isinstance(w, et.NumberInput):
        return None if v is None else float(v)
    if isinstance(w, (et.Checkbox, et.Toggle)):
        return bool(v)
    if isinstance(w, (et.TextInput, et.TextArea)):
        return v or ""
    if isinstance(w, (et.Selectbox, et.Radio)):
        return _label(w, v)
    if isinstance(w, et.ButtonGroup) and w._is_single_select:
        return [] if v is None else [_label(w, v)]
    if isinstance(w, (et.ButtonGroup, et.Multiselect)):
        return sorted(_label(w, x) for x in (v or []))
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


# --------------------------------------------------------------------------- one session


@contextlib.contextmanager
def through_app_py():
    """Run pages the way the server does: through app.py's st.navigation.

    AppTest resets `PagesManager.uses_pages_directory` before every run, and with a pages/ folder next to
    app.py it then runs a page's file on its own (Streamlit's pages-directory mode): app.py, with its
    sidebar toggle and its error boundary, never runs. The server runs every page through app.py."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    try:
        yield
    finally:
        PagesManager.__init__ = original


@contextlib.contextmanager
def _sending(held: dict[str, WidgetState]):
    """AppTest sends the browser's widget states (`held`) instead of its own."""
    original = et.get_widget_state

    def state(node):
        if isinstance(node, et.Widget) and node.id in held:
            return held[node.id]
        return original(node)

    et.get_widget_state = state
    try:
        yield
    finally:
        et.get_widget_state = original


STATS = {"runs": 0, "seconds": 0.0, "sequences": 0, "actions": 0}
_COMPONENTS: list = []  # one scan for Streamlit components serves every session


def _tab_keys(page: str) -> list[str]:
    """Keys of the page's st.tabs (AppTest cannot click a tab; a switch goes through session state)."""
    source = (ROOT / page).read_text(encoding="utf-8")
    return re.findall(r"st\.tabs\([^)]*key=\"(\w+)\"", source)


class FuzzSession:
    """One browser tab on `page`, opened at the home page with `state` set first (the tiny models)."""

    def __init__(
        self,
        page: str,
        state: dict[str, Any] | None = None,
        *,
        timeout: float = 240,
        query: dict[str, str] | None = None,
    ):
        self.page = page
        self.current = "pages/home.py"
        self.log: list[str] = []
        self.held: dict[str, WidgetState] = {}  # widget id -> what the browser holds and sends
        self.errors = _Errors()
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self.errors)
        self.at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        if _COMPONENTS:  # each new AppTest scans every installed package for components (0.2-1 s)
            self.at._bidi_component_manager = _COMPONENTS[0]
        for key, value in (state or {}).items():
            self.at.session_state[key] = value
        for key, value in (query or {}).items():
            self.at.query_params[key] = value
        self.run("open the app")
        if not _COMPONENTS and getattr(self.at, "_bidi_component_manager", None) is not None:
            _COMPONENTS.append(self.at._bidi_component_manager)
        if page != "pages/home.py":
            self.goto(page, f"go to {page}")

    def close(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self.errors)

    # ----------------------------------------------------------------------- running and checking

    def goto(self, page: str, what: str | None = None) -> None:
        self.at.switch_page(page)
        self.current = page
        self.run(what or f"go to {page}")

    def run(self, what: str) -> None:
        self.log.append(what)
        if currently_in_test_context():  # a Hypothesis test case: printed with a failing example
            note(f"{len(self.log)}. {what}")
        start = time.perf_counter()
        with through_app_py(), _sending(self.held):
            self.at.run()
        took = time.perf_counter() - start
        STATS["runs"] += 1
        STATS["seconds"] += took
        if os.environ.get("SSL_EXPLORER_FUZZ_VERBOSE"):
            print(f"{took:6.2f}s {self.current}: {what}", flush=True)
        self.check()

    def fail(self, problem: str) -> None:
        steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(self.log))
        raise AssertionError(f"{problem}\n on {self.current} after:\n{steps}")

    def check(self) -> None:
        at = self.at
        if at.exception:
            self.fail("exception: " + " | ".join(e.value for e in at.exception)[:3000])
        if self.errors.records:
            rec = self.errors.records[0]
            tb = "".join(traceback.format_exception(*rec.exc_info)) if rec.exc_info else rec.getMessage()
            self.errors.records.clear()
            self.fail("an unexpected error was caught and shown as a message:\n" + tb[-3000:])
        unexpected = [e.value for e in at.error if str(e.value).startswith("Something went wrong")]
        if unexpected:
            self.fail("an unexpected error was shown: " + unexpected[0])
        self._check_title()
        self._update_browser()

    def _check_title(self) -> None:
        at, page = self.at, self.current
        if page == "pages/lessons.py":
            from explorer.lessons import load_lessons

            titles = {lesson.title for lesson in load_lessons()[0]}
            if not any(t.value in titles for t in at.title):
                self.fail(f"the lesson title is missing (titles: {[t.value for t in at.title]})")
            return
        expected = TITLES.get(page)
        if expected is None:
            if not (at.title or at.markdown):
                self.fail("the page shows nothing")
        elif page == "pages/home.py":
            if not any(m.value.lstrip().startswith(f"# {expected}") for m in at.markdown):
                self.fail("the home page's heading is missing")
        elif not any(t.value == expected for t in at.title):
            self.fail(f"the title {expected!r} is missing (titles: {[t.value for t in at.title]})")

    def _update_browser(self) -> None:
        """What the browser holds after this run; a widget it mounts now (it was not on the screen) must
        show the value the page uses, else the participant sees one value while the page computes with
        another, and their next change sends the shown one back."""
        held = {}
        for w in self.widgets(include_disabled=True):
            ws = browser_state(w)
            if ws is None:
                continue
            if w.id in self.held and not w.proto.set_value:
                held[w.id] = self.held[w.id]  # the browser keeps what it shows
                continue
            held[w.id] = ws
            if w.id not in self.held and w.key:
                on_screen, used = shown(ws, w), used_value(w)
                if not _same(on_screen, used):
                    self.held = held
                    self.fail(f"the {w.type} {w.key!r} would show {on_screen!r} but the page uses {used!r}")
        self.held = held

    def value_shown(self, key: str) -> Any:
        """What the browser shows for the widget with this key (None if it is not on the screen)."""
        for w in self.widgets(include_disabled=True):
            if w.key == key and w.id in self.held:
                return shown(self.held[w.id], w)
        return None

    # ----------------------------------------------------------------------- what can be used

    def widgets(self, *, include_disabled: bool = False) -> list[et.Widget]:
        out = []
        for node in self.at._tree:
            if not isinstance(node, et.Widget) or isinstance(node, NOT_USED):
                continue
            if not include_disabled and getattr(node.proto, "disabled", False):
                continue
            out.append(node)
        return out

    def widget(self, key: str) -> et.Widget:
        for w in self.widgets(include_disabled=True):
            if w.key == key:
                return w
        self.fail(f"no widget with the key {key!r} on the screen")
        raise AssertionError  # unreachable

    def usable(self) -> list[et.Widget]:
        return [
            w
            for w in self.widgets()
            if _kind(w) is not None and not (isinstance(w, et.Button) and w.key in SKIP_BUTTONS)
        ]

    # ----------------------------------------------------------------------- what a participant does

    def set(self, w: et.Widget | str, value: Any, what: str | None = None) -> None:
        """Change a widget in the browser and run: a text, a number, a slider value or range, a toggle,
        or option labels (a label or None for one choice, a list of labels for pills/multiselect)."""
        w = self.widget(w) if isinstance(w, str) else w
        ws = _ws(w)
        if is_slider(w):
            ws.double_array_value.data[:] = [float(x) for x in (value if isinstance(value, (list, tuple)) else [value])]
        elif isinstance(w, et.NumberInput):
            if value is not None:
                ws.double_value = float(value)
        elif isinstance(w, (et.Checkbox, et.Toggle)):
            ws.bool_value = bool(value)
        elif isinstance(w, (et.TextInput, et.TextArea)):
            ws.string_value = value
        elif isinstance(w, (et.Selectbox, et.Radio)):
            if value is not None:
                ws.string_value = value
        elif isinstance(w, (et.ButtonGroup, et.Multiselect)):
            labels = [] if value is None else [value] if isinstance(value, str) else list(value)
            ws.string_array_value.data[:] = labels
        else:
            raise TypeError(f"set() does not handle a {w.type}")
        self.held[w.id] = ws
        self.run(what or f"set {_name(w)} to {_short(value)}")

    def click(self, key: str) -> None:
        w = self.widget(key)
        w.click()
        self.run(f"click {_name(w)}")

    def upload(self, key: str, name: str, data: bytes, mime: str = "text/plain") -> None:
        w = self.widget(key)
        w.set_value((name, data, mime))
        self.run(f"upload {name!r} ({len(data)} bytes) to {_name(w)}")

    def open_tab(self, key: str, label: str) -> None:
        self.at.session_state[key] = label
        self.run(f"open the tab {label!r} ({key})")


def _kind(w: et.Widget) -> str | None:
    for cls, kind in (
        (et.TextArea, "text"),
        (et.TextInput, "text"),
        (et.SelectSlider, None),
        (et.Slider, "slider"),
        (et.NumberInput, "number"),
        (et.Toggle, "flip"),
        (et.Checkbox, "flip"),
        (et.Selectbox, "choose"),
        (et.Radio, "choose"),
        (et.ButtonGroup, "pills"),
        (et.Multiselect, "multi"),
        (et.Button, "click"),
        (et.FileUploader, "upload"),
    ):
        if isinstance(w, cls):
            return kind
    return None


def _name(w: et.Widget) -> str:
    label = getattr(w.proto, "label", "") or ""
    return f"{w.type} {w.key!r}" if w.key else f"{w.type} {label[:40]!r}"


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:60] + f"…' ({len(v) if hasattr(v, '__len__') else '?'} chars)"


# --------------------------------------------------------------------------- random actions
# Every step draws the same three integers whatever the page shows (the widgets on the screen depend on
# the app, and Hypothesis needs the same draws for the same test case): which action, which target, and
# a seed for the details. Each of them shrinks to 0: the first action on the first widget.


def use_widget(s: FuzzSession, target: int, rng: random.Random, model_paths: list[str]) -> None:
    """One real action on one usable widget, then run."""
    widgets = s.usable()
    if not widgets:
        s.run("rerun (no widget to use)")
        return
    w = widgets[target % len(widgets)]
    kind, p = _kind(w), w.proto
    if kind == "text":
        texts = BAD_TEXTS
        if (w.key or "").startswith(PICKER_BOX):
            texts = BAD_TEXTS + model_paths
        text = rng.choice(texts)
        s.set(w, text, f"type {_short(text)} into {_name(w)}")
    elif kind == "slider":
        lo, hi, step = p.min, p.max, p.step or 1
        n = max(0, int(round((hi - lo) / step)))
        i = rng.randint(0, n)

        def at_step(k: int):
            x = min(hi, lo + k * step)
            return int(round(x)) if p.data_type == p.INT else round(x, 10)

        v = (at_step(i), at_step(rng.randint(i, n))) if len(p.default) == 2 else at_step(i)
        s.set(w, v, f"move {_name(w)} to {v}")
    elif kind == "number":
        lo = p.min if p.has_min else -1_000
        hi = p.max if p.has_max else 1_000
        step = p.step or 1
        n = max(0, min(100_000, int((hi - lo) // step)))
        v = lo + rng.choice([0, n, rng.randint(0, min(n, 20)), rng.randint(0, n)]) * step
        v = int(v) if p.data_type == p.INT else float(v)
        s.set(w, v, f"set {_name(w)} to {v}")
    elif kind == "flip":
        new = not bool(shown(s.held[w.id], w)) if w.id in s.held else not w.value
        s.set(w, new, f"switch {_name(w)} {'on' if new else 'off'}")
    elif kind == "choose":
        if not w.options:
            s.run(f"rerun ({_name(w)} has no options)")
            return
        label = rng.choice(list(w.options))
        s.set(w, label, f"choose {_short(label)} in {_name(w)}")
    elif kind in ("pills", "multi"):
        options = list(w.options)
        if kind == "pills" and w._is_single_select:
            label = rng.choice([None, *options])
            s.set(w, label, f"deselect {_name(w)}" if label is None else f"click {_short(label)} in {_name(w)}")
        else:
            most = p.max_selections if isinstance(w, et.Multiselect) and p.max_selections else len(options)
            labels = rng.sample(options, rng.randint(0, min(most, len(options))))
            s.set(w, labels, f"set {_name(w)} to {labels}")
    elif kind == "click":
        w.click()
        s.run(f"click {_name(w)}")
    else:  # upload
        name, data, mime = rng.choice(BAD_FILES)
        w.set_value((name, data, mime))
        s.run(f"upload {name!r} ({len(data)} bytes) to {_name(w)}")


def switch_tab(s: FuzzSession, target: int, rng: random.Random) -> None:
    keys = _tab_keys(s.current)
    labels = [t.label for t in s.at.tabs]
    if not keys or not labels:
        s.run("rerun (no tabs on this page)")
        return
    s.open_tab(keys[target % len(keys)], rng.choice(labels))


def visit_and_return(s: FuzzSession, target: int, rng: random.Random) -> None:
    others = [p for p in EXISTING if p != s.page]
    s.goto(others[target % len(others)])
    s.goto(s.page, f"come back to {s.page}")


def tampered_link(s: FuzzSession, target: int, rng: random.Random, model_paths: list[str]) -> None:
    """The URL changes to a link with wrong types, out-of-range values or unknown keys."""
    keys = sorted(
        {w.key for w in s.widgets(include_disabled=True) if w.key}
        | set(s.at.query_params)
        | {"model_id_mlm", "model_id_clm", "model_id_encoder", "model_id_seq2seq", "lesson", "unknown_key"}
    )
    chosen = [keys[target % len(keys)]] + rng.sample(keys, rng.randint(0, 2))
    params = {}
    for key in chosen:
        values = BAD_QUERY_VALUES + (model_paths + ["gpt2", "../../etc/passwd"] if key.startswith("model_id") else [])
        params[key] = rng.choice(values)
    for key, value in params.items():
        s.at.query_params[key] = value
    s.run("open a link with " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))


ACTIONS = ["widget"] * 7 + ["tab", "page", "link"]


def machine_for(page: str, state: dict[str, Any], model_paths: list[str]) -> type[RuleBasedStateMachine]:
    """A state machine whose steps are random actions on `page` in one session."""

    class PageFuzz(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            STATS["sequences"] += 1
            self.session = FuzzSession(page, state)

        @rule(action=hs.integers(0, len(ACTIONS) - 1), which=hs.integers(0, 10_000), detail=hs.integers(0, 2**32 - 1))
        def act(self, action: int, which: int, detail: int) -> None:
            STATS["actions"] += 1
            kind, rng = ACTIONS[action], random.Random(detail)
            if kind == "widget":
                use_widget(self.session, which, rng, model_paths)
            elif kind == "tab":
                switch_tab(self.session, which, rng)
            elif kind == "page":
                visit_and_return(self.session, which, rng)
            else:
                tampered_link(self.session, which, rng, model_paths)

        def teardown(self) -> None:
            self.session.close()

    PageFuzz.__name__ = PageFuzz.__qualname__ = "Fuzz_" + re.sub(r"\W", "_", page)
    return PageFuzz


def run_fuzz(page: str, state: dict[str, Any], model_paths: list[str]) -> None:
    """Run the page's state machine with the budget from the environment."""
    examples, steps, fuzz_seed = budget(page)
    test = get_state_machine_test(
        machine_for(page, state, model_paths),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        ),
    )
    seed(fuzz_seed)(test)()
