"""Models: what is loaded for each role, how big it is, and the cards of the models made for the app."""

import pandas as pd
import streamlit as st

from explorer import lessons, models, ui
from explorer.models import cache as model_cache

st.title("Models")
ui.intro(
    "Each page uses one model per role. The offline defaults ship with the app; any Hugging Face hub id "
    "(or a local folder) loads when this machine is online or has the model in its local cache. "
    "Models are loaded once per server and shared read-only; training works on a private copy."
)

rows = []
for role in models.ROLES:
    model_id = ui.model_picker(role)
    lm = ui.get_model(role, model_id, quiet=True) if model_id else None
    row = model_cache.table_row(role, model_id, lm, reason="not available (see below)")
    if lm is not None:
        row.update(architecture=lm.info.architecture, vocabulary=f"{lm.info.vocab_size:,}", licence=lm.info.licence)
    rows.append(row)
st.table(pd.DataFrame(rows).set_index("role"))  # plain: its text wraps where a grid's columns cut it ("Apache-")

for role in models.ROLES:
    model_id = ui.selected_model_id(role)
    if model_id:
        lm = ui.get_model(role, model_id, quiet=True)
        if lm is None:
            with st.expander(f"Why is the {models.ROLE_NAMES[role].lower()} '{model_id}' not available?"):
                ui.get_model(role, model_id)
    else:
        st.info(
            f"No offline {models.ROLE_NAMES[role]} ships with this app: pick a hub id such as "
            f"{', '.join(models.SUGGESTED[role][:2])} in the sidebar (needs a connection or a local cache)."
        )

st.header("The offline models made for this app")
smollm2_mlm = ui.get_model("mlm", models.SMOLLM2_MLM, quiet=True)
products = (
    " On this server its blocks' matrix products are computed in bfloat16 (this CPU multiplies bfloat16 "
    "natively: about 1.5× faster, probabilities the same to about three digits; `SSL_EXPLORER_BF16=0` "
    "keeps float32)."
    if smollm2_mlm is not None and smollm2_mlm.extra.get("products") == "bfloat16"
    else ""
)
st.markdown(
    f"- **{models.SMOLLM2_MLM}** (the default): the causal LM SmolLM2 itself, its blocks given full attention "
    "so that they read both sides of a blank (small low-rank updates taught them to). Same weights and tokenizer "
    f"as the causal LM, so the masked-vs-causal page compares one model under two attention masks.{products}\n"
    f"- **{models.PROJECT_MLM}**: a BERT-style masked LM (uncased WordPiece vocabulary, `[MASK]`), the "
    "all-MiniLM-L6-v2 encoder with a masked-LM head trained for the project. Pick it in the sidebar.\n"
    f"- **{models.SMOLLM2_SPAN}** (the span-corruption default): SmolLM2 again, under a third mask, the prefix "
    "LM's: both directions over a corrupted input, left to right over the spans it writes back (T5's "
    "objective). One set of weights, three masks."
)
made = ((models.SMOLLM2_MLM, "mlm", True), (models.PROJECT_MLM, "mlm", False), (models.SMOLLM2_SPAN, "seq2seq", False))
for model_id, role, expanded in made:
    with st.expander(f"Model card: {model_id}", expanded=expanded):
        card_lm = ui.get_model(role, model_id, quiet=True)
        if card_lm is not None and card_lm.extra.get("card"):
            st.markdown(lessons.nested_markdown(card_lm.extra["card"], top=3))
        else:
            build = "make build-span" if role == "seq2seq" else "make build-mlm"
            st.info(f"{model_id} has not been built on this machine: build it with `{build}`.")

st.header("What this server allows")
st.markdown(ui.server_limits_markdown())
