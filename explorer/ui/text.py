"""Text boxes whose character limit every input meets the same way (typed, pasted, from a link)."""

from __future__ import annotations

from typing import Any

import streamlit as st

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
