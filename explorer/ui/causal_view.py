"""The Causal LM page's panels: the text so far as coloured token chips, the next-token distribution under the
decoding settings (chart, figures, the candidates to click, tables), and teacher forcing (one forward pass that
scores every position of a text, as training does)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from explorer import clm, ui
from explorer.charts import clm as charts
from explorer.models import LoadedModel
from explorer.tokens import MAX_CHARS, display_piece, encode
from explorer.ui import attribution_view, chart
from explorer.wording import count


def _trail_html(tok, prompt, gen: clm.Generation) -> str:
    pieces = list(prompt.encoded.pieces) + [s.piece for s in gen.steps]
    titles = ["prompt"] * len(prompt.ids) + [
        f"step {i + 1} ({s.how}): model p = {s.model_prob:.4f}, rank {s.rank}, p as chosen = {s.prob:.4f}"
        for i, s in enumerate(gen.steps)
    ]
    probs = [None] * len(prompt.ids) + [s.model_prob for s in gen.steps]
    special = list(prompt.encoded.special) + [False] * len(gen.steps)
    return charts.token_chips(pieces, special=special, titles=titles, probs=probs)


def text_so_far(tok, prompt, gen: clm.Generation) -> None:
    """The prompt and the tokens generated so far as chips coloured by the model's probability for them, the
    continuation as text, and why it stopped."""
    st.markdown(_trail_html(tok, prompt, gen), unsafe_allow_html=True)
    if gen.steps:
        st.markdown(charts.colour_legend(), unsafe_allow_html=True)
        st.caption(
            f"{count(len(gen.steps), 'generated token')}, coloured by the model's probability for them "
            "(hover for details). Continuation: "
        )
        st.code(gen.text(tok, new_only=True), language=None, wrap_lines=True)
    else:
        st.caption(
            "Nothing generated yet: click a candidate under the chart below, or use Greedy, Sample or "
            "Generate under it."
        )
    if gen.finished:
        st.info("The model chose its end-of-text token: the text is finished. Undo to continue.")
    elif gen.full:
        st.info(f"The continuation reached its limit of {gen.max_new_tokens} new tokens.")


def next_token(
    lm: LoadedModel,
    gen: clm.Generation,
    settings: clm.Settings,
    *,
    show: int,
    large: bool,
    on_pick: Callable[[], None],
) -> None:
    """The distribution of the next token, after the decoding settings: the chart, its figures, the tokens the
    settings cut, the candidates to click (`on_pick` appends the clicked one) and, out of presenter mode, tables."""
    tok = lm.tokenizer
    dist = gen.distribution(lm, top_n=show)
    shaped = clm.apply_sampling(dist.logits, settings.temperature, settings.top_k, settings.top_p)
    frame = shaped.frame(tok, show)
    chart.plotly_chart(
        charts.decoding_bars(
            list(frame["token"]),
            list(frame["model"]),
            list(frame["renormalised"]),
            list(frame["kept"]),
            token_ids=list(frame["id"]),
            large=large,
        ),
        key="clm_bars",
    )  # every step: the same chart, redrawn
    m1, m2, m3, m4 = st.columns(4)
    # what a draw comes from: the distribution after the settings (the model's own figures under them)
    m1.metric(
        "Most likely",
        display_piece(tok, shaped.best),
        f"{shaped.best_prob:.1%} · model {dist.top[0].prob:.1%}",
        delta_color="off",
        delta_arrow="off",
        help=f"The most likely token after the decoding settings ({settings.describe()}), with its probability "
        f"there and in the model's own distribution (where its first choice is {dist.top[0].piece}, "
        f"{dist.top[0].prob:.1%}).",
    )
    m2.metric(
        "Entropy",
        f"{shaped.entropy:.2f} bits",
        f"model {dist.entropy:.2f} bits",
        delta_color="off",
        delta_arrow="off",
        help=f"Uncertainty of the distribution a draw comes from, after the decoding settings: as uncertain as "
        f"a fair choice among {shaped.effective_choices:,.1f} tokens (the model's own distribution: "
        f"{dist.effective_choices:,.1f}). 0 bits = certain.",
    )
    m3.metric(f"Outside the top {show}", f"{dist.other:.1%}", help="Probability of all other tokens together.")
    m4.metric(
        "Tokens kept",
        f"{shaped.n_kept:,}",
        f"{shaped.kept_mass:.1%} of the mass",
        delta_color="off",
        delta_arrow="off",
        help="How many tokens survive the decoding settings, and how much of the (temperature-scaled) "
        "probability they held before renormalising.",
    )
    st.caption(
        f"Most likely and Entropy describe the distribution a draw comes from, after the decoding settings "
        f"({settings.describe()}); the model's own figures are under them."
    )
    for note in shaped.notes:
        st.caption(note)
    cut = shaped.cut(show)
    if cut:
        st.caption("Cut by the settings (a click below still appends them):")
        st.markdown(
            charts.token_chips([display_piece(tok, i) for i in cut], titles=[f"id {i}" for i in cut]),
            unsafe_allow_html=True,
        )
    options = [c.token_id for c in dist.top]
    labels = {c.token_id: f"{c.piece}  {c.prob:.1%}" for c in dist.top}
    st.pills(
        "Click a candidate to append it",
        options,
        format_func=lambda i: labels.get(i, str(i)),
        key="clm_pick",
        on_change=on_pick,
        disabled=gen.finished or gen.full,
    )
    st.slider("Candidates shown", 3, 30, key="clm_show")
    ids = gen.ids
    cands = [(c.piece, [c.token_id]) for c in dist.top]
    attribution_view.why(lm, ids, len(ids), len(ids), cands, key="clm_why", large=large, blank_label="next ?")

    if not large:
        with st.expander("Table: the distribution before and after the decoding settings"):
            st.dataframe(
                frame,
                hide_index=True,
                width="stretch",
                column_config={
                    c: st.column_config.NumberColumn(format="%.4f")
                    for c in ("model", "after temperature", "renormalised")
                },
            )
        if gen.steps:
            with st.expander("Table: the chosen tokens"):
                st.dataframe(gen.frame(), hide_index=True, width="stretch")


def _score_text_so_far(text: str) -> None:
    st.session_state["clm_tf_text"] = text


def teacher_forcing(lm: LoadedModel, gen: clm.Generation, *, limit: int, large: bool) -> None:
    """The teacher-forcing section: a text scored in one forward pass, every position's prediction of the actual
    next token (its loss, perplexity and accuracy, the tokens coloured, each pair's surprisal, the pairs' table)."""
    tok = lm.tokenizer
    st.divider()
    st.subheader("Teacher forcing: how the model is trained")
    st.markdown(
        "Training does not generate. It feeds the real text and, **in one forward pass**, scores every position's "
        "prediction of the actual next token: the causal mask lets position *i* see only tokens up to *i*, so a "
        "text of T tokens after the start token gives T training pairs at once (the first token is predicted from "
        "the start token alone, as at the beginning of a document). The loss is the mean surprisal −ln p(actual "
        "next token), in nats; perplexity is e^loss, the number of equally likely choices the model is as unsure as."
    )
    tf_left, tf_right = st.columns([4, 1], vertical_alignment="bottom")
    tf_text = ui.limited_text("Text to score", key="clm_tf_text", max_chars=MAX_CHARS, container=tf_left, height=80)
    tf_right.button(
        "Use the text so far",
        key="clm_tf_use",
        on_click=_score_text_so_far,
        args=(gen.text(tok),),
        help="Score the prompt plus the generated tokens (as the model saw them).",
        width="stretch",
    )
    with ui.friendly_errors():
        tf_enc = clm.from_start(tok, encode(tok, tf_text, max_tokens=limit - 1, what="text"))
        ui.notes(tf_enc.notes)
        tf, chips, fig, frame = _strip(lm, tf_enc, large)
        t1, t2, t3, t4 = st.columns(4)
        t1.metric("Training pairs", tf.n_pairs)
        t2.metric("Loss (nats/token)", f"{tf.loss:.3f}", help="Mean of −ln p(actual next token): cross-entropy.")
        t3.metric("Perplexity", f"{tf.perplexity:,.1f}", help="exp(loss).")
        t4.metric("Top-1 accuracy", f"{tf.accuracy:.0%}", help="Positions where the model's first guess was right.")
        st.markdown(chips, unsafe_allow_html=True)
        st.markdown(charts.colour_legend(), unsafe_allow_html=True)
        st.caption(
            "Each token coloured by the probability the model gave it from the tokens before it "
            "(green: expected, red: surprising); the grey chip is the start token the text is read from. "
            "Hover a token for details. Below, each bar is one pair's surprisal −ln p in nats, the unit of "
            "the loss: the loss is their mean (dashed line)."
        )
        chart.plotly_chart(fig, key="clm_surprisal")
        _why_token(lm, tf, large=large)
        st.markdown("**The (context → target) training pairs**")
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={
                "p(target)": st.column_config.NumberColumn(format="%.4f"),
                "surprisal (nats)": st.column_config.NumberColumn(format="%.2f"),
                "p(guess)": st.column_config.NumberColumn(format="%.4f"),
            },
        )


def _why_token(lm: LoadedModel, tf, *, large: bool) -> None:
    """Why? for any token of the teacher-forced text: its credit to the tokens before it (by default the most
    surprising one), the actual token against the model's own guess there."""
    if tf.n_pairs < 1:
        return
    if not st.toggle("Why? Which tokens made it predict a token of this text", key="clm_tf_why_on"):
        return
    worst = int(np.argmax(tf.surprisal))
    pairs = {i: f"{i + 1}. {tf.pieces[i + 1]}" for i in range(tf.n_pairs)}
    if st.session_state.get("clm_tf_why_token") not in pairs:  # first time, or a shorter text now
        st.session_state["clm_tf_why_token"] = worst
    i = st.selectbox("Token to explain", list(pairs), format_func=pairs.get, key="clm_tf_why_token")
    actual, guess = int(tf.ids[i + 1]), int(tf.guess_ids[i])
    cands = [(f"{tf.pieces[i + 1]} (the text's)", [actual])]
    if guess != actual:
        cands.append((f"{display_piece(lm.tokenizer, guess)} (the model's guess)", [guess]))
    attribution_view.why(lm, tf.ids, i + 1, i + 2, cands, key="clm_tf_why", large=large, toggle=None)


