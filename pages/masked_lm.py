"""Masked LM (cloze): hide tokens of your own text and see what a masked LM predicts."""

import streamlit as st

from explorer import examples, mlm, ui
from explorer.charts import unique_labels
from explorer.ui import attribution_view, masked_view

# Workshop examples (assets/examples/masked_lm.toml): each says what it shows; picking one masks its words.
PRESETS = {ex["name"]: ex for ex in examples.presets("masked_lm")}
VIEWS = ["Fill in the blanks", "Mask like BERT", "Surprise per token"]
DEFAULTS = {
    "mlm_text": next(iter(PRESETS.values()))["text"],
    "mlm_masked": [],  # token positions; a preset (and the first visit) masks the preset's own words
    "mlm_whole_word": False,
    "mlm_pieces": False,
    "mlm_k": 10,
    "mlm_view": VIEWS[0],
    "mlm_rate": 15,
    "mlm_seed": 0,
}
SHARED = {**DEFAULTS, **ui.model_defaults("mlm")}  # what a link carries
LIMITS = {"mlm_masked": (0, 511), "mlm_k": (1, 25), "mlm_view": VIEWS, "mlm_rate": (5, 50), "mlm_seed": (0, 9_999)}
ui.page_state(
    "masked_lm", SHARED, LIMITS, local={**DEFAULTS, **attribution_view.local_state("mlm_why"), "mlm_why_blank": None}
)
large = ui.presenter()


def _on_mask_click() -> None:
    enc = st.session_state.get("_mlm_enc")
    if enc is not None and st.session_state.get("mlm_whole_word"):
        st.session_state["mlm_masked"] = mlm.update_word_selection(
            enc, st.session_state.get("_mlm_shown", []), st.session_state.get("mlm_masked") or []
        )


st.title("Masked LM: the cloze game")
ui.intro(
    "A masked language model learns from raw text alone: hide some tokens, ask the model to guess them, "
    "and score the guess against **the text itself**: no one labels anything. Click tokens below to hide them."
)

ui.model_picker("mlm")
lm = ui.get_model("mlm")
if lm is None:
    st.info(
        "This page needs a masked LM. Pick one in the sidebar: the offline default once it is built, or a "
        "hub model such as bert-base-uncased (`[MASK]`) or distilroberta-base (`<mask>`) when online."
    )
    st.stop()
st.sidebar.caption(
    f"{lm.info.name}: {lm.info.params_millions:.0f} M parameters, {lm.info.layers} layers, "
    f"up to {lm.info.max_length} tokens."
)

left, right = st.columns([1, 3])
example = ui.example_box(
    {name: ex["text"] for name, ex in PRESETS.items()},
    key="mlm_preset",
    text_key="mlm_text",
    container=left,
    help="Workshop examples; picking one masks its key word.",
)
ui.limited_text(
    "Text",
    key="mlm_text",
    max_chars=5000,
    container=right,
    height=68,
    help="Type or paste any text. Type [MASK] or <mask> to leave a blank with no answer.",
)
if example is not None:
    st.caption(f"**What this example shows:** {PRESETS[example]['claim']}")

enc = None
with ui.friendly_errors():
    enc = mlm.encode_text(lm, st.session_state["mlm_text"])
if enc is None:
    st.stop()
ui.notes(enc.notes)
tok = lm.tokenizer
blanks = mlm.typed_masks(enc, tok)
options = mlm.maskable_positions(enc, tok)

# A new text (or model) starts from its example's words, or from nothing.
signature = (lm.info.model_id, enc.text)
if st.session_state.get("_mlm_signature") != signature:
    first_visit = "_mlm_signature" not in st.session_state
    st.session_state["_mlm_signature"] = signature
    if not (first_visit and st.session_state.get("mlm_masked")):
        words = next(
            (ex["words"] for ex in PRESETS.values() if mlm.replace_mask_markers(ex["text"], tok) == enc.text), []
        )
        st.session_state["mlm_masked"] = mlm.positions_of_words(enc, words)
selected = [p for p in (st.session_state.get("mlm_masked") or []) if p in options]
if st.session_state.get("mlm_whole_word"):
    selected = mlm.expand_to_words(enc, selected)
st.session_state["mlm_masked"] = selected
st.session_state["_mlm_enc"] = enc
st.session_state["_mlm_shown"] = selected

labels = dict(zip(options, unique_labels([enc.pieces[p] for p in options])))
st.pills(
    "Your text as the model's tokens: click tokens to mask them",
    options,
    selection_mode="multi",
    format_func=labels.get,
    key="mlm_masked",
    on_change=_on_mask_click,
    help="Pieces starting with ## (BERT) continue a word; ␣ marks a leading space (RoBERTa, GPT-2). "
    "Special tokens such as [CLS] and [SEP] are never masked.",
)
opt1, opt2 = st.columns([1, 2])
opt1.toggle(
    "Whole-word masking",
    key="mlm_whole_word",
    help="Mask every piece of a word together, so the model cannot peek at the rest of the word; the "
    "guesses are then whole words.",
)
if st.session_state["mlm_whole_word"]:
    opt1.toggle(
        "Show sub-word pieces",
        key="mlm_pieces",
        help="Each masked piece's own guesses, as the model's output layer gives them.",
    )
opt2.slider("Predictions shown per blank (top-k)", 1, 25, key="mlm_k")
k = int(st.session_state["mlm_k"])

tabs = st.tabs(VIEWS, key="mlm_view", on_change="rerun")

with tabs[0]:
    if tabs[0].open is not False:
        masked_view.fill_in_the_blanks(lm, enc, blanks, k=k, large=large)

with tabs[1]:
    if tabs[1].open:
        masked_view.mask_like_bert(lm, enc, k=k, large=large)

with tabs[2]:
    if tabs[2].open:
        masked_view.surprise_per_token(lm, enc, large=large)

ui.share_link(ui.publish_state("masked_lm", SHARED))
