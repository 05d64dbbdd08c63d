"""Causal LM: next-token prediction, decoding settings, step-by-step generation and teacher forcing."""

import streamlit as st

from explorer import clm, examples, ui
from explorer.charts import clm as charts
from explorer.tokens import MAX_CHARS, display_piece, encode, max_positions
from explorer.ui import chart
from explorer.wording import count

EXAMPLES = examples.load("causal_lm")  # the default texts and what they show (assets/examples/causal_lm.toml)
DEFAULTS = {
    "clm_prompt": EXAMPLES["prompt"]["text"],
    "clm_chat": False,
    "clm_temperature": 1.0,
    "clm_top_k": 0,
    "clm_top_p": 1.0,
    "clm_seed": 0,
    "clm_show": 10,
    "clm_n": 10,
    "clm_strategy": "greedy",
    "clm_tf_text": EXAMPLES["teacher_forcing"]["text"],
}
SHARED = {**DEFAULTS, **ui.model_defaults("clm")}  # what a link carries
LIMITS = {
    "clm_temperature": (0.0, 2.0),
    "clm_top_k": (0, 1000),
    "clm_top_p": (0.0, 1.0),
    "clm_seed": (0, 2**31 - 1),
    "clm_show": (3, 30),
    "clm_n": (1, clm.MAX_NEW_TOKENS),
    "clm_strategy": ["greedy", "sample"],
}
ACTION = "clm_pending_action"
STATE = "clm_generation"

ui.page_state("causal_lm", SHARED, LIMITS)


def queue(*action) -> None:
    st.session_state[ACTION] = action


def pick_candidate() -> None:
    token = st.session_state.get("clm_pick")
    if token is not None:
        queue("append", int(token))
    st.session_state["clm_pick"] = None


def score_text_so_far(text: str) -> None:
    st.session_state["clm_tf_text"] = text


def generation_for(lm, prompt) -> clm.Generation:
    """The continuation of this prompt kept across reruns; a new prompt or model starts afresh."""
    key = (lm.info.model_id, tuple(prompt.ids))
    held = st.session_state.get(STATE)
    if held is None or held[0] != key:
        held = (key, clm.Generation.start(lm, prompt))
        st.session_state[STATE] = held
    return held[1]


def run_action(lm, gen: clm.Generation, settings: clm.Settings, seed: int, progress_slot) -> None:
    action = st.session_state.pop(ACTION, None)
    if not action:
        return
    kind = action[0]
    if kind == "append":
        gen.append(lm, action[1], settings=settings)
    elif kind == "greedy":
        gen.greedy(lm)
    elif kind == "sample":
        gen.sample(lm, settings, seed)
    elif kind == "undo":
        gen.undo()
    elif kind == "reset":
        gen.reset()
    elif kind == "generate":
        n = int(st.session_state.get("clm_n", DEFAULTS["clm_n"]))
        strategy = st.session_state.get("clm_strategy") or "greedy"
        bar = progress_slot.progress(0.0, text=f"Generating {count(n, 'token')}…")
        gen.generate(
            lm,
            n,
            settings=None if strategy == "greedy" else settings,
            seed=seed,
            progress=lambda done, total, step: bar.progress(
                done / total, text=f"Token {done} of {total}: {step.piece} (p = {step.model_prob:.2f})"
            ),
        )
        bar.empty()


def trail_html(tok, prompt, gen: clm.Generation) -> str:
    pieces = list(prompt.encoded.pieces) + [s.piece for s in gen.steps]
    titles = ["prompt"] * len(prompt.ids) + [
        f"step {i + 1} ({s.how}): model p = {s.model_prob:.4f}, rank {s.rank}, p as chosen = {s.prob:.4f}"
        for i, s in enumerate(gen.steps)
    ]
    probs = [None] * len(prompt.ids) + [s.model_prob for s in gen.steps]
    special = list(prompt.encoded.special) + [False] * len(gen.steps)
    return charts.token_chips(pieces, special=special, titles=titles, probs=probs)


large = ui.presenter()
st.title("Causal LM: predict the next token")
ui.intro(
    "A causal language model learns from raw text with one self-supervised task: **read the tokens so far and "
    "predict the next one**. The label is simply the next token of the text, so any text is training data. "
    "Type a prompt, see the model's probabilities for what comes next, reshape them with the decoding "
    "settings, and build a continuation one token at a time."
)

ui.model_picker("clm")
lm = ui.get_model("clm")
if lm is None:
    st.stop()
