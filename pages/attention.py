"""Inside the model: attention maps (heatmaps, all heads, bertviz offline) and layer-by-layer predictions."""

import streamlit as st

from explorer import ui
from explorer.charts import attention as charts
from explorer.inside import attention, bertviz, lens, summaries
from explorer.models.roles import ROLE_NAMES

PRESETS = attention.EXAMPLES
ROLES = ["clm", "mlm", "encoder", "seq2seq"]
VIEWS = ["Heatmap", "All heads", "bertviz (interactive)", "Layer by layer"]
HEAD_OPTIONS = ["mean", "max"]
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
    st.session_state["attn_lens_pos"] = None  # None: the default position (see _keep_valid)


def _reset_bertviz_layers() -> None:
    """Each bertviz view has its own default layers (the model view draws every layer at once)."""
    st.session_state["attn_bv_layers"] = None  # None: the view's default layers (see _keep_valid)


def _keep_valid(key: str, options: list, default, *, allow_empty: bool = False) -> None:
    """Reset a widget's value when it is not among the options (another model, another text)."""
    value = st.session_state.get(key)
    if isinstance(value, list):
        ok = (allow_empty or bool(value)) and all(v in options for v in value)
    else:
        ok = value in options
    if not ok:
        st.session_state[key] = default


@st.cache_data(max_entries=8, show_spinner="Running the model…")
def _attentions(_lm, model_key: tuple, text: str, target: str, max_tokens: int) -> attention.Attentions:
    return attention.get_attentions(_lm, text, target=target, max_tokens=max_tokens)


@st.cache_data(max_entries=8, show_spinner="Reading out every layer…")
def _lens(_lm, model_key: tuple, text: str, k: int, max_tokens: int) -> lens.LensResult:
    return lens.logit_lens(_lm, text, k=k, max_tokens=max_tokens)


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
if role == "seq2seq":
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
    st.subheader("Layer-by-layer predictions (logit lens)")
    if lens.unsupported(role):
        st.info(lens.unsupported(role) + " Pick the causal LM or a masked LM in the sidebar.")
        st.stop()
    st.markdown(
        "Each row applies the model's own final head to one layer's hidden state"
        + (
            " (the final norm, then the LM head): each column shows the token predicted to come **next**."
            if role == "clm"
            else " (the whole masked-LM head, transform included): each column shows the token "
            "predicted **at** that position; type [MASK] to hide one."
        )
        + " The top row is the model's real prediction."
    )
    k1, k2 = st.columns(2)
    k = k1.slider("Top tokens per cell (hover and table)", 1, 10, key="attn_lens_k")
    color = k2.radio(
        "Colour", ["top-1 probability", "probability of the final prediction"], key="attn_lens_color", horizontal=True
    )
    with ui.friendly_errors():
        result = _lens(lm, model_key, st.session_state["attn_text"], k, max_tokens)
        ui.notes(result.notes)
        shade = result.top_probs[:, :, 0] if color == "top-1 probability" else result.final_prob
        st.plotly_chart(
            charts.lens_heatmap(
                result.top1(),
                shade,
                result.position_labels(),
                result.layer_names,
                hover_lists=result.hover(),
                color_title="p",
                large=large,
            ),
            width="stretch",
            key="attn_lens_chart",
        )
        positions = list(range(len(result.tokens)))
        _keep_valid("attn_lens_pos", positions, lens.default_position(result))
        pos = st.selectbox(
            "Position for the table",
            positions,
            key="attn_lens_pos",
            format_func=lambda p: f"{p}: {result.tokens.pieces[p]}",
        )
        st.dataframe(result.table(pos), hide_index=True, width="stretch")
        st.caption(
            "'final token p / rank': the probability and rank, at each layer, of the token the last layer "
            "ranks first."
            + (
                " The embeddings row is no prediction yet: it is what each position reads "
                "before any layer, shown as the tokens whose embeddings are nearest to it "
                "(cosine similarity; the head shares these embeddings), so it names the token "
                "itself."
                if result.embeddings_nearest
                else ""
            )
        )
    st.stop()

