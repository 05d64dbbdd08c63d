"""The Inside-the-model page's views: the attention heatmap of one layer and head, all heads of the chosen layers
with the heads' patterns, bertviz's interactive head and model views, and layer by layer (the logit lens: what
the model would predict after each layer)."""

from __future__ import annotations

import streamlit as st

from explorer import ui
from explorer.charts import attention as charts
from explorer.inside import attention, bertviz, lens, summaries
from explorer.models import LoadedModel

HEAD_OPTIONS = ["mean", "max"]


def _reset_bertviz_layers() -> None:
    """Each bertviz view has its own default layers (the model view draws every layer at once)."""
    st.session_state["attn_bv_layers"] = None  # None: the view's default layers (see keep_valid)


def keep_valid(key: str, options: list, default, *, allow_empty: bool = False) -> None:
    """Reset a widget's value when it is not among the options (another model, another text)."""
    value = st.session_state.get(key)
    if isinstance(value, list):
        ok = (allow_empty or bool(value)) and all(v in options for v in value)
    else:
        ok = value in options
    if not ok:
        st.session_state[key] = default


# The grid of every head is the page's costliest figure (one heatmap per head): made once per text, layers and
# size, and shared by every participant on the same text (a figure is never changed once made).
@st.cache_resource(max_entries=16, show_spinner=False)
def _heads_grid(weights, layers: tuple, rows: tuple, cols: tuple, title: str, large: bool):
    return charts.heads_grid(weights, list(layers), list(rows), list(cols), title=title, large=large)


@st.cache_data(max_entries=8, show_spinner="Reading out every layer…")
def _lens(_lm, model_key: tuple, text: str, k: int, max_tokens: int) -> lens.LensResult:
    return lens.logit_lens(_lm, text, k=k, max_tokens=max_tokens)


def layer_by_layer(lm: LoadedModel, role: str, model_key: tuple, max_tokens: int, *, large: bool) -> None:
    """The logit lens: each layer's hidden state read out by the model's own head, as a heatmap of the top tokens,
    and a table of one position."""
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
        keep_valid("attn_lens_pos", positions, lens.default_position(result))
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


def heatmap(part: attention.AttentionPart, *, large: bool) -> None:
    """One layer's attention (one head, or the mean or max over heads) as a heatmap, special tokens optionally
    hidden."""
    a1, a2, a3 = st.columns([2, 1, 1])
    keep_valid("attn_layer", list(range(part.layers)), 0)
    if part.layers > 1:
        layer = a1.slider("Layer", 0, part.layers - 1, key="attn_layer")
    else:
        layer = 0
        a1.caption("This model has one layer.")
    head_opts = HEAD_OPTIONS + list(range(part.heads))
    keep_valid("attn_head", head_opts, "mean")
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


def all_heads(part: attention.AttentionPart, *, large: bool) -> None:
    """Every head of the chosen layers as a grid, then one pattern's score for every head of every layer."""
    st.markdown(
        "Every head of the chosen layers, to spot patterns: a diagonal line just below the main diagonal "
        "is a **previous-token head**; a full first column is a **sink** (the head parks its attention "
        "on the first token or on [CLS]/[SEP] when it has nothing to do)."
    )
    layer_opts = list(range(part.layers))
    keep_valid("attn_grid_layers", layer_opts, summaries.default_grid_layers(part))
    layers = st.multiselect(
        "Layers",
        layer_opts,
        key="attn_grid_layers",
        help=f"The grid draws at most {summaries.GRID_MAX_CELLS:,} cells at once.",
    )
    summaries.check_grid(part, layers)
    layers = sorted(layers)
    title = f"{part.title}: {len(layers)} layers x {part.heads} heads"
    grid = _heads_grid(
        part.weights[layers], tuple(layers), tuple(part.rows.pieces), tuple(part.cols.pieces), title, large
    )
    st.plotly_chart(grid, width="stretch", key="attn_grid_chart")
    st.subheader("Head patterns across all layers")
    metric = st.selectbox("Pattern", list(summaries.HEAD_METRICS), key="attn_metric")
    scores = summaries.head_scores(part, metric)
    st.plotly_chart(
        charts.head_pattern(scores, metric, explanation=summaries.HEAD_METRICS[metric][1], large=large),
        width="stretch",
        key="attn_pattern_chart",
    )
    st.dataframe(summaries.top_heads(scores, metric), hide_index=True)


def bertviz_view(att: attention.Attentions) -> None:
    """bertviz's head view or model view of the chosen layers and heads, drawn offline, with its download."""
    names = att.part_names
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
    keep_valid("attn_bv_layers", layer_opts, bertviz.default_bertviz_layers(att, bv_view))
    bv_layers = b2.multiselect(
        "Layers", layer_opts, key="attn_bv_layers", help="Fewer layers draw faster. Long texts need fewer layers."
    )
    keep_valid("attn_bv_heads", list(range(first.heads)), [], allow_empty=True)
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
