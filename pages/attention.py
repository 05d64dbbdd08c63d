"""Inside the model: attention maps (heatmaps, all heads, bertviz offline) and layer-by-layer predictions."""

import streamlit as st

from explorer import ui
from explorer.inside import attention
from explorer.models.roles import ROLE_NAMES
from explorer.ui import attention_view

PRESETS = attention.EXAMPLES
ROLES = ["clm", "mlm", "encoder", "seq2seq"]
VIEWS = ["Heatmap", "All heads", "bertviz (interactive)", "Layer by layer"]
DEFAULTS = {
    "attn_role": "clm",
    "attn_preset": "Capital cities",
    "attn_text": PRESETS["Capital cities"],
    "attn_target": "",  # encoder-decoder only; blank: the model's own greedy output
    "attn_max_tokens": 64,
    "attn_view": VIEWS[0],
    "attn_part": None,  # None: the first part (self-attention, or the encoder's)
    "attn_layer": 0,
    "attn_head": "mean",  # "mean", "max" or a head number
    "attn_hide_special": False,
    "attn_renormalize": True,  # after hiding special tokens, rows are rescaled to sum to 1
    "attn_grid_layers": None,  # None: up to 8 evenly spaced layers, as many as the grid draws quickly
    "attn_metric": "previous token",
    "attn_bv_view": "head",
    "attn_bv_layers": None,  # None: all layers that fit (head view) or 4 evenly spaced layers (model view)
    "attn_bv_heads": [],  # empty: all heads
    "attn_lens_k": 5,
    "attn_lens_color": "top-1 probability",
    "attn_lens_pos": None,  # None: the first [MASK] (masked LM) or the last token (causal LM)
}
SHARED_KEYS = (
    "attn_role",
    "attn_text",
    "attn_view",
    "attn_max_tokens",
    "attn_layer",
    "attn_hide_special",
    "attn_lens_k",
)
SHARED = {
    **{k: DEFAULTS[k] for k in SHARED_KEYS},
    **ui.model_defaults("clm", "mlm", "encoder", "seq2seq"),
}  # what a link carries
LIMITS = {
    "attn_role": ROLES,
    "attn_view": VIEWS,
    "attn_max_tokens": (8, 256),
    "attn_layer": (0, 200),
    "attn_lens_k": (1, 10),
}
ui.page_state("attention", SHARED, LIMITS, local=DEFAULTS)
large = ui.presenter()


def _text_changed() -> None:
    """A new text starts the layer-by-layer table at its default position again."""
    st.session_state["attn_lens_pos"] = None  # None: the default position (see attention_view.keep_valid)


@st.cache_data(max_entries=8, show_spinner="Running the model…")
def _attentions(_lm, model_key: tuple, text: str, target: str, max_tokens: int) -> attention.Attentions:
    return attention.get_attentions(_lm, text, target=target, max_tokens=max_tokens)


st.title("Inside the model")
ui.intro(
    "Self-supervised training leaves its traces inside the network. **Attention** shows which earlier (or, for "
    "masked LMs and encoders, any) tokens each token reads from, in every layer and head. **Layer by layer** "
    "shows what the model would predict if it stopped after each layer: the answer forms gradually."
)

role = st.sidebar.radio("Model kind", ROLES, key="attn_role", format_func=lambda r: ROLE_NAMES[r])
ui.model_picker(role)
lm = ui.get_model(role)
if lm is None:
    st.info(
        "Pick another model kind or model in the sidebar. The causal LM and the sentence encoder always work "
        "offline; the masked LM does once the project's model is built."
    )
    st.stop()
info = lm.info
st.sidebar.caption(f"{info.name}: {info.layers} layers x {info.heads} heads, {info.params_millions:.0f} M parameters.")
model_key = (role, info.model_id)

left, right = st.columns([1, 3])
ui.example_box(PRESETS, key="attn_preset", text_key="attn_text", container=left, on_pick=_text_changed)
ui.limited_text(
    "Text",
    key="attn_text",
    max_chars=5000,
    container=right,
    height=80,
    on_change=_text_changed,
    help="Any text. For a masked LM, type [MASK] where the model should guess a word.",
)
target = ""
if getattr(lm.model.config, "is_encoder_decoder", False):  # a decoder of its own to read (T5), not a prefix LM
    target = ui.limited_text(
        "Decoder text",
        key="attn_target",
        max_chars=2000,
        area=False,
        what="decoder text",
        help="What the decoder reads. Leave blank to use the model's own output.",
    )
c1, c2 = st.columns([1, 3])
max_tokens = c1.slider(
    "Max tokens", 8, 256, key="attn_max_tokens", help="Longer text is cut. The bertviz views stop at 100 tokens."
)
view = c2.radio("View", VIEWS, key="attn_view", horizontal=True)

if view == "Layer by layer":
    attention_view.layer_by_layer(lm, role, model_key, max_tokens, large=large)
    st.stop()

with ui.friendly_errors():
    att = _attentions(lm, model_key, st.session_state["attn_text"], target, max_tokens)
    ui.notes(att.notes)
    if att.target_generated:
        st.caption(f"Decoder text (the model's own output): {att.target}")
    names = att.part_names
    if view in ("Heatmap", "All heads") and len(names) > 1:
        attention_view.keep_valid("attn_part", names, names[0])
        st.radio("Attention", names, key="attn_part", horizontal=True, format_func=lambda n: attention.PART_TITLES[n])
    part = att.parts[st.session_state.get("attn_part") if st.session_state.get("attn_part") in names else names[0]]

    if view == "Heatmap":
        attention_view.heatmap(part, large=large)
    elif view == "All heads":
        attention_view.all_heads(part, large=large)
    else:  # bertviz
        attention_view.bertviz_view(att)

ui.share_link(ui.publish_state("attention", SHARED))
