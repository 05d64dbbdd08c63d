"""Shareable page state: a page's inputs read from its link, kept across pages, written back to the URL.

Besides a page's own inputs, the URL carries the app's presenter mode (`presenter=1`, `APP_PARAMS`), so
a reload, a link from the Home page or a bookmark keeps the projector's large fonts; a page's share
link leaves it out (a class opening the teacher's link gets the ordinary view).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from explorer import models

APP_PARAMS = ("presenter",)
_PAGE_LINK = re.compile(r"\[([^\]\n]+)\]\(([a-z][a-z0-9_]*)\)")  # [text](page): a page of this app


def app_params() -> dict[str, str]:
    """The app-wide settings the URL carries: presenter mode when it is on."""
    return {"presenter": "1"} if st.session_state.get("presenter") else {}


def presenter_from_link() -> None:
    """Call before the presenter toggle: a new session (a reload, a link) starts as its link says."""
    if "presenter" not in st.session_state:
        st.session_state["presenter"] = st.query_params.get("presenter") == "1"


def keep_app_params() -> None:
    """Write the app-wide settings into the URL (every run: a page switch starts with a bare URL)."""
    wanted = app_params()
    for key in APP_PARAMS:
        if key in wanted and st.query_params.get(key) != wanted[key]:
            st.query_params[key] = wanted[key]
        elif key not in wanted and key in st.query_params:
            del st.query_params[key]


def same_tab_links(markdown: str) -> str:
    """Markdown whose links to the app's own pages (`[text](page)`) open in the same tab (a markdown link
    opens a new one) and keep the app-wide settings (presenter mode); render with unsafe_allow_html."""
    query = urlencode(app_params())

    def link(m: re.Match) -> str:
        href = m.group(2) + (f"?{query}" if query else "")
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(m.group(1)))
        return f'<a href="{html.escape(href)}" target="_self">{text}</a>'

    return _PAGE_LINK.sub(link, markdown)


def model_defaults(*roles: str) -> dict[str, str]:
    """Shareable-state entries for the models a page uses (the URL carries the model ids too)."""
    return {f"model_id_{r}": models.DEFAULTS.get(r) or "" for r in roles}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def page_state(
    page: str, defaults: dict[str, Any], limits: dict[str, Any] | None = None, *, local: dict[str, Any] | None = None
) -> None:
    """Call at the top of a page, before its widgets: fill the widgets' session state from the link.

    Widgets then take their value from session state (create them without `value=`/`index=`).
    A link is applied once; invalid or tampered values fall back to defaults with a notice.
    Coming back from another page restores the inputs as they were. `local` holds the defaults
    of the page's other widgets (those a link does not carry); a None default leaves the widget
    to choose its own value.
    """
    from explorer.ui.state import parse_query

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
    from explorer.ui.state import encode_query

    values = {k: st.session_state.get(k) for k in defaults}
    params = encode_query(values, defaults)
    current = {k: v for k, v in st.query_params.to_dict().items()}
    if current != {**params, **app_params()}:
        st.query_params.from_dict({**params, **app_params()})
    st.session_state[f"_link_{page}"] = tuple(sorted(params.items()))
    _keep(page)
    return params


def share_link(params: dict[str, str], *, container: Any = None) -> str:
    """A 'copy link' control for the current page state; returns the link."""
    base = st.context.url or ""
    link = base + ("?" + urlencode(params) if params else "")
    box = container or st.sidebar
    with box.popover("🔗 Share this example"):
        st.caption("Send this link: it opens this page with the same inputs.")
        st.code(link or "(the link appears in the browser)", language=None, wrap_lines=True)
    return link
