"""Which browser a session belongs to, so that a reload or a second tab finds the participant's runs
and quiz score again (`explorer.ui.browser_store`).

The browser's id is a random token in a cookie. A cookie rather than the link (`?b=…`): a link is
copied and shared (the page's own "share" link, or the address bar sent to a whole class), and
whoever opened it would take over the sender's runs; a link is also lost by every link that does not
carry it. A cookie stays with the browser, through reloads, new tabs, bookmarks and the Home page's
links, and never travels with a shared link. Streamlit reads cookies (`st.context.cookies`) but
cannot set them, so the first page a browser opens sets it with a line of JavaScript; until then
(and in a browser that refuses cookies) the session's own id stands in, and a reload starts afresh.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Callable

import streamlit as st

from explorer.ui.browser_store import BROWSERS

COOKIE = "sslx_browser"
STATE = "browser_id"  # the session's browser id, in session state
_VALID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_YEAR = 365 * 24 * 3600


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request behind this run (tests)
        return None
    return value if isinstance(value, str) and _VALID.match(value) else None


def browser_id() -> str:
    """This session's browser id: the cookie's, or a new one (kept for the session)."""
    current = st.session_state.get(STATE)
    if isinstance(current, str) and _VALID.match(current):
        return current
    bid = _cookie() or secrets.token_urlsafe(18)
    st.session_state[STATE] = bid
    return bid


def remember_browser() -> str:
    """Once per run (app.py): note that this browser is here, and set its cookie if the browser has none."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from explorer.ui import session_alive

    bid = browser_id()
    ctx = get_script_run_ctx()
    BROWSERS.touch(bid, ctx.session_id if ctx else bid, session_alive())
    if _cookie() != bid and not st.session_state.get("_browser_cookie_sent"):
        st.session_state["_browser_cookie_sent"] = True  # once per session: the script stays in the page
        st.sidebar.html(
            f"<script>document.cookie = '{COOKIE}={bid}; path=/; max-age={_YEAR}; SameSite=Lax';</script>",
            unsafe_allow_javascript=True,
        )
    return bid


def browser_value(key: str, factory: Callable[[], Any]) -> Any:
    """A value kept for this browser (made by `factory()` the first time), shared by its tabs and reloads."""
    return BROWSERS.setdefault(browser_id(), key, factory)


def browser_connected() -> Callable[[], bool]:
    """A check, callable from any thread, that a session of this browser (any tab) is still connected."""
    bid = browser_id()
    return lambda: BROWSERS.connected(bid)