tok = lm.tokenizer
limit = min(clm.PROMPT_LIMIT, max_positions(lm.model, tok))
can_chat = clm.has_chat_template(tok)

left, right = st.columns([3, 1])
text = ui.limited_text(
    "Prompt",
    key="clm_prompt",
    max_chars=MAX_CHARS,
    what="prompt",
    container=left,
    height=90,
    help=f"Up to {limit} tokens. Leave it empty to see how a text starts.",
)
chat = right.toggle(
    "Chat template",
    key="clm_chat",
    disabled=not can_chat,
    help="Instruct models were trained on conversations: wrap the prompt as a user message and let "
    "the model answer as the assistant."
    if can_chat
    else "This model has no chat template: it only reads raw text.",
)
right.caption(
    f"Model: **{lm.info.name}**, {lm.info.params_millions:.0f} M parameters, vocabulary {lm.info.vocab_size:,} tokens."
)

prompt = None
with ui.friendly_errors():
    prompt = clm.build_prompt(tok, text, chat=chat and can_chat, max_tokens=limit)
if prompt is None:
    st.stop()
ui.notes(prompt.notes)
with st.expander(
    f"The exact text the model sees: {count(len(prompt.ids), 'token')} "
    f"({'chat template' if prompt.chat else 'raw text'}, limit {limit})",
    expanded=prompt.chat,
):
    st.code(prompt.text.replace("\n", "↵\n"), language=None, wrap_lines=True)
    st.markdown(
        charts.token_chips(
            prompt.encoded.pieces, special=prompt.encoded.special, titles=[f"id {i}" for i in prompt.ids]
        ),
        unsafe_allow_html=True,
    )
    st.caption(
        "↵ marks a new line. Grey chips are special tokens; ␣ marks a space. "
        + (
            "The chat template adds the system and role markers; the model continues after 'assistant'."
            if prompt.chat
            else "Raw text: the model simply continues it."
        )
    )

# The settings' values come from the session (seeded by ui.page_state); their controls sit under the chart
# they reshape, so the first screen shows the distribution itself.
temperature = float(st.session_state["clm_temperature"])
top_k = int(st.session_state["clm_top_k"])
top_p = float(st.session_state["clm_top_p"])
seed = int(st.session_state["clm_seed"])
settings = clm.Settings(temperature, top_k, top_p)

gen = generation_for(lm, prompt)
st.subheader("Text so far")
trail_box = st.container()
progress_slot = st.empty()
with ui.friendly_errors():
    run_action(lm, gen, settings, seed, progress_slot)

with trail_box:
    st.markdown(trail_html(tok, prompt, gen), unsafe_allow_html=True)
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

st.subheader("What comes next?")
with ui.friendly_errors():
    show = int(st.session_state.get("clm_show", DEFAULTS["clm_show"]))
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
        on_change=pick_candidate,
        disabled=gen.finished or gen.full,
    )
    st.slider("Candidates shown", 3, 30, key="clm_show")

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

# the generation controls under the distribution they act on
b1, b2, b3, b4, b5, b6, b7 = st.columns([1, 1, 1, 1, 1.2, 1.6, 1.6], vertical_alignment="bottom")
b1.button(
    "Greedy",
    key="clm_greedy",
    on_click=queue,
    args=("greedy",),
    width="stretch",
    help="Append the most likely token.",
    disabled=gen.finished or gen.full,
)
b2.button(
    "Sample",
    key="clm_sample",
    on_click=queue,
    args=("sample",),
    width="stretch",
    help="Append a token drawn from the distribution after the decoding settings (seeded).",
    disabled=gen.finished or gen.full,
)
b3.button("Undo", key="clm_undo", on_click=queue, args=("undo",), width="stretch", disabled=not gen.steps)
b4.button("Reset", key="clm_reset", on_click=queue, args=("reset",), width="stretch", disabled=not gen.steps)
n_more = int(b5.number_input("N", 1, clm.MAX_NEW_TOKENS, step=1, key="clm_n"))
b6.segmented_control(
    "Generate by",
    ["greedy", "sample"],
    key="clm_strategy",
    required=True,
    help="Greedy: always the most likely token. Sample: seeded draws with the settings above.",
)
b7.button(
    f"Generate {n_more} more",
    key="clm_generate",
    on_click=queue,
    args=("generate",),
    type="primary",
    width="stretch",
    disabled=gen.finished or gen.full,
)

