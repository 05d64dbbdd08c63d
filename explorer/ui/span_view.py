"""The Span corruption page's "one set of weights, three masks": the causal LM, the masked LM and the span LM
made from the same SmolLM2, each mask read from the model's own attention weights on the page's sentence."""

from __future__ import annotations

import streamlit as st

from explorer import ui
from explorer.charts.compare import mask_matrix
from explorer.comparisons import masks
from explorer.models import LoadedModel
from explorer.span import reconstruct_text
from explorer.ui import chart


@st.cache_resource(max_entries=96, show_spinner=False)
def _figure(kind: str, model_id: str, texts: tuple, large: bool, _lm) -> object:
    """One mask's figure, kept per model and text: a new seed changes only the span LM's (the sentence is
    the same for the causal and the masked LM)."""
    view = {"causal": masks.causal_view, "full": masks.full_view, "prefix": masks.prefix_view}[kind](_lm, *texts)
    return mask_matrix(view.pattern, view.pieces, title=view.title, large=large)


def three_masks(span_lm: LoadedModel | None, mlm_lm: LoadedModel | None, input_text: str, target_text: str) -> None:
    """The three masks side by side, when the span-corruption model is a prefix LM (the offline one)."""
    clm_lm = ui.get_model("clm", quiet=True)
    if span_lm is None or mlm_lm is None or clm_lm is None or not masks.reads_a_prefix(span_lm):
        return
    st.subheader("One set of weights, three masks")
    st.markdown(
        f"The three models here share SmolLM2's weights; only the attention mask differs. **Causal** "
        f"({clm_lm.info.name}): each token sees the ones before it. **Full** ({mlm_lm.info.name}): every token "
        f"sees the whole sentence. **Prefix** ({span_lm.info.name}): the corrupted input is read both ways, "
        "the target is written left to right, each of its tokens seeing the whole input. Each mask is read "
        "from the model's own attention weights (its last block; blue: may attend)."
    )
    text, large = reconstruct_text(input_text, target_text), ui.presenter()
    figs = [
        _figure("causal", clm_lm.info.model_id, (text,), large, clm_lm),
        _figure("full", mlm_lm.info.model_id, (text,), large, mlm_lm),
        _figure("prefix", span_lm.info.model_id, (input_text, target_text), large, span_lm),
    ]
    chart.plotly_charts(figs, key="span_three_masks", columns=3)
