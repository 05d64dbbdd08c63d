"""The only Streamlit-aware part of the core: cached loaders, shared widgets, CSS.

Pages import from here; nothing else in `explorer/` imports streamlit (but `explorer.serving`, which
starts it). The page-state links (`page_state`, `publish_state`, `share_link`, presenter mode in the URL,
`same_tab_links`) live in `ui.links` (their query strings parsed and checked in `ui.state`), the browser's
id and what is kept per browser (`remember_browser`, `browser_value`) in `ui.browser` (the store itself:
`ui.browser_store`), the limited text box in `ui.text`, the style sheet in `ui.page_style`; their public
names are listed here too. `ui.chart` (charts redrawn in place, with `ui.static_files`), `ui.live_run`, and the parts of a page
drawn apart from it (`ui.masked_view`, `ui.causal_view`, `ui.attention_view`, `ui.training_view`,
`ui.alignment_view`, `ui.stages_view`) are imported by the pages that use them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, Callable, Iterator

import streamlit as st

from explorer import models
from explorer.errors import ExplorerError
from explorer.models import cache as model_cache
from explorer.models import policy as model_policy
from explorer.ui.page_style import NO_ELLIPSIS_CSS, PRESENTER_CSS, UPLOAD_ERROR_CSS, css
from explorer.ui.browser import browser_value, remember_browser
from explorer.ui.links import (
    keep_app_params,
    model_defaults,
    page_state,
    presenter_from_link,
    publish_state,
    same_tab_links,
    share_link,
)
from explorer.ui.text import example_box, limited_text

__all__ = [
    # page_style, browser, links, text
    "NO_ELLIPSIS_CSS",
    "PRESENTER_CSS",
    "UPLOAD_ERROR_CSS",
    "css",
    "browser_value",
    "remember_browser",
    "keep_app_params",
    "model_defaults",
    "page_state",
    "presenter_from_link",
    "publish_state",
    "same_tab_links",
    "share_link",
    "example_box",
    "limited_text",
    # defined here
    "OTHER",
    "apply_css",
    "columns",
    "friendly_errors",
    "get_model",
    "intro",
    "model_picker",
    "notes",
    "presenter",
    "rerun_after_reconnect",
    "selected_model_id",
    "server_limits_markdown",
    "session_alive",
    "set_threads",
    "show_error",
]

OTHER = "Other model id…"
_CONVERTING = threading.Lock()  # one GGUF conversion at a time, however many sessions ask
_LOG = logging.getLogger("ssl_explorer.pages")


def set_threads() -> None:
    """torch's threads for this process: SSL_EXPLORER_THREADS (default 1), set once."""
    import torch

    n = int(os.environ.get("SSL_EXPLORER_THREADS", "1") or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def get_model(role: str, model_id: str | None = None, *, quiet: bool = False) -> models.LoadedModel | None:
    """The shared (read-only) model for a role, loaded once per process; None with a message on failure."""
    set_threads()
    model_id = model_id if model_id is not None else selected_model_id(role)
    if model_cache.SHARED.peek(role, model_id) is not None:  # loaded already: nothing to draw (most reruns)
        return model_cache.SHARED.get(role, model_id)
    label = model_id or models.DEFAULTS.get(role) or role
    try:
        bar = None
        if model_id in (None, models.SMOLLM2) and role == "clm" and not models.cache_ok(models.smollm2_cache_path()):
            bar = st.progress(0.0, text="Preparing the offline causal LM (first start only)…")

        def progress(frac: float, msg: str) -> None:
            if bar is not None:
                bar.progress(min(max(frac, 0.0), 1.0), text=msg)

        if bar is not None:  # convert outside the cached loader: a cached call must not draw (its replay fails)
            with _CONVERTING:
                models.convert_smollm2(progress)
        with st.spinner(f"Loading {label}…"):
            lm = model_cache.SHARED.get(role, model_id)
        if bar is not None:
            bar.empty()
        return lm
    except ExplorerError as exc:
        if not quiet:
            show_error(exc)
        return None


def show_error(exc: BaseException) -> None:
    """Show a user-facing error: the project's message, or for anything else a plain sentence
    (never a traceback, a server path or the error's text; the server's log has those)."""
    if isinstance(exc, ExplorerError):
        st.error(exc.message, icon="⚠️")
        if exc.hint:
            st.caption(exc.hint)
    else:
        st.error(
            f"Something went wrong here ({type(exc).__name__}). The rest of the app still works: change the "
            "input, pick an example, or reload the page.",
            icon="⚠️",
        )


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Run a block; an `ExplorerError` (or any other error) becomes a message, not a traceback.

    Anything but the project's own error is logged with its traceback on the server. Streamlit's
    own control flow (st.stop, st.rerun, page switches) passes through: it is not an Exception.
    """
    try:
        yield
    except ExplorerError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - the page keeps working whatever happens
        _LOG.exception("error on a page")
        show_error(exc)


def selected_model_id(role: str) -> str | None:
    return st.session_state.get(f"model_id_{role}") or models.DEFAULTS.get(role)


def model_picker(role: str, *, container: Any = None, label: str | None = None) -> str | None:
    """Sidebar picker for one role: offline default, suggested hub ids, or any id."""
    # collapsed in presenter mode: the projector shows the content, not the controls
    box = container or st.sidebar.expander(f"Model: {label or models.ROLE_NAMES[role]}", expanded=not presenter())
    default = models.DEFAULTS.get(role)
    offline = [
        m
        for m in ([default] if default else []) + models.OFFLINE_ALTERNATIVES.get(role, [])
        if model_policy.is_allowed(m)
    ]
    # options are the ids alone (a long label was cut in the sidebar); what a choice is, in a caption under it
    labels = {m: m for m in offline}
    locked = model_policy.locked()  # a shared server: only its own list, no box for any id
    suggested = [m for m in models.SUGGESTED.get(role, []) if model_policy.is_allowed(m)]
    if locked:
        others = {m for r, ms in models.SUGGESTED.items() if r != role for m in ms}  # ids for other roles
        suggested += sorted(
            m
            for m in model_policy.allowed_ids() or ()
            if m not in suggested
            and m not in others
            and m not in model_policy.offline_ids()
            and not model_policy.looks_like_path(m)
        )
    options = list(labels.values()) + suggested + ([] if locked else [OTHER])
    current = st.session_state.get(f"model_id_{role}")
    if current and not model_policy.is_allowed(current):  # e.g. from a link
        box.warning(f"This server does not offer {model_policy.shown(current)}; using {default or 'none'}.", icon="🔒")
        current = st.session_state[f"model_id_{role}"] = default
    index = 0
    if current and current != default:
        shown = labels.get(current, current)
        index = options.index(shown) if shown in options else (0 if locked else len(options) - 1)
    choice = box.selectbox(
        label or models.ROLE_NAMES[role],
        options,
        index=index,
        key=f"pick_{role}",
        help="Offline models ship with the app. Hub models need a connection or a local cache.",
    )
    box_key, drawn = f"pick_other_{role}", f"_pick_other_drawn_{role}"
    if choice == OTHER:
        # Seeded every run, no `value=`: the box shows what the page uses. Its own value counts only when
        # the previous run drew it (the participant typed there); otherwise it starts from the model in use.
        if not st.session_state.get(drawn) or box_key not in st.session_state:
            st.session_state[box_key] = current if current and current not in labels and current not in options else ""
        st.session_state[box_key] = st.session_state[box_key]
        typed = box.text_input(
            f"{models.ROLE_NAMES[role]} id", key=box_key, placeholder="e.g. bert-base-uncased or /path/to/folder"
        )
        model_id = typed.strip() or default
    else:
        model_id = next((m for m, shown in labels.items() if shown == choice), choice)
        note = models.OFFLINE_LABELS.get(model_id)
        box.caption(
            f"Ships with the app{': ' + note if note else ''}."
            if model_id in labels
            else "A hub model: needs a connection or this machine's local cache."
        )
    st.session_state[drawn] = choice == OTHER
    st.session_state[f"model_id_{role}"] = model_id
    return model_id


def intro(text: str) -> None:
    """A page's opening paragraph; on a projector (presenter mode) moved to the sidebar under "About this
    page" so the first screen shows the page's result (the teacher says it instead)."""
    if presenter():
        with st.sidebar.expander("About this page"):
            st.markdown(text)
    else:
        st.markdown(text)


def columns(spec: Any, **kwargs: Any) -> list:
    """`st.columns`, except in presenter mode, where they are stacked full width: for pairs of charts
    (heatmaps above all) that a projector's large text would leave too cramped to read side by side."""
    if presenter():
        n = spec if isinstance(spec, int) else len(spec)
        return [st.container() for _ in range(n)]
    return st.columns(spec, **kwargs)


def presenter() -> bool:
    """True when the presenter toggle (large fonts, high contrast) is on."""
    return bool(st.session_state.get("presenter", False))


def rerun_after_reconnect() -> None:
    """Call once per run (app.py). When a participant's worker dies, the browser reconnects through
    the proxy to another worker and gets a new, empty session there. Streamlit's frontend asks for a
    rerun on reconnect only when its last run was interrupted or held a fragment with a timer; without
    one, the page would stay as drawn with no session behind it, and the participant's next click
    would be lost to rebuilding it from the link. One empty fragment with an hourly timer on every
    page makes the frontend rerun at once: the page is rebuilt from its link (every page keeps its
    inputs in the URL) and the next click counts."""
    _reconnect_timer()


@st.fragment(run_every=3600)
def _reconnect_timer() -> None:
    """Draws nothing; its timer is what the frontend looks at on reconnect (and fires once an hour)."""


def apply_css() -> None:
    st.markdown(css(presenter()), unsafe_allow_html=True)


def notes(items: list[str]) -> None:
    for n in items:
        st.info(n, icon="ℹ️")


def server_limits_markdown() -> str:
    """The Models page's account of this server's model policy and memory (no server paths)."""
    policy = model_policy.mode()
    choice = {
        "any": "any offline model, hub id or local folder (`SSL_EXPLORER_MODELS=any`)",
        "offline": "only the models that ship with the app (`SSL_EXPLORER_MODELS=offline`)",
        "list": "only the models in the organiser's list (`SSL_EXPLORER_MODELS`)",
    }[policy]
    used = model_cache.SHARED.used()
    return (
        f"- Models participants may load: {choice}\n"
        f"- Memory for loaded models: {model_cache.mb(used)} in use of {model_cache.mb(model_cache.SHARED.limit)} "
        f"(`{model_cache.ENV}`); the least recently used model that is not a default makes room for a new one\n"
        f"- Largest model a participant may load: {models.max_params() / 1e6:,.0f} M parameters "
        "(`SSL_EXPLORER_MAX_PARAMS`)\n"
        "- The converted SmolLM2 is kept in the server's cache folder (`SSL_EXPLORER_CACHE`)"
    )


def session_alive() -> Callable[[], bool] | None:
    """A check, callable from any thread, that this browser session is still connected (a closed
    tab ends it); None outside a script run."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)