st.subheader("Decoding settings")
c1, c2, c3, c4 = st.columns(4)
c1.slider(
    "Temperature",
    0.0,
    2.0,
    step=0.05,
    key="clm_temperature",
    help="Divides the logits before the softmax: below 1 sharpens, above 1 flattens. "
    "0 is greedy: always the most likely token.",
)
c2.number_input("Top-k (0 = off)", 0, 1000, step=1, key="clm_top_k", help="Keep only the k most likely tokens.")
c3.slider(
    "Top-p (1 = off)",
    0.0,
    1.0,
    step=0.01,
    key="clm_top_p",
    help="Keep the smallest set of most likely tokens whose probability adds up to p. "
    "0 keeps only the most likely token.",
)
c4.number_input(
    "Seed",
    0,
    2**31 - 1,
    step=1,
    key="clm_seed",
    help="Sampling is seeded by this number and the position: the same seed gives the "
    "same draw. Change it to draw again.",
)
st.caption(
    f"In force: {settings.describe()}. Order as in model.generate: temperature, then top-k, then top-p, "
    "then the kept tokens are renormalised to sum to 1. The chart above shows the distribution after them."
)

st.divider()
st.subheader("Teacher forcing: how the model is trained")
st.markdown(
    "Training does not generate. It feeds the real text and, **in one forward pass**, scores every position's "
    "prediction of the actual next token: the causal mask lets position *i* see only tokens up to *i*, so a text "
    "of T tokens after the start token gives T training pairs at once (the first token is predicted from the "
    "start token alone, as at the beginning of a document). The loss is the mean surprisal −ln p(actual next "
    "token), in nats; perplexity is e^loss, the number of equally likely choices the model is as unsure as."
)
tf_left, tf_right = st.columns([4, 1], vertical_alignment="bottom")
tf_text = ui.limited_text("Text to score", key="clm_tf_text", max_chars=MAX_CHARS, container=tf_left, height=80)
tf_right.button(
    "Use the text so far",
    key="clm_tf_use",
    on_click=score_text_so_far,
    args=(gen.text(tok),),
    help="Score the prompt plus the generated tokens (as the model saw them).",
    width="stretch",
)
with ui.friendly_errors():
    tf_enc = clm.from_start(tok, encode(tok, tf_text, max_tokens=limit - 1, what="text"))
    ui.notes(tf_enc.notes)
    tf = clm.teacher_forcing(lm, tf_enc)
    t1, t2, t3, t4 = st.columns(4)
    t1.metric("Training pairs", tf.n_pairs)
    t2.metric("Loss (nats/token)", f"{tf.loss:.3f}", help="Mean of −ln p(actual next token): cross-entropy.")
    t3.metric("Perplexity", f"{tf.perplexity:,.1f}", help="exp(loss).")
    t4.metric("Top-1 accuracy", f"{tf.accuracy:.0%}", help="Positions where the model's first guess was right.")
    pairs = tf.pairs()
    titles = ["where the text starts: nothing to predict it from; the first token is predicted from it alone"] + [
        f"{ctx} → {target}: p = {p:.4f}, {n:.2f} nats, rank {r}"
        for (ctx, target), p, n, r in zip(pairs, tf.target_probs, tf.surprisal, tf.ranks)
    ]
    st.markdown(
        charts.token_chips(
            tf.pieces,
            titles=titles,
            special=[True] + [False] * tf.n_pairs,
            probs=[None] + [float(p) for p in tf.target_probs],
        ),
        unsafe_allow_html=True,
    )
    st.markdown(charts.colour_legend(), unsafe_allow_html=True)
    st.caption(
        "Each token coloured by the probability the model gave it from the tokens before it "
        "(green: expected, red: surprising); the grey chip is the start token the text is read from. "
        "Hover a token for details. Below, each bar is one pair's surprisal −ln p in nats, the unit of "
        "the loss: the loss is their mean (dashed line)."
    )
    st.plotly_chart(
        charts.surprisal_bars(
            [t for _, t in pairs],
            list(tf.surprisal),
            list(tf.target_probs),
            [c for c, _ in pairs],
            loss=tf.loss,
            large=large,
        ),
        width="stretch",
        key="clm_surprisal",
    )
    st.markdown("**The (context → target) training pairs**")
    st.dataframe(
        tf.frame(tok),
        hide_index=True,
        width="stretch",
        column_config={
            "p(target)": st.column_config.NumberColumn(format="%.4f"),
            "surprisal (nats)": st.column_config.NumberColumn(format="%.2f"),
            "p(guess)": st.column_config.NumberColumn(format="%.4f"),
        },
    )

ui.share_link(ui.publish_state("causal_lm", SHARED))
