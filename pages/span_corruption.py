"""Span corruption (T5): drop random spans, mark them with sentinels, predict them back."""

import pandas as pd
import streamlit as st

from explorer import examples, span, ui
from explorer.charts import span as span_charts
from explorer.comparisons import masks, objectives
from explorer.errors import ExplorerError
from explorer.span import fill as span_fill
from explorer.ui import chart, span_view

DEFAULTS = {
    "span_text": examples.load("span_corruption")["text"]["text"],  # and what it shows (assets/examples)
    "span_density": 0.15,
    "span_mean_length": 3.0,
    "span_seed": 0,
    "span_anywhere": False,
    "span_fill_tokens": 0,
    "span_fill_iterative": True,
}
FILL_CHOICES = [0, 1, 2, 3, 4, 5]

SHARED_KEYS = (
    "span_text",
    "span_density",
    "span_mean_length",
    "span_seed",
    "span_anywhere",
    "span_fill_tokens",
    "span_fill_iterative",
)
SHARED = {**{k: DEFAULTS[k] for k in SHARED_KEYS}, **ui.model_defaults("seq2seq", "mlm")}  # what a link carries
LIMITS = {
    "span_density": (0.05, 0.5),
    "span_mean_length": (1.0, 8.0),
    "span_seed": (0, 1_000_000),
    "span_fill_tokens": FILL_CHOICES,
}
ui.page_state("span", SHARED, LIMITS, local=DEFAULTS)

st.title("Span corruption (T5)")
ui.intro(
    "T5 learns from raw text by **dropping random spans** of tokens. Each dropped span becomes one "
    "*sentinel* token (`<extra_id_0>`, `<extra_id_1>`, …) in the input, and the model learns to write the "
    "missing spans, each after its sentinel. The input gets a little shorter; the target is short, so "
    "training is cheap, and the model must produce **several tokens** for each gap, not one."
)

ui.model_picker("seq2seq", label="Seq2seq model (fills the spans)")
ui.model_picker("mlm", label="Masked LM (offline stand-in)")

ui.limited_text("Sentence", key="span_text", max_chars=2000, what="sentence", height=90)
cols = st.columns(4)
cols[0].slider(
    "Noise density",
    0.05,
    0.5,
    step=0.05,
    key="span_density",
    help="Share of the tokens that are dropped (T5 uses 0.15).",
)
cols[1].slider(
    "Mean span length",
    1.0,
    8.0,
    step=0.5,
    key="span_mean_length",
    help="Average number of tokens per dropped span (T5 uses 3).",
)
cols[2].number_input(
    "Seed",
    min_value=0,
    max_value=1_000_000,
    step=1,
    key="span_seed",
    help="Same seed, same spans. Change it to draw other spans.",
)
cols[3].toggle(
    "Spans anywhere",
    key="span_anywhere",
    help="T5's code always ends the text with a dropped span. Switch on to allow any position "
    "(same counts; not T5's exact recipe).",
)

state = st.session_state
s2s = ui.get_model("seq2seq", quiet=True)
mlm_lm = ui.get_model("mlm", quiet=True)
bert_tokenizer = mlm_lm or ui.get_model("encoder", quiet=True) or s2s
bert_tokenizer = bert_tokenizer.tokenizer if bert_tokenizer else None

corruption = None
with ui.friendly_errors():
    if bert_tokenizer is None:
        raise ExplorerError(
            "No tokenizer is available: neither a masked LM nor the sentence encoder loaded.",
            "Run `make run`, which installs the offline models.",
        )
    tokenizer = s2s.tokenizer if s2s else bert_tokenizer
    corruption = span.corrupt_spans(
        tokenizer,
        state["span_text"],
        noise_density=state["span_density"],
        mean_noise_span_length=state["span_mean_length"],
        seed=int(state["span_seed"]),
        anywhere=state["span_anywhere"],
    )

