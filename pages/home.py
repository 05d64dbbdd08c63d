"""Home: what self-supervised learning is, the map of the pages, the models in use."""

import streamlit as st

from explorer import lessons, ui
from explorer.models import DEFAULTS, ROLE_NAMES

st.markdown(lessons.read_markdown("home.md"))

st.header("Map of the pages")
st.markdown(lessons.read_markdown("page_map.md"))

st.header("Models in use")
rows = []
for role in ("mlm", "clm", "encoder", "seq2seq"):
    lm = ui.get_model(role, quiet=True) if DEFAULTS.get(role) else None
    if lm is None:
        rows.append({"role": ROLE_NAMES[role], "model": ui.selected_model_id(role) or "—",
                     "parameters (M)": None, "layers": None, "heads": None, "max tokens": None,
                     "source": "not available offline" if not DEFAULTS.get(role) else "not built yet"})
        continue
    i = lm.info
    rows.append({"role": ROLE_NAMES[role], "model": i.name, "parameters (M)": round(i.params_millions, 1),
                 "layers": i.layers, "heads": i.heads, "max tokens": i.max_length, "source": i.source})
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("Pick other models in each page's sidebar. Hub models (bert-base-uncased, gpt2, t5-small, …) "
           "load when this machine is online or has them in its local cache.")
