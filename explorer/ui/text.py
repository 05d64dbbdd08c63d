"""Text boxes whose character limit every input meets the same way (typed, pasted, from a link), and the
Example menu that fills one."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import streamlit as st


def example_box(
    examples: Mapping[str, str],
    *,
    key: str,
    text_key: str,
    container: Any = None,
    label: str = "Example",
    placeholder: str = "Your own text",
    on_pick: Callable[[], None] | None = None,
    **kwargs: Any,
) -> str | None:
    """A menu of example texts that names the example the text box (`text_key`) holds, and none, showing
    `placeholder`, once the text is not one of them (typed over, from a link, set by the page); picking an
    example puts its text in the box (then `on_pick`). Draw it before the text box. Returns the example
    named, or None.

    The menu's value is set from the text on every run, so it can never claim an edited text is an
    example, and picking the same example again after an edit restores its text."""
    current = st.session_state.get(text_key)
    st.session_state[key] = next((name for name, text in examples.items() if text == current), None)

    def pick() -> None:
        name = st.session_state.get(key)
        if name is not None:
            st.session_state[text_key] = examples[name]
            if on_pick is not None:
                on_pick()

    box = container if container is not None else st
    return box.selectbox(label, list(examples), key=key, index=None, placeholder=placeholder, on_change=pick, **kwargs)


def limited_text(
    label: str,
    *,
    key: str,
    max_chars: int,
    area: bool = True,
    what: str = "text",
    container: Any = None,
    value: str | None = None,
    help: str | None = None,
    **kwargs: Any,
) -> str:
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
