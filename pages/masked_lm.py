"""Masked LM (cloze): hide tokens of your own text and see what a masked LM predicts."""

import time

import streamlit as st

from explorer import examples, mlm, ui
from explorer import words as whole_words
from explorer.charts import mlm as mlm_charts
from explorer.charts import unique_labels
from explorer.charts.compare import word_bars
from explorer.ui import chart
from explorer.wording import count

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
ui.page_state("masked_lm", SHARED, LIMITS, local=DEFAULTS)
large = ui.presenter()


def _on_mask_click() -> None:
    enc = st.session_state.get("_mlm_enc")
    if enc is not None and st.session_state.get("mlm_whole_word"):
        st.session_state["mlm_masked"] = mlm.update_word_selection(
            enc, st.session_state.get("_mlm_shown", []), st.session_state.get("mlm_masked") or []
        )


def _new_draw() -> None:
    st.session_state["mlm_seed"] = (int(st.session_state.get("mlm_seed") or 0) + 1) % 10_000


def _prediction_charts(predictions: list, key: str) -> None:
    """A bar chart per blank, two a row, for the first few blanks; the table lists them all."""
    shown = predictions[: mlm_charts.MAX_BLANK_CHARTS]
    # one element for all of them, keyed by place ("the blanks' charts"): a changed blank redraws its chart in
    # place, and every chart is drawn as soon as the predictions arrive, not one by one with the page between
    chart.plotly_charts([mlm_charts.prediction_chart(p, large=large) for p in shown], key=key, columns=2)
    if len(predictions) > len(shown):
        st.caption(
            f"Charts for the first {len(shown)} of the {len(predictions)} blanks; the table has "
            "every blank, and the CSV download every candidate."
        )


def _word_title(blank) -> str:
    answer = blank.words.answer
    return f"Blank: {answer.word}" if answer is not None else "Your blank"


