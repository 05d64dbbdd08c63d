"""Home: what self-supervised learning is, the map of the pages, the models in use."""

import pandas as pd
import streamlit as st

from explorer import lessons, ui
from explorer.models import cache as model_cache

# links to the app's pages open in the same tab, keeping presenter mode (a markdown link opens a new tab)
st.markdown(ui.same_tab_links(lessons.read_markdown("home.md")), unsafe_allow_html=True)

st.header("Map of the pages")
st.markdown(ui.same_tab_links(lessons.read_markdown("page_map.md")), unsafe_allow_html=True)

st.header("Models in use")
# Described, not loaded: the first page a participant opens appears at once on a fresh server.
# a plain table: its text wraps (a grid's columns cut it) and grows in presenter mode
st.table(
    pd.DataFrame(
        [
            model_cache.table_row(
                role, ui.selected_model_id(role), model_cache.SHARED.peek(role, ui.selected_model_id(role))
            )
            for role in ("mlm", "clm", "encoder", "seq2seq")
        ]
    ).set_index("role")
)
st.caption(
    "Pick other models in each page's sidebar; the Models page shows them in full. Hub models "
    "(bert-base-uncased, gpt2, t5-small, …) load when this machine is online or has them in its local cache."
)