if corruption is not None:
    ui.notes(corruption.notes)
    st.header("1. Corrupt")
    summary = span.corruption_summary(corruption)
    st.markdown(
        span_charts.corruption_strips(
            corruption.pieces, corruption.mask, corruption.input_pieces, corruption.target_pieces, span.sentinel_number
        ),
        unsafe_allow_html=True,
    )
    st.caption(
        "Each dropped span and its sentinel share a colour; the last sentinel of the target closes it. "
        f"Tokens from {'the seq2seq model' if s2s else 'the masked LM'}'s tokenizer. "
        "T5 also ends input and target with </s> (not shown)."
    )
    m = st.columns(5)  # the counts under the strips they count: the strips come first on the screen
    m[0].metric("Original tokens", summary["original tokens"])
    m[1].metric(
        "Input tokens",
        summary["input tokens"],
        delta=summary["input tokens"] - summary["original tokens"],
        delta_color="off",
    )
    m[2].metric("Target tokens", summary["target tokens"])
    m[3].metric("Dropped spans", summary["spans"])
    m[4].metric("Dropped tokens", f"{summary['dropped tokens']} ({summary['noise density']:.0%})")
    c1, c2 = st.columns(2)
    c1.markdown("**Input text**")
    c1.code(corruption.input_text, language=None, wrap_lines=True)
    c2.markdown("**Target text**")
    c2.code(corruption.target_text, language=None, wrap_lines=True)
    if not state["span_anywhere"]:
        st.caption(
            "In T5's recipe the spans alternate kept / dropped, starting with kept text, so the last "
            "tokens are always dropped. T5 cuts 512-token chunks, where this hardly matters; on one "
            "sentence it shows. Switch on *Spans anywhere* to lift it."
        )

    st.header("2. Fill the spans")
    fill = None
    with ui.friendly_errors():
        if s2s is not None:
            kind = "a prefix LM: the input read both ways" if masks.reads_a_prefix(s2s) else "a seq2seq model"
            st.success(f"{s2s.info.name} ({kind}) writes the target, never told a span's length; its spans go back.")
            with st.spinner("Generating the target…"):
                fill = span_fill.fill_with_seq2seq(s2s, corruption)
        else:
            st.info(
                f"No seq2seq model is loaded (the picker's choice, {ui.selected_model_id('seq2seq') or 'none'}, "
                f"needs a connection or a local cache). Below, the masked LM stands in: an **approximation**. "
                f"{span.PROPER_MODELS} would fill the spans properly."
            )
            if mlm_lm is None:
                raise ExplorerError(
                    "The offline masked LM is not available either, so the spans cannot be filled here.",
                    "Pick a masked LM (e.g. bert-base-uncased) in the sidebar.",
                )
            f1, f2 = st.columns(2)
            f1.selectbox(
                "[MASK] tokens per span",
                FILL_CHOICES,
                key="span_fill_tokens",
                format_func=lambda k: "as many as were dropped" if k == 0 else str(k),
                help="A masked LM must be told how many tokens each gap holds; T5 is not. "
                "'As many as were dropped' gives it that hint.",
            )
            f2.toggle(
                "One [MASK] at a time",
                key="span_fill_iterative",
                help="Fill the most confident [MASK] first, then predict again; off: all in one pass.",
            )
            k = int(state["span_fill_tokens"])
            with st.spinner("Filling the gaps…"):
                fill = span_fill.fill_with_mlm(
                    mlm_lm, corruption, tokens_per_span=k or None, iterative=state["span_fill_iterative"]
                )
    if fill is not None:
        label = "Approximation (masked LM)" if fill.approximate else f"Filled by {fill.model_name}"
        st.markdown(f"**{label}:**")
        st.markdown(
            span_charts.filled_text_html(
                corruption.input_text,
                {f.number: f.predicted for f in fill.spans},
                {sp.number: sp.text for sp in corruption.spans},
                span.SENTINEL_RE,
            ),
            unsafe_allow_html=True,
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "sentinel": span.sentinel(f.number),
                        "dropped": f.original,
                        "predicted": f.predicted,
                        "same": "yes" if f.exact else "no",
                        "tokens": " ".join(f.tokens),
                        "confidence": ", ".join(f"{p:.0%}" for p in f.probs) if f.probs else "",
                    }
                    for f in fill.spans
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.markdown("**Predicted target:**")
        st.code(fill.target_text, language=None, wrap_lines=True)
        st.caption(fill.note)

    st.header("3. Three objectives, one sentence")
    with ui.friendly_errors():
        if bert_tokenizer is None or getattr(bert_tokenizer, "mask_token", None) is None:
            raise ExplorerError(
                "The comparison needs a tokenizer with a [MASK] token.", "Pick a BERT-style masked LM in the sidebar."
            )
        compared = (
            corruption
            if tokenizer is bert_tokenizer
            else span.corrupt_spans(
                bert_tokenizer,
                corruption.text,
                noise_density=corruption.noise_density,
                mean_noise_span_length=corruption.mean_noise_span_length,
                seed=corruption.seed,
                anywhere=state["span_anywhere"],
            )
        )
        views = objectives.compare_objectives(compared, bert_tokenizer, seed=corruption.seed)
        chart.plotly_chart(
            span_charts.objectives_grid(
                [v.name for v in views],
                compared.pieces,
                [v.shown for v in views],
                [v.hidden for v in views],
                [v.predicted for v in views],
                large=ui.presenter(),
            ),
            key="span_objectives",
        )
        st.table(objectives.objectives_frame(views, len(compared.pieces)), hide_index=True, border="horizontal")
        st.caption(
            "Masked LM: BERT's recipe (15% of the tokens; 80% [MASK], 10% random, 10% unchanged) with the "
            "same seed. Next token: every position predicts the one after it, seeing only the left side. "
            "Span corruption: the loss is on the decoder's target tokens, sentinels included."
            + (
                ""
                if compared is corruption
                else " Tokens here are the masked LM's, so the spans are drawn again for them."
            )
        )
        span_view.three_masks(s2s, mlm_lm, corruption.input_text, corruption.target_text)

    statistics = st.expander("How T5 picks the spans (statistics over 500 seeds)", key="span_stats", on_change="rerun")
    with statistics:
        st.markdown(
            "With *n* tokens: `noise = round(n × density)` tokens are dropped, in `round(noise / mean length)` "
            "spans. The dropped tokens and the kept tokens are each cut at random into that many non-empty "
            "pieces, and the pieces alternate kept, dropped, kept, dropped… Only the cut points are random, so "
            "the density and the mean span length are met on every draw (up to rounding)."
        )
        if statistics.open:  # drawn when opened: 500 draws and a chart nobody asked for slow the page
            lengths, densities = span.span_statistics(
                len(corruption.pieces),
                state["span_density"],
                state["span_mean_length"],
                500,
                anywhere=state["span_anywhere"],
            )
            chart.plotly_chart(
                span_charts.span_length_histogram(
                    lengths,
                    densities,
                    mean_target=state["span_mean_length"],
                    density_target=state["span_density"],
                    large=ui.presenter(),
                ),
                key="span_statistics",
            )

ui.share_link(ui.publish_state("span", SHARED))
