"""Masked vs causal, side by side: the same blank predicted from both sides vs from the left only."""

import streamlit as st

from explorer import compare, ui
from explorer.charts import probability_bars
from explorer.charts.compare import gain_bars, mask_matrix, word_strip
from explorer.tokens import display_pieces
from explorer.ui import chart

# Workshop examples and the word each one hides first: a word the right-hand context decides.
PRESETS = {
    "The dog barked at the mailman.": 2,
    "The ___ barked at the mailman.": 1,
    "I went to the bank to deposit my paycheck.": 4,
    "She poured a glass of cold milk and drank it.": 6,
    "The capital of France is Paris.": 1,
    "He played the guitar at the concert last night.": 1,
}
DEFAULTS = {"cmp_text": next(iter(PRESETS)), "cmp_word": 2, "cmp_k": 8}
SHARED = {**DEFAULTS, **ui.model_defaults("mlm", "clm")}  # what a link carries
LIMITS = {"cmp_word": (0, 200), "cmp_k": (3, 20)}
MAX_MASK_TOKENS = 24  # attention-mask matrices stay readable up to this many tokens

ui.page_state("compare", SHARED, LIMITS)
large = ui.presenter()

st.title("Masked vs causal, side by side")
ui.intro(
    "Hide one word. The **masked LM** predicts it from **both sides**; the **causal LM** only from the "
    "words **to its left**. Same sentence, same blank, two objectives."
)

mlm_id = ui.model_picker("mlm")
clm_id = ui.model_picker("clm")


def _preset() -> None:
    choice = st.session_state.get("cmp_preset")
    if choice:
        st.session_state["cmp_text"] = choice
        st.session_state["cmp_word"] = PRESETS[choice]
    st.session_state["cmp_preset"] = None  # a menu of examples: the same one can be picked again after an edit


# The same for every click on a sentence (and every participant typing it): computed once per sentence.
@st.cache_data(max_entries=32, show_spinner=False)
def word_scores(_comp, _mlm_lm, _clm_lm, model_ids: tuple, text: str):
    return compare.score_words(_comp, _mlm_lm, _clm_lm)


@st.cache_data(max_entries=64, show_spinner=False)
def attention_patterns(_lm, model_id: str, ids: tuple):
    return compare.attention_patterns(_lm, list(ids))


def block_ranges(flags: list[bool], value: bool) -> str:
    """'1–22' style ranges of the (1-based) blocks whose flag is `value`."""
    runs, start = [], None
    for i, f in enumerate(flags + [not value]):
        if f == value and start is None:
            start = i
        elif f != value and start is not None:
            runs.append(f"{start + 1}–{i}" if i - start > 1 else f"{start + 1}")
            start = None
    return ", ".join(runs)


pick, box = st.columns([1, 2])
pick.selectbox("Example", list(PRESETS), index=None, key="cmp_preset", on_change=_preset,
               placeholder="Pick an example…", help="Workshop sentences; each one hides a word its right side decides.")
ui.limited_text("Sentence (type ___ for a blank with no answer)", key="cmp_text", max_chars=600, area=False,
                what="sentence", container=box)

mlm_lm = ui.get_model("mlm", mlm_id)
clm_lm = ui.get_model("clm", clm_id)
if mlm_lm is None or clm_lm is None:
    st.stop()

comp = None
with ui.friendly_errors():
    comp = compare.prepare(mlm_lm, clm_lm, st.session_state["cmp_text"])
if comp is None:
    st.stop()
ui.notes(comp.notes)
n_words = len(comp.words)
chosen = st.session_state.get("cmp_word")  # None when the participant clicked the chosen word off
if chosen is not None and not 0 <= chosen < n_words:
    st.session_state["cmp_word"] = compare.blank_index(comp) or min(2, n_words - 1)
st.pills("Word to hide (click one)", list(range(n_words)), key="cmp_word", selection_mode="single",
         format_func=lambda i: comp.words[i].text)
index = st.session_state.get("cmp_word")
if index is None:
    st.info("Click a word above to hide it from both models.")
    st.stop()

