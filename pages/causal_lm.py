"""Causal LM: next-token prediction, decoding settings, step-by-step generation and teacher forcing."""

import streamlit as st

from explorer import clm, examples, ui
from explorer.charts import clm as charts
from explorer.tokens import MAX_CHARS, max_positions
from explorer.ui import attribution_view, causal_view
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

ui.page_state(
    "causal_lm",
    SHARED,
    LIMITS,
    local={**attribution_view.local_state("clm_why", "clm_tf_why"), "clm_tf_why_token": None},
)


def queue(*action) -> None:
    st.session_state[ACTION] = action


def pick_candidate() -> None:
    token = st.session_state.get("clm_pick")
    if token is not None:
        queue("append", int(token))
    st.session_state["clm_pick"] = None


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
    causal_view.text_so_far(tok, prompt, gen)

st.subheader("What comes next?")
with ui.friendly_errors():
    show = int(st.session_state.get("clm_show", DEFAULTS["clm_show"]))
    causal_view.next_token(lm, gen, settings, show=show, large=large, on_pick=pick_candidate)

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

causal_view.teacher_forcing(lm, gen, limit=limit, large=large)

ui.share_link(ui.publish_state("causal_lm", SHARED))
