"""The class's answers beside each participant's own: the classroom's store (`explorer.classroom`), shared by
every worker, reached from the pages.

One room per server for now (`SSL_EXPLORER_ROOM`, default "class"). A participant is their browser (its
cookie id) with an anonymous name drawn at random. When the database cannot be reached, the class features
say so and the page goes on."""

from __future__ import annotations

import logging
import os
import time
from typing import Sequence

import streamlit as st

from explorer import classroom
from explorer.charts.classroom import class_bars
from explorer.errors import ExplorerError
from explorer.ui.browser import browser_id, browser_value
from explorer.ui.chart import plotly_chart

ROOM_ENV = "SSL_EXPLORER_ROOM"
CODE_ENV = "SSL_EXPLORER_ROOM_CODE"
REFRESH_S = 2
_LOG = logging.getLogger("ssl_explorer.classroom")


def room() -> str:
    return os.environ.get(ROOM_ENV, "").strip() or "class"


@st.cache_resource(show_spinner=False)
def _store(url: str) -> classroom.Store:
    s = classroom.Store(url)
    s.create_room(room(), os.environ.get(CODE_ENV, ""))
    return s


RETRY_S = 15  # after a failed connection, the pages do not wait for the database again for this long
_DOWN: dict[str, float] = {}  # url -> until when it is taken as down


def store() -> classroom.Store | None:
    """This server's store (one per process, for every session), or None with a message when it cannot be
    reached (tried again after RETRY_S seconds, so that a page never waits for a missing database twice)."""
    url = classroom.default_url()
    if _DOWN.get(url, 0.0) > time.monotonic():
        st.caption(f"🏫 {classroom.RoomUnavailable()}")
        return None
    try:
        return _store(url)
    except classroom.RoomUnavailable as exc:
        _store.clear()
        _DOWN[url] = time.monotonic() + RETRY_S
        _LOG.warning("classroom store unavailable: %s", exc)
        st.caption(f"🏫 {exc}")
        return None


def my_name() -> str:
    """This browser's anonymous name in the room (drawn once, kept for the browser)."""
    return browser_value("class_name", classroom.random_name)


def class_answers(question: str, options: Sequence[str], mine: str | None, *, large: bool) -> None:
    """Record this participant's answer to `question` (once it is given) and show the room's, live in
    presenter mode (refreshed every REFRESH_S seconds)."""
    s = store()
    if s is None:
        return
    try:
        flag = f"_class_asked_{question}"
        if not st.session_state.get(flag):  # once per session: the question is asked in the room
            s.ask(room(), question)
            st.session_state[flag] = True
        sent = f"_class_sent_{question}"
        if mine is not None and not st.session_state.get(sent):  # once per session, not at every rerun
            if not st.session_state.get("_class_joined"):
                s.join(room(), browser_id(), my_name())
                st.session_state["_class_joined"] = True
            if s.my_answer(room(), question, browser_id()) is None:  # another tab of this browser may have
                s.answer(room(), question, browser_id(), mine)
            st.session_state[sent] = True
    except classroom.RoomUnavailable as exc:
        _DOWN[s.url] = time.monotonic() + RETRY_S
        st.caption(f"🏫 {exc}")
        return
    except ExplorerError as exc:  # an answer the room refuses (a closed question) is said, not raised
        st.caption(f"🏫 {exc.message}")
    if mine is None and not large:
        return  # a participant sees the room's answers once they have given their own

    @st.fragment(run_every=REFRESH_S if large else None)
    def draw() -> None:
        if _DOWN.get(s.url, 0.0) > time.monotonic():
            st.caption(f"🏫 {classroom.RoomUnavailable()}")
            return
        try:
            counts = s.results(room(), question)
        except classroom.RoomUnavailable as exc:
            _DOWN[s.url] = time.monotonic() + RETRY_S
            st.caption(f"🏫 {exc}")
            return
        plotly_chart(class_bars(options, counts, mine=mine, large=large), key=f"class_{question}")
        if mine is not None:
            same = counts.get(mine, 0)
            st.caption(
                f"You ({my_name()}) said “{mine}”, as did {same - 1} other{'s' if same - 1 != 1 else ''} of the "
                f"room's {sum(counts.values())}."
            )

    draw()