with ui.friendly_errors():
    att = _attentions(lm, model_key, st.session_state["attn_text"], target, max_tokens)
    ui.notes(att.notes)
    if att.target_generated:
        st.caption(f"Decoder text (the model's own output): {att.target}")
    names = att.part_names
    if view in ("Heatmap", "All heads") and len(names) > 1:
        _keep_valid("attn_part", names, names[0])
        st.radio("Attention", names, key="attn_part", horizontal=True, format_func=lambda n: attention.PART_TITLES[n])
    part = att.parts[st.session_state.get("attn_part") if st.session_state.get("attn_part") in names else names[0]]

    if view == "Heatmap":
        a1, a2, a3 = st.columns([2, 1, 1])
        _keep_valid("attn_layer", list(range(part.layers)), 0)
        if part.layers > 1:
            layer = a1.slider("Layer", 0, part.layers - 1, key="attn_layer")
        else:
            layer = 0
            a1.caption("This model has one layer.")
        head_opts = HEAD_OPTIONS + list(range(part.heads))
        _keep_valid("attn_head", head_opts, "mean")
        head = a2.selectbox(
            "Head",
            head_opts,
            key="attn_head",
            format_func=lambda h: {"mean": "mean over heads", "max": "max over heads"}.get(h, f"head {h}"),
        )
        hide = a3.toggle(
            "Hide special tokens",
            key="attn_hide_special",
            help="Drop [CLS], [SEP], <s>, the decoder start token and the like.",
        )
        renorm = a3.toggle(
            "Renormalise rows",
            key="attn_renormalize",
            disabled=not hide,
            help="On: each row is rescaled to sum to 1 over the tokens still shown. "
            "Off: the model's own weights (rows then sum to less than 1).",
        )
        matrix = summaries.aggregate(part.weights, layer, head)
        rows, cols = list(range(len(part.rows))), list(range(len(part.cols)))
        raw = None
        if hide:
            filtered = summaries.hide_special(matrix, part.rows.special, part.cols.special, renormalize=renorm)
            matrix, rows, cols = filtered.matrix, filtered.rows, filtered.cols
            raw = filtered.raw if renorm else None
            if float(filtered.hidden_share.max()) > 0:
                st.caption(
                    f"The hidden tokens took {filtered.hidden_share.mean():.0%} of the attention on average "
                    f"(up to {filtered.hidden_share.max():.0%} for one token)"
                    + (": the rows shown are rescaled to sum to 1." if renorm else ".")
                )
        label = {"mean": "mean over heads", "max": "max over heads"}.get(head, f"head {head}")
        fig = charts.attention_heatmap(
            matrix,
            [part.rows.pieces[i] for i in rows],
            [part.cols.pieces[j] for j in cols],
            row_pos=rows,
            col_pos=cols,
            raw=raw,
            zmax=1.0,
            title=f"{part.title}, layer {layer}, {label}",
            large=large,
        )
        st.plotly_chart(fig, width="stretch", key="attn_heatmap_chart")
        notes = ["Each row is one token reading from the tokens in the columns; hover for the exact weight."]
        if head == "max":
            notes.append("The maximum over heads shows the strongest head for each cell: rows do not sum to 1.")
        elif not hide or renorm:
            notes.append("Each row sums to 1.")
        if part.causal:
            notes.append("Above the diagonal everything is 0: a causal model cannot look at later tokens.")
        st.caption(" ".join(notes))

    elif view == "All heads":
        st.markdown(
            "Every head of the chosen layers, to spot patterns: a diagonal line just below the main diagonal "
            "is a **previous-token head**; a full first column is a **sink** (the head parks its attention "
            "on the first token or on [CLS]/[SEP] when it has nothing to do)."
        )
        layer_opts = list(range(part.layers))
        _keep_valid("attn_grid_layers", layer_opts, summaries.default_grid_layers(part))
        layers = st.multiselect(
            "Layers",
            layer_opts,
            key="attn_grid_layers",
            help=f"The grid draws at most {summaries.GRID_MAX_CELLS:,} cells at once.",
        )
        summaries.check_grid(part, layers)
        layers = sorted(layers)
        st.plotly_chart(
            charts.heads_grid(
                part.weights[layers],
                layers,
                part.rows.pieces,
                part.cols.pieces,
                title=f"{part.title}: {len(layers)} layers x {part.heads} heads",
                large=large,
            ),
            width="stretch",
            key="attn_grid_chart",
        )
        st.subheader("Head patterns across all layers")
        metric = st.selectbox("Pattern", list(summaries.HEAD_METRICS), key="attn_metric")
        scores = summaries.head_scores(part, metric)
        st.plotly_chart(
            charts.head_pattern(scores, metric, explanation=summaries.HEAD_METRICS[metric][1], large=large),
            width="stretch",
            key="attn_pattern_chart",
        )
        st.dataframe(summaries.top_heads(scores, metric), hide_index=True)

    else:  # bertviz
        st.markdown(
            "bertviz draws each token's attention as lines. **Head view**: pick a layer in its menu, click "
            "the coloured squares to choose heads, hover a token to see where it looks. **Model view**: every "
            "chosen layer and head as a thumbnail; click one to enlarge it. Drawn offline, with no internet."
        )
        b1, b2, b3 = st.columns([1, 2, 2])
        bv_view = b1.radio(
            "View",
            ["head", "model"],
            key="attn_bv_view",
            format_func=lambda v: f"{v} view",
            on_change=_reset_bertviz_layers,
        )
        first = att.parts[names[0]]
        layer_opts = list(range(first.layers))
        _keep_valid("attn_bv_layers", layer_opts, bertviz.default_bertviz_layers(att, bv_view))
        bv_layers = b2.multiselect(
            "Layers", layer_opts, key="attn_bv_layers", help="Fewer layers draw faster. Long texts need fewer layers."
        )
        _keep_valid("attn_bv_heads", list(range(first.heads)), [], allow_empty=True)
        bv_heads = b3.multiselect(
            "Heads (empty: all)",
            list(range(first.heads)),
            key="attn_bv_heads",
            help="Model view: the heads drawn. Head view: the heads selected at first.",
        )
        bertviz.check_bertviz(att, sorted(bv_layers), sorted(bv_heads) or None, bv_view)
        page = bertviz.bertviz_html(att, view=bv_view, layers=bv_layers, heads=bv_heads or None)
        st.iframe(page, height=bertviz.bertviz_height(att, bv_view, bv_layers, bv_heads or None))
        st.download_button(
            "Download this view (HTML, works offline)",
            page.encode("utf-8"),
            file_name=f"attention-{bv_view}-view.html",
            mime="text/html",
            key="attn_download",
            on_click="ignore",
        )

ui.share_link(ui.publish_state("attention", SHARED))