def _csv_download(make_frame, label: str, file_name: str, key: str) -> None:
    """A CSV download made only when it is clicked (not on every rerun)."""
    st.download_button(
        label,
        lambda: make_frame().to_csv(index=False).encode("utf-8"),
        file_name=file_name,
        mime="text/csv",
        key=key,
        on_click="ignore",
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
mask_label = tok.mask_token
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
        masked = st.session_state["mlm_masked"]

        def model_input() -> None:
            st.caption("What the model sees (hover a token for its position):")
            st.html(
                mlm_charts.fill_strip_html(enc.pieces, enc.special, masked, blanks, mask_label, large=large)
                + mlm_charts.legend_html(["masked", "blank"] if blanks else ["masked"])
            )

        if not masked and not blanks:
            model_input()
            st.info(
                f"Nothing is masked yet. Click one or more tokens above to hide them, or type {mask_label} "
                "in the text to leave a blank."
            )
        elif st.session_state["mlm_whole_word"] and not st.session_state["mlm_pieces"]:
            with ui.friendly_errors():  # whole words: each hidden word's candidates are words, not pieces
                found = whole_words.fill_words(lm, enc, masked, k=k)
                shown = found[: mlm_charts.MAX_BLANK_CHARTS]
                chart.plotly_charts(
                    [word_bars(b.words, large=large, title=_word_title(b)) for b in shown], key="mlm_chart", columns=2
                )
                model_input()
                recovered = [b.words.recovered for b in found if b.words.answer is not None]
                c1, c2 = st.columns(2)
                c1.metric(
                    "Hidden words",
                    len(found),
                    help="Masked words and typed blanks, each guessed as a whole word with the others still hidden.",
                )
                c2.metric(
                    "Recovered (top word)",
                    f"{sum(recovered)} of {len(recovered)}" if recovered else "—",
                    help="Words whose top candidate is the hidden word itself.",
                )
                st.table(mlm_charts.word_table(found, enc), hide_index=True)
                st.caption(
                    "Whole words: the model tries 1, 2 and 3 pieces for each blank and scores a word by its "
                    "pieces' probabilities, each read from both sides with the later pieces still hidden, "
                    "times the probability that the word ends there. Turn on *Show sub-word pieces* for the "
                    "pieces' own guesses."
                )
        else:
            with ui.friendly_errors():
                result = mlm.fill_mask(lm, enc, masked, k=k)
                _prediction_charts(result.predictions, "mlm_chart")  # the result first: on the first screen
                model_input()
                c1, c2 = st.columns(2)
                c1.metric(
                    "Blanks",
                    len(result.predictions),
                    help="Masked tokens and typed blanks: all predicted in one pass of the model.",
                )
                loss = result.mean_loss
                c2.metric(
                    "Mean loss at the blanks",
                    f"{loss:.2f} nats" if loss is not None else "—",
                    help="Cross-entropy -ln p(answer), averaged over the blanks: what training minimises.",
                )
                # a plain table, lighter to draw than a data grid (the CSV download has every candidate)
                st.table(mlm_charts.prediction_table(result.summary_frame()), hide_index=True)
                st.caption(
                    "All blanks are predicted in one pass, each without seeing the others' answers: the "
                    "model guesses every blank independently."
                )
                _csv_download(
                    result.predictions_frame,
                    "Download predictions (CSV)",
                    "masked-lm-predictions.csv",
                    "mlm_download_predictions",
                )

with tabs[1]:
    if tabs[1].open:
        st.markdown(
            "BERT makes its training examples like this: choose **15 %** of the tokens at random; of those, "
            "**80 %** become the mask token, **10 %** a random token and **10 %** stay unchanged (so the model "
            "must also check tokens that look fine). The labels are the original tokens, and every other "
            "position gets the label **-100**, which the loss ignores."
        )
        c1, c2, c3 = st.columns([3, 1, 1])
        c1.slider("Masking rate (%)", 5, 50, step=5, key="mlm_rate")
        c2.number_input("Seed", 0, 9_999, step=1, key="mlm_seed", help="Same seed, same draw.")
        c3.button("New draw", on_click=_new_draw, key="mlm_new_draw", width="stretch")
        with ui.friendly_errors():
            draw = mlm.mask_tokens(
                enc,
                tok,
                st.session_state["mlm_rate"] / 100,
                int(st.session_state["mlm_seed"]),
                whole_word=bool(st.session_state["mlm_whole_word"]),
            )
            counts = draw.counts()
            st.markdown(
                f"**{len(draw.chosen)} of {count(len(draw.candidates), 'token')}** chosen "
                f"({len(draw.chosen) / len(draw.candidates):.0%}): {counts[mlm.MASKED]} → mask token, "
                f"{counts[mlm.RANDOM]} → random token, {counts[mlm.KEPT]} unchanged."
            )
            st.html(
                mlm_charts.recipe_strip_html(enc.pieces, draw.input_pieces, draw.actions, enc.special, large=large)
                + mlm_charts.legend_html(["masked", "random", "kept"])
            )
            st.subheader("The training pair")
            st.dataframe(
                mlm_charts.style_training_pair(mlm.training_pair_frame(draw, tok)), hide_index=True, width="stretch"
            )
            st.subheader("What the model predicts at the chosen positions")
            trained = mlm.predict_training_pair(lm, draw, k=k)
            st.metric(
                "Masked-LM loss on this example",
                f"{trained.mean_loss:.2f} nats",
                help="The mean of -ln p(label) over the chosen positions: the number training pushes down.",
            )
            st.dataframe(mlm_charts.prediction_table(trained.summary_frame()), hide_index=True, width="stretch")
            with st.expander("Prediction charts for each chosen position"):
                _prediction_charts(trained.predictions, "mlm_recipe_chart")

with tabs[2]:
    if tabs[2].open:
        st.markdown(
            "A masked LM gives no probability to a whole sentence, but it can score each token with that token "
            "hidden and all the others visible. The sum of these log-probabilities is the **pseudo-log-likelihood** "
            "(PLL); **pseudo-perplexity** = exp(mean surprisal), roughly how many tokens the model hesitates "
            "between at each place. Swap one word for an odd one and watch it turn red."
        )
        with ui.friendly_errors():
            cache = st.session_state.setdefault("_mlm_pll_cache", {})
            cache_key = (lm.info.model_id, tuple(enc.ids))
            if cache_key not in cache:  # drawn as it is computed; only a finished text is kept
                cache.clear()
                bar, live = st.progress(0.0, text="Masking each token in turn…"), st.empty()
                started, drawn = time.monotonic(), 0.0
                for pll, done, total in mlm.pseudo_log_likelihood_batches(lm, enc):
                    spent = time.monotonic() - started
                    bar.progress(
                        done / total,
                        text=f"Masked {done} of {count(total, 'token')} in turn · about "
                        f"{spent / done * (total - done):.0f} s left (change the text to stop)",
                    )
                    if done < total and time.monotonic() - drawn > 1.5:
                        live.plotly_chart(
                            mlm_charts.pseudo_likelihood_strip(
                                pll, large=large, title=f"The first {done} of {count(total, 'token')} scored…"
                            ),
                            width="stretch",
                        )
                        drawn = time.monotonic()
                cache[cache_key] = pll
                bar.empty()
                live.empty()
            pll = cache[cache_key]
            worst = max(range(len(pll.positions)), key=lambda i: pll.surprisals[i])
            c1, c2, c3 = st.columns(3)
            c1.metric("Pseudo-perplexity", f"{pll.pseudo_perplexity:,.1f}")
            c2.metric("Pseudo-log-likelihood", f"{pll.total:.1f} nats")
            c3.metric(
                "Most surprising token",
                pll.pieces[worst],
                f"{pll.surprisals[worst]:.1f} nats",
                delta_color="off",
                delta_arrow="off",
            )
            strip = mlm_charts.pseudo_likelihood_strip(
                pll, large=large, title="How surprised is the model by each actual token?"
            )
            st.plotly_chart(strip, width="stretch", key="mlm_surprisal_strip")
            if pll.skipped:
                st.caption(f"{len(pll.skipped)} typed blank(s) have no actual token and are not scored.")
            st.dataframe(
                pll.frame(),
                hide_index=True,
                width="stretch",
                column_config={
                    "probability": st.column_config.NumberColumn(format="percent"),
                    "guess probability": st.column_config.NumberColumn(format="percent"),
                    "surprisal (nats)": st.column_config.NumberColumn(format="%.2f"),
                },
            )
            _csv_download(pll.frame, "Download token scores (CSV)", "masked-lm-surprisal.csv", "mlm_download_pll")

ui.share_link(ui.publish_state("masked_lm", SHARED))
