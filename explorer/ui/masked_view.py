"""The Masked LM page's three views of a text: Fill in the blanks (what the model predicts at the masked tokens
and typed blanks, as pieces or whole words), Mask like BERT (BERT's 80/10/10 recipe drawn on the text, the
training pair and the predictions at the chosen positions) and Surprise per token (the pseudo-log-likelihood,
each token scored with itself hidden)."""

from __future__ import annotations

import time

import streamlit as st

from explorer import mlm, ui
from explorer import words as whole_words
from explorer.charts import mlm as mlm_charts
from explorer.charts.compare import word_bars
from explorer.models import LoadedModel
from explorer.ui import attribution_view, chart
from explorer.wording import count


def _new_draw() -> None:
    st.session_state["mlm_seed"] = (int(st.session_state.get("mlm_seed") or 0) + 1) % 10_000


def _prediction_charts(predictions: list, key: str, *, large: bool) -> None:
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


def _which_blank(labels: list[str]) -> int:
    """The blank the Why? view explains (a choice only when there are several)."""
    if len(labels) == 1:
        return 0
    if st.session_state.get("mlm_why_blank") not in range(len(labels)):  # fewer blanks now
        st.session_state.pop("mlm_why_blank", None)
    return st.selectbox("Blank to explain", range(len(labels)), format_func=lambda i: labels[i], key="mlm_why_blank")


def _why_piece(lm: LoadedModel, result, *, large: bool) -> None:
    """Why? for one blank's piece predictions: the other blanks stay masked, as the model saw them."""
    preds = result.predictions[: mlm_charts.MAX_BLANK_CHARTS]
    pred = preds[_which_blank([f"position {p.position}: {p.original_piece or 'your blank'}" for p in preds])]
    cands = list(zip(pred.top_pieces, ([i] for i in pred.top_ids)))
    if pred.original_id is not None and pred.original_id not in pred.top_ids:
        cands.append((f"{pred.original_piece} (the answer)", [pred.original_id]))
    attribution_view.why(lm, result.input_ids, pred.position, pred.position + 1, cands, key="mlm_why", large=large)


def _why_word(lm: LoadedModel, enc, masked, found, *, large: bool) -> None:
    """Why? for one hidden word's word candidates: the other hidden words stay masked."""
    shown = found[: mlm_charts.MAX_BLANK_CHARTS]
    blank = shown[_which_blank([_word_title(b) for b in shown])]
    hidden = sorted(set(mlm.expand_to_words(enc, masked)) | set(mlm.typed_masks(enc, lm.tokenizer)))
    ids = mlm.masked_input(enc, hidden, lm.tokenizer)
    cands = [(c.word, c.ids) for c in blank.words.with_answer(answer_first=False)]  # the top guess first
    start, end = blank.positions[0], blank.positions[-1] + 1
    attribution_view.why(lm, ids, start, end, cands, key="mlm_why", large=large)


def fill_in_the_blanks(lm: LoadedModel, enc, blanks, *, k: int, large: bool) -> None:
    """The masked tokens' (or whole words') top-k predictions: charts first, then what the model sees, the
    figures and the table."""
    mask_label = lm.tokenizer.mask_token
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
            _why_word(lm, enc, masked, found, large=large)
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
            _prediction_charts(result.predictions, "mlm_chart", large=large)  # the result first: on the first screen
            _why_piece(lm, result, large=large)
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


def mask_like_bert(lm: LoadedModel, enc, *, k: int, large: bool) -> None:
    """BERT's masking recipe drawn on the text (rate and seed), the training pair it makes, and what the model
    predicts at the chosen positions."""
    tok = lm.tokenizer
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
            _prediction_charts(trained.predictions, "mlm_recipe_chart", large=large)


def surprise_per_token(lm: LoadedModel, enc, *, large: bool) -> None:
    """Each token scored with itself hidden (drawn while it is computed, kept for the finished text): the
    pseudo-perplexity, the strip of surprisals and the table."""
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