def _strip(lm: LoadedModel, enc, large: bool) -> tuple:
    """The strip's text scored (`clm.teacher_forcing`) and drawn (its chips, bars and pairs' table), kept
    for this tab while the text, the model and the presenter size stay: a step of the continuation above
    reruns the page, not the strip's pass and drawing."""
    key = (id(lm.model), tuple(enc.ids), large)
    kept = st.session_state.get("_clm_tf_strip")
    if kept is None or kept[0] != key:
        tf = clm.teacher_forcing(lm, enc)
        pairs = tf.pairs()
        titles = ["where the text starts: nothing to predict it from; the first token is predicted from it alone"] + [
            f"{ctx} → {target}: p = {p:.4f}, {n:.2f} nats, rank {r}"
            for (ctx, target), p, n, r in zip(pairs, tf.target_probs, tf.surprisal, tf.ranks)
        ]
        chips = charts.token_chips(
            tf.pieces,
            titles=titles,
            special=[True] + [False] * tf.n_pairs,
            probs=[None] + [float(p) for p in tf.target_probs],
        )
        fig = charts.surprisal_bars(
            [t for _, t in pairs],
            list(tf.surprisal),
            list(tf.target_probs),
            [c for c, _ in pairs],
            loss=tf.loss,
            large=large,
        )
        kept = st.session_state["_clm_tf_strip"] = (key, (tf, chips, fig, tf.frame(lm.tokenizer)))
    return kept[1]
