"""Masked vs causal, side by side: the same blank predicted from both sides vs from the left only."""

import streamlit as st

from explorer import examples, ui
from explorer.charts import probability_bars
from explorer.charts.compare import gain_bars, mask_matrix, word_bars, word_strip
from explorer.comparisons import masked_vs_causal as compare
from explorer.comparisons import masks
from explorer.comparisons.sentence import word_index
from explorer.tokens import display_pieces
from explorer.ui import attribution_view, chart

# Workshop examples (assets/examples/compare.toml): each hides a word its right side decides, and says so.
PRESETS = {ex["name"]: ex for ex in examples.presets("compare")}
FIRST = next(iter(PRESETS.values()))
DEFAULTS = {
    "cmp_text": FIRST["text"],
    "cmp_word": word_index(FIRST["text"], FIRST["word"]),
    "cmp_k": 8,
    "cmp_pieces": False,
}
SHARED = {**DEFAULTS, **ui.model_defaults("mlm", "clm")}  # what a link carries
LIMITS = {"cmp_word": (0, 200), "cmp_k": (3, 20)}
MAX_MASK_TOKENS = 24  # attention-mask matrices stay readable up to this many tokens

ui.page_state("compare", SHARED, LIMITS, local=attribution_view.local_state("cmp_why"))
large = ui.presenter()

st.title("Masked vs causal, side by side")
ui.intro(
    "Hide one word. The **masked LM** predicts it from **both sides**; the **causal LM** only from the "
    "words **to its left**. Same sentence, same blank, two objectives."
)

mlm_id = ui.model_picker("mlm")
clm_id = ui.model_picker("clm")


def _preset() -> None:
    text = st.session_state["cmp_text"]
    ex = next(e for e in PRESETS.values() if e["text"] == text)
    if ex.get("word"):  # an example with a typed ___ hides its blank
        st.session_state["cmp_word"] = word_index(text, ex["word"])


# The same for every click on a sentence (and every participant typing it): computed once per sentence.
@st.cache_data(max_entries=32, show_spinner=False)
def word_scores(_comp, _mlm_lm, _clm_lm, model_ids: tuple, text: str):
    return compare.score_words(_comp, _mlm_lm, _clm_lm)


@st.cache_data(max_entries=64, show_spinner=False)
def attention_patterns(_lm, model_id: str, ids: tuple):
    return masks.attention_patterns(_lm, list(ids))


# A click on a word changes the hidden word's part of the page only: the sentence's reading and the figures
# below it are made once per sentence (and shared by every participant on it; never changed once made).
@st.cache_resource(max_entries=32, show_spinner=False)
def prepared(_mlm_lm, _clm_lm, model_ids: tuple, text: str) -> compare.Comparison:
    return compare.prepare(_mlm_lm, _clm_lm, text)


@st.cache_resource(max_entries=32, show_spinner=False)
def strip_figures(model_ids: tuple, text: str, large: bool, _scores) -> tuple:
    return word_strip(_scores, large=large), gain_bars(_scores, large=large)


@st.cache_resource(max_entries=64, show_spinner=False)
def mask_figure(model_id: str, ids: tuple, pieces: tuple, title: str, large: bool, _pattern):
    return mask_matrix(_pattern, list(pieces), title=title, large=large)


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


def verdict(side: compare.Side, word: str) -> None:
    """Whether the model's top word is the hidden word, on whole words."""
    w = side.words
    if w.answer is None:
        st.info("A blank with no answer: the bars are the words the model would put there.")
    elif side.recovered:
        st.success(f"Recovered **{word}** as its top word ({w.answer.prob:.1%}).")
    else:
        where = (
            f"it ranks #{w.answer_rank}"
            if w.answer_rank
            else f"it ranks below all the words it found ({len(w.candidates)} shown)"
        )
        st.warning(
            f"Did not recover **{word}**: {where} ({w.answer.prob:.2%}); its top word is **{w.candidates[0].word}**."
        )


pick, box = st.columns([1, 2])
example = ui.example_box(
    {name: ex["text"] for name, ex in PRESETS.items()},
    key="cmp_preset",
    text_key="cmp_text",
    container=pick,
    on_pick=_preset,
    help="Workshop sentences; each one hides a word its right side decides.",
)
ui.limited_text(
    "Sentence (type ___ for the word to hide)",
    key="cmp_text",
    max_chars=600,
    area=False,
    what="sentence",
    container=box,
)
if example is not None:
    st.caption(f"**What this example shows:** {PRESETS[example]['claim']}")