with ui.friendly_errors():
    left, right = compare.predict_word(comp, mlm_lm, clm_lm, index, k=st.session_state["cmp_k"])
    sides = ((left, "Masked LM — sees both sides"), (right, "Causal LM — sees the left only"))
    for col, (side, label) in zip(st.columns(2), sides):
        with col:
            st.subheader(label, help=f"Model: {side.model_name}")
            st.markdown(f"**The model sees:** `{side.sees}`")
    # both charts in one element: a new word redraws the same two charts in place, together
    chart.plotly_charts([probability_bars(side.top_pieces, side.top_probs, large=large,
                                          highlight=[p == side.answer_piece for p in side.top_pieces])
                         for side, _ in sides], key="cmp_bars", columns=2)
    for col, (side, _) in zip(st.columns(2), sides):
        with col:
            if side.answer_rank is None:
                st.info("A blank with no answer: the bars are what the model would put there.")
            elif side.recovered:
                st.success(f"Recovered **{side.answer_piece}** as its top guess ({side.answer_prob:.1%}).")
            else:
                st.warning(f"Did not recover **{side.answer_piece}**: it ranks #{side.answer_rank} "
                           f"({side.answer_prob:.2%}).")
            if side.n_pieces > 1 and side.word_prob is not None:
                how = ("all its pieces hidden, then read left to right, each piece with the later ones still "
                       "hidden" if side.kind == "mlm" else "chain rule: each piece given the ones before it")
                st.caption(f"'{comp.words[index].text}' is {side.n_pieces} pieces for this model; the bars show the "
                           f"first piece. Whole word: p = {side.word_prob:.2e} ({how}).")

st.slider("Candidates shown", 3, 20, key="cmp_k")  # under the charts it sets: they come first on the screen
if comp.same_tokens and mlm_lm.extra.get("shares_weights_with") == clm_lm.info.model_id:
    n_bi, n_all = len(mlm_lm.extra["bidirectional_blocks"]), mlm_lm.model.config.num_hidden_layers
    which = f"all {n_all} of its blocks" if n_bi == n_all else f"its top {n_bi} of {n_all} blocks"
    st.info(f"**One model, two attention masks.** Both sides are {clm_lm.info.name}'s pretrained weights and "
            f"tokenizer, so both read exactly the same tokens. On the right it reads with its causal mask; on the "
            f"left {which} attend in both directions, with small low-rank updates that a short masked-token "
            f"training added so that it uses the words after the blank.")

st.header("Every word, both ways")
st.markdown("Each word's probability when the masked LM hides it (both sides visible) and when the causal LM "
            "reaches it (left side only). Green bars below: words where the right-hand context helps.")
with ui.friendly_errors():
    scores = word_scores(comp, mlm_lm, clm_lm, (mlm_lm.info.model_id, clm_lm.info.model_id), comp.text)
    st.plotly_chart(word_strip(scores, large=large), width="stretch", key="cmp_strip")
    st.plotly_chart(gain_bars(scores, large=large), width="stretch", key="cmp_gain")
    with st.expander("Table"):
        st.dataframe(scores.drop(columns=["index"]), hide_index=True, width="stretch",
                     column_config={"masked LM p(word)": st.column_config.NumberColumn(format="%.4f"),
                                    "causal LM p(word)": st.column_config.NumberColumn(format="%.4f"),
                                    "right context gain (bits)": st.column_config.NumberColumn(format="%.1f")})
        st.download_button("Download CSV", scores.to_csv(index=False).encode(), "masked_vs_causal.csv", "text/csv")

st.header("What each model may look at")
st.markdown("The attention masks, read from the models' own attention weights: a cell is blue when "
            "the row's token can attend to the column's token.")
with ui.friendly_errors():
    cols = st.columns(2)
    m_ids = comp.mlm_enc.ids[:MAX_MASK_TOKENS]
    c_ids = comp.clm_ids[:MAX_MASK_TOKENS]
    with cols[0]:
        patterns = attention_patterns(mlm_lm, mlm_lm.info.model_id, tuple(m_ids))
        right = compare.sees_right_context(patterns)
        last = len(patterns)
        title = f"Masked LM, block {last}: full" if right[-1] else f"Masked LM, block {last}"
        st.plotly_chart(mask_matrix(patterns[-1], comp.mlm_enc.pieces[:len(m_ids)], title=title, large=large),
                        width="stretch", key="cmp_mask_mlm")
        if any(right) and not all(right):
            st.caption(f"Blocks {block_ranges(right, False)} keep the causal mask (lower-triangular); blocks "
                       f"{block_ranges(right, True)} see the whole sentence, the right-hand context included.")
        elif all(right):
            st.caption(f"All {last} blocks see the whole sentence.")
    with cols[1]:
        pattern = attention_patterns(clm_lm, clm_lm.info.model_id, tuple(c_ids))[-1]
        st.plotly_chart(mask_matrix(pattern, display_pieces(clm_lm.tokenizer, c_ids), title="Causal LM: lower-triangular",
                                    large=large), width="stretch", key="cmp_mask_clm")
    if len(comp.mlm_enc.ids) > MAX_MASK_TOKENS or len(comp.clm_ids) > MAX_MASK_TOKENS:
        st.caption(f"Only the first {MAX_MASK_TOKENS} tokens are drawn.")

st.header("The two objectives")
st.dataframe(compare.OBJECTIVES, hide_index=True, width="stretch")

ui.share_link(ui.publish_state("compare", SHARED))
