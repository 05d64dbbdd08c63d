"""The only Streamlit-aware module of the core: cached loaders, shared widgets, CSS.

Pages import from here; nothing else in `explorer/` imports streamlit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, Callable, Iterator

import streamlit as st

from explorer import model_cache, model_policy, models
from explorer.errors import ExplorerError
from explorer.page_style import NO_ELLIPSIS_CSS, PRESENTER_CSS, UPLOAD_ERROR_CSS, css  # noqa: F401 - ui.css

OTHER = "Other model id…"
_CONVERTING = threading.Lock()  # one GGUF conversion at a time, however many sessions ask
_LOG = logging.getLogger("ssl_explorer.pages")


def _threads() -> None:
    import torch

    n = int(os.environ.get("SSL_EXPLORER_THREADS", "1") or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def get_model(role: str, model_id: str | None = None, *, quiet: bool = False) -> models.LoadedModel | None:
    """The shared (read-only) model for a role, loaded once per process; None with a message on failure."""
    _threads()
    model_id = model_id if model_id is not None else selected_model_id(role)
    label = model_id or models.DEFAULTS.get(role) or role
    try:
        bar = None
        if model_id in (None, models.SMOLLM2) and role == "clm" and not models._cache_ok(models.smollm2_cache_path()):
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
        st.error(f"Something went wrong here ({type(exc).__name__}). The rest of the app still works: change the "
                 "input, pick an example, or reload the page.", icon="⚠️")


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
    offline = [m for m in ([default] if default else []) + models.OFFLINE_ALTERNATIVES.get(role, [])
               if model_policy.is_allowed(m)]
    # options are the ids alone (a long label was cut in the sidebar); what a choice is, in a caption under it
    labels = {m: m for m in offline}
    locked = model_policy.locked()  # a shared server: only its own list, no box for any id
    suggested = [m for m in models.SUGGESTED.get(role, []) if model_policy.is_allowed(m)]
    if locked:
        others = {m for r, ms in models.SUGGESTED.items() if r != role for m in ms}  # ids for other roles
        suggested += sorted(m for m in model_policy.allowed_ids() or () if m not in suggested and m not in others
                            and m not in model_policy.offline_ids() and not model_policy.looks_like_path(m))
    options = list(labels.values()) + suggested + ([] if locked else [OTHER])
    current = st.session_state.get(f"model_id_{role}")
    if current and not model_policy.is_allowed(current):  # e.g. from a link
        box.warning(f"This server does not offer {model_policy.shown(current)}; using {default or 'none'}.",
                    icon="🔒")
        current = st.session_state[f"model_id_{role}"] = default
    index = 0
    if current and current != default:
        shown = labels.get(current, current)
        index = options.index(shown) if shown in options else (0 if locked else len(options) - 1)
    choice = box.selectbox(label or models.ROLE_NAMES[role], options, index=index, key=f"pick_{role}",
                           help="Offline models ship with the app. Hub models need a connection or a local cache.")
    box_key, drawn = f"pick_other_{role}", f"_pick_other_drawn_{role}"
    if choice == OTHER:
        # Seeded every run, no `value=`: the box shows what the page uses. Its own value counts only when
        # the previous run drew it (the participant typed there); otherwise it starts from the model in use.
        if not st.session_state.get(drawn) or box_key not in st.session_state:
            st.session_state[box_key] = current if current and current not in labels and current not in options else ""
        st.session_state[box_key] = st.session_state[box_key]
        typed = box.text_input(f"{models.ROLE_NAMES[role]} id", key=box_key,
                               placeholder="e.g. bert-base-uncased or /path/to/folder")
        model_id = typed.strip() or default
    else:
        model_id = next((m for m, shown in labels.items() if shown == choice), choice)
        note = models.OFFLINE_LABELS.get(model_id)
        box.caption(f"Ships with the app{': ' + note if note else ''}." if model_id in labels
                    else "A hub model: needs a connection or this machine's local cache.")
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


def apply_css() -> None:
    st.markdown(css(presenter()), unsafe_allow_html=True)


def notes(items: list[str]) -> None:
    for n in items:
        st.info(n, icon="ℹ️")


# --------------------------------------------------------------------------- shareable state (URL)


def model_defaults(*roles: str) -> dict[str, str]:
    """Shareable-state entries for the models a page uses (the URL carries the model ids too)."""
    return {f"model_id_{r}": models.DEFAULTS.get(r) or "" for r in roles}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def page_state(page: str, defaults: dict[str, Any], limits: dict[str, Any] | None = None, *,
               local: dict[str, Any] | None = None) -> None:
    """Call at the top of a page, before its widgets: fill the widgets' session state from the link.

    Widgets then take their value from session state (create them without `value=`/`index=`).
    A link is applied once; invalid or tampered values fall back to defaults with a notice.
    Coming back from another page restores the inputs as they were. `local` holds the defaults
    of the page's other widgets (those a link does not carry); a None default leaves the widget
    to choose its own value.
    """
    from explorer.state import parse_query

    params = {k: v for k, v in st.query_params.to_dict().items() if k in defaults}
    signature = tuple(sorted(params.items()))
    marker = f"_link_{page}"
    if params and st.session_state.get(marker) != signature:
        values, problems = parse_query(params, defaults, limits)
        for key, value in values.items():
            st.session_state[key] = value
        for p in problems:
            st.warning(p, icon="🔗")
        st.session_state[marker] = signature
    local = {k: v for k, v in (local or {}).items() if k not in defaults}
    kept = st.session_state.get(f"_kept_{page}", {})
    for key, default in {**local, **defaults}.items():
        if key in st.session_state:
            value = st.session_state[key]
            if not _fits(value, default):  # e.g. a choice's label where the page keeps an index
                value = kept[key] if key in kept and _fits(kept[key], default) else default
        else:  # first visit, or back from another page: Streamlit forgot it
            value = kept.get(key, default)
            if value is None and key in local:
                continue
        # Set every run, before the widgets: a widget the previous run did not draw (the page stopped
        # early, another view or mode was shown) is then sent with the page's value. Otherwise the
        # browser mounts it at its own default while the page computes with this value, and its next
        # change sends the shown one back (the Streamlit docs' `st.session_state.k = st.session_state.k`).
        st.session_state[key] = _copy(value)
    st.session_state[f"_keys_{page}"] = [*local, *defaults]
    _keep(page)


def _fits(value: Any, default: Any) -> bool:
    """Whether a widget value has its default's type (None, a widget's 'nothing chosen', always fits)."""
    if value is None or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return True


def _keep(page: str) -> None:
    """Remember the page's inputs outside the widgets. Streamlit drops a widget's value when a run
    does not show the widget (the participant went to another page); `page_state` restores them."""
    keys = st.session_state.get(f"_keys_{page}", ())
    st.session_state[f"_kept_{page}"] = {k: _copy(st.session_state[k]) for k in keys if k in st.session_state}


def publish_state(page: str, defaults: dict[str, Any]) -> dict[str, str]:
    """Call after the widgets: write the values that differ from the defaults into the URL."""
    from explorer.state import encode_query

    values = {k: st.session_state.get(k) for k in defaults}
    params = encode_query(values, defaults)
    current = {k: v for k, v in st.query_params.to_dict().items()}
    if current != params:
        st.query_params.from_dict(params)
    st.session_state[f"_link_{page}"] = tuple(sorted(params.items()))
    _keep(page)
    return params


def share_link(params: dict[str, str], *, container: Any = None) -> str:
    """A 'copy link' control for the current page state; returns the link."""
    from urllib.parse import urlencode

    base = st.context.url or ""
    link = base + ("?" + urlencode(params) if params else "")
    box = container or st.sidebar
    with box.popover("🔗 Share this example"):
        st.caption("Send this link: it opens this page with the same inputs.")
        st.code(link or "(the link appears in the browser)", language=None, wrap_lines=True)
    return link


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


def server_limits_markdown() -> str:
    """The Models page's account of this server's model policy and memory (no server paths)."""
    policy = model_policy.mode()
    choice = {"any": "any offline model, hub id or local folder (`SSL_EXPLORER_MODELS=any`)",
              "offline": "only the models that ship with the app (`SSL_EXPLORER_MODELS=offline`)",
              "list": "only the models in the organiser's list (`SSL_EXPLORER_MODELS`)"}[policy]
    used = model_cache.SHARED.used()
    return (f"- Models participants may load: {choice}\n"
            f"- Memory for loaded models: {model_cache.mb(used)} in use of {model_cache.mb(model_cache.SHARED.limit)} "
            f"(`{model_cache.ENV}`); the least recently used model that is not a default makes room for a new one\n"
            f"- Largest model a participant may load: {models.max_params() / 1e6:,.0f} M parameters "
            "(`SSL_EXPLORER_MAX_PARAMS`)\n"
            "- The converted SmolLM2 is kept in the server's cache folder (`SSL_EXPLORER_CACHE`)")


# --------------------------------------------------------------------------- text boxes with a limit


def limited_text(label: str, *, key: str, max_chars: int, area: bool = True, what: str = "text",
                 container: Any = None, value: str | None = None, help: str | None = None, **kwargs: Any) -> str:
    """A text box (st.text_area, or st.text_input with `area=False`) whose limit every input meets the
    same way: typed, pasted, from a link or set by the page, text over `max_chars` is cut to the limit
    and a message under the box says so, while the text stays as cut. The limit is in the box's help.

    Streamlit's own `max_chars` is not used: the browser would silently drop the end of a paste, and
    the server silently cuts a longer value before the page sees it. `value` is the first value of a
    box whose key no page state fills."""
    from explorer.tokens import cut_to_limit

    box = container if container is not None else st
    if value is not None and key not in st.session_state:
        st.session_state[key] = value
    notice = f"_cut_{key}"
    text = st.session_state.get(key)
    if isinstance(text, str) and len(text) > max_chars:
        text, message = cut_to_limit(text, max_chars, what)
        st.session_state[key] = text
        st.session_state[notice] = (text, message)
    limit = f"Up to {max_chars:,} characters; longer text is cut to the first {max_chars:,}."
    widget = box.text_area if area else box.text_input
    out = widget(label, key=key, help=f"{help} {limit}" if help else limit, **kwargs)
    cut = st.session_state.get(notice)
    if cut is not None:
        if cut[0] == out:
            box.warning(cut[1], icon="✂️")
        else:  # edited since: the message is about an earlier text
            del st.session_state[notice]
    return out