mlm_lm = ui.get_model("mlm", mlm_id)
clm_lm = ui.get_model("clm", clm_id)
if mlm_lm is None or clm_lm is None:
    st.stop()

comp = None
with ui.friendly_errors():
    comp = prepared(mlm_lm, clm_lm, (mlm_lm.info.model_id, clm_lm.info.model_id), st.session_state["cmp_text"])
if comp is None:
    st.stop()
ui.notes(comp.notes)
n_words = len(comp.words)
blank = compare.blank_index(comp)
if blank is not None:  # a typed ___ is the hidden word
    st.session_state["cmp_word"] = blank
    st.caption("Your ___ is the word both models predict. Delete it to hide one of the sentence's words instead.")
else:
    chosen = st.session_state.get("cmp_word")  # None when the participant clicked the chosen word off
    if chosen is not None and not 0 <= chosen < n_words:
        st.session_state["cmp_word"] = min(2, n_words - 1)
    st.pills(
        "Word to hide (click one)",
        list(range(n_words)),
        key="cmp_word",
        selection_mode="single",
        format_func=lambda i: comp.words[i].text,
    )
index = st.session_state.get("cmp_word")
if index is None:
    st.info("Click a word above to hide it from both models.")
    st.stop()

with ui.friendly_errors():
    hidden = comp.words[index].text
    k = st.session_state["cmp_k"]
    pieces_view = st.session_state["cmp_pieces"]
    left, right = compare.predict_word(comp, mlm_lm, clm_lm, index, k=k)
    sides = ((left, "Masked LM — sees both sides"), (right, "Causal LM — sees the left only"))
    for col, (side, label) in zip(st.columns(2), sides):
        with col:
            st.subheader(label, help=f"Model: {side.model_name}")
            st.markdown(f"**The model sees:** `{side.sees}`")
    if pieces_view:  # the sub-word lesson: the first piece's distribution, as the models' heads give it
        views = compare.piece_predictions(comp, mlm_lm, clm_lm, index, k=k)
        figs = [
            probability_bars(
                v.top_pieces,
                v.top_probs,
                large=large,
                title="First piece",
                highlight=[i == v.answer_id for i in v.top_ids],
            )
            for v in views
        ]
    else:
        figs = [word_bars(side.words, large=large) for side, _ in sides]
    # both charts in one element: a new word redraws the same two charts in place, together
    chart.plotly_charts(figs, key="cmp_bars", columns=2)
    for col, (side, _) in zip(st.columns(2), sides):
        with col:
            verdict(side, hidden)
            if pieces_view:
                v = views[0 if side.kind == "mlm" else 1]
                if v.answer_piece is not None:
                    st.caption(
                        f"First piece **{v.answer_piece}**: #{v.answer_rank} ({v.answer_prob:.2%}). A first "
                        "piece can top this list as part of another word (␣bar of barks); the verdict "
                        "above is on whole words."
                    )
            elif side.n_pieces > 1:
                how = (
                    "all its pieces hidden, then read left to right, each with the later ones still hidden"
                    if side.kind == "mlm"
                    else "chain rule: each piece given the ones before it"
                )
                st.caption(f"'{hidden}' is {side.n_pieces} pieces for this model, scored as one word ({how}).")
    attribution_view.why_both(comp, mlm_lm, clm_lm, (left, right), index, large=large)
st.toggle(
    "Show sub-word pieces",
    key="cmp_pieces",
    help="The first piece's distribution alone, as the model's output layer gives it: how a word is split "
    "into pieces, and why a fragment can top that list.",
)
st.caption(
    "Bars are whole words: a word's probability is its pieces' probabilities times the probability that "
    "the word ends there; the masked LM tries 1, 2 and 3 pieces for the blank."
)
st.slider("Candidates shown", 3, 20, key="cmp_k")  # under the charts it sets: they come first on the screen
if comp.same_tokens and mlm_lm.extra.get("shares_weights_with") == clm_lm.info.model_id:
    n_bi, n_all = len(mlm_lm.extra["bidirectional_blocks"]), mlm_lm.model.config.num_hidden_layers
    which = f"all {n_all} of its blocks" if n_bi == n_all else f"its top {n_bi} of {n_all} blocks"
    st.info(
        f"**One model, two attention masks.** Both sides are {clm_lm.info.name}'s pretrained weights and "
        f"tokenizer, so both read exactly the same tokens. On the right it reads with its causal mask; on the "
        f"left {which} attend in both directions, with small low-rank updates that a short masked-token "
        f"training added so that it uses the words after the blank. A third mask, the prefix LM's (both "
        f"directions over a corrupted input, left to right over what it writes), makes the same weights the "
        f"Span corruption page's model: one set of weights, three masks, three objectives."
    )

st.header("Every word, both ways")
st.markdown(
    "Each word's probability when the masked LM hides it (both sides visible) and when the causal LM "
    "reaches it (left side only). Green bars below: words where the right-hand context helps."
)
with ui.friendly_errors():
    model_ids = (mlm_lm.info.model_id, clm_lm.info.model_id)
    scores = word_scores(comp, mlm_lm, clm_lm, model_ids, comp.text)
    strip, gain = strip_figures(model_ids, comp.text, large, scores)
    chart.plotly_chart(strip, key="cmp_strip")
    chart.plotly_chart(gain, key="cmp_gain")
    if (scores["right context gain (bits)"] < 0).any():
        st.caption(
            "A **red bar** means the words to the right made the masked LM *less* sure of that word than "
            "the causal LM was from the left alone: the right side fits other words as well (or better), "
            "or the masked LM, trained far less than the causal LM, misreads it."
        )
    with st.expander("Table"):
        st.dataframe(
            scores.drop(columns=["index"]),
            hide_index=True,
            width="stretch",
            column_config={
                "masked LM p(word)": st.column_config.NumberColumn(format="%.4f"),
                "causal LM p(word)": st.column_config.NumberColumn(format="%.4f"),
                "right context gain (bits)": st.column_config.NumberColumn(format="%.1f"),
            },
        )
        st.download_button("Download CSV", scores.to_csv(index=False).encode(), "masked_vs_causal.csv", "text/csv")

st.header("What each model may look at")
st.markdown(
    "The attention masks, read from the models' own attention weights: a cell is blue when "
    "the row's token can attend to the column's token."
)
with ui.friendly_errors():
    cols = st.columns(2)
    m_ids = comp.mlm_enc.ids[:MAX_MASK_TOKENS]
    c_ids = comp.clm_ids[:MAX_MASK_TOKENS]
    with cols[0]:
        patterns = attention_patterns(mlm_lm, mlm_lm.info.model_id, tuple(m_ids))
        right = masks.sees_right_context(patterns)
        last = len(patterns)
        title = f"Masked LM, block {last}: full" if right[-1] else f"Masked LM, block {last}"
        pieces = tuple(comp.mlm_enc.pieces[: len(m_ids)])
        fig = mask_figure(mlm_lm.info.model_id, tuple(m_ids), pieces, title, large, patterns[-1])
        chart.plotly_chart(fig, key="cmp_mask_mlm")
        if any(right) and not all(right):
            st.caption(
                f"Blocks {block_ranges(right, False)} keep the causal mask (lower-triangular); blocks "
                f"{block_ranges(right, True)} see the whole sentence, the right-hand context included."
            )
        elif all(right):
            st.caption(f"All {last} blocks see the whole sentence.")
    with cols[1]:
        pattern = attention_patterns(clm_lm, clm_lm.info.model_id, tuple(c_ids))[-1]
        pieces = tuple(display_pieces(clm_lm.tokenizer, c_ids))
        fig = mask_figure(clm_lm.info.model_id, tuple(c_ids), pieces, "Causal LM: lower-triangular", large, pattern)
        chart.plotly_chart(fig, key="cmp_mask_clm")
    if len(comp.mlm_enc.ids) > MAX_MASK_TOKENS or len(comp.clm_ids) > MAX_MASK_TOKENS:
        st.caption(f"Only the first {MAX_MASK_TOKENS} tokens are drawn.")

st.header("The two objectives")
st.dataframe(compare.OBJECTIVES, hide_index=True, width="stretch")

ui.share_link(ui.publish_state("compare", SHARED))
