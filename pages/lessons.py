"""Guided lessons: a short path through the ideas, each next to a live widget, with quizzes."""

import streamlit as st

from explorer import clm as causal
from explorer import contrastive, lessons, mlm, span, ui
from explorer.charts import probability_bars
from explorer.charts.compare import word_bars
from explorer.charts.contrastive import similarity_heatmap
from explorer.charts.mlm import prediction_chart
from explorer.charts.span import corruption_strips
from explorer.comparisons import masked_vs_causal as compare
from explorer.ui import classroom_view

DEFAULTS = {"lesson": 0}
LINE = {"max_chars": 600, "area": False}  # a lesson's one-line box

all_lessons, problems = lessons.load_lessons()
# the link's lesson number is checked against the lessons there are (lesson=99 warns, as lesson=-3 does)
ui.page_state("lessons", DEFAULTS, {"lesson": (0, max(len(all_lessons) - 1, 0))})
large = ui.presenter()
for p in problems:
    st.error(f"A lesson file could not be loaded: {p}", icon="📄")
if not all_lessons:
    st.error("No lessons found in assets/lessons/.")
    st.stop()

# kept for the browser, not the session: a reload or a second tab keeps the score and the locked answers
score: lessons.Score = ui.browser_value("quiz_score", lessons.Score)
if not 0 <= st.session_state["lesson"] < len(all_lessons):
    st.session_state["lesson"] = 0
st.sidebar.radio("Lesson", list(range(len(all_lessons))), key="lesson", format_func=lambda i: all_lessons[i].title)
lesson = all_lessons[st.session_state["lesson"]]


def _go(step: int) -> None:
    st.session_state["lesson"] = max(0, min(len(all_lessons) - 1, st.session_state["lesson"] + step))


# --------------------------------------------------------------------------- live widgets


def _models(*roles: str) -> list | None:
    """The shared models for `roles`; None (after the sidebar's message) when one is not available."""
    found = [ui.get_model(role) for role in roles]
    return None if any(m is None for m in found) else found


def _fill_mask_charts(lm, text: str, k: int, charts: int = 1):
    """Top-k guesses of the masked LM for the blanks of `text`, as bar charts (the first `charts`)."""
    fill = mlm.fill_mask(lm, mlm.encode_text(lm, text), k=k)
    for pred in fill.predictions[:charts]:
        st.plotly_chart(prediction_chart(pred, large=large), width="stretch")
    return fill.predictions


def _next_token_chart(lm, text: str, top_n: int, title: str | None = None, temperature: float = 1.0):
    """The causal LM's next-token distribution after `text` (divided by `temperature`), as a bar chart."""
    prompt = causal.build_prompt(lm.tokenizer, text)
    dist = causal.next_token_distribution(lm, prompt.encoded, top_n=top_n)
    probs = causal.apply_sampling(dist.logits, temperature=temperature).scaled if temperature != 1 else dist.probs
    st.plotly_chart(
        probability_bars(
            [c.piece for c in dist.top],
            [probs[c.token_id] for c in dist.top],
            large=large,
            title=title.format(prompt=prompt.text[-40:]) if title else None,
        ),
        width="stretch",
    )
    return dist, probs


def widget_fill_mask(example: str) -> None:
    if (found := _models("mlm")) is None:
        return
    text = ui.limited_text("Sentence with a [MASK]", key=f"lw_{lesson.slug}", value=example, **LINE)
    with ui.friendly_errors():
        _fill_mask_charts(found[0], text, k=8, charts=2)


def widget_next_token(example: str) -> None:
    if (found := _models("clm")) is None:
        return
    text = ui.limited_text("Prompt", key=f"lw_{lesson.slug}", value=example, **LINE)
    temperature = st.slider(
        "Temperature",
        0.1,
        2.0,
        1.0,
        0.1,
        key=f"lw_{lesson.slug}_temperature",
        help="The logits are divided by the temperature before the softmax: below 1 sharpens "
        "the distribution, above 1 flattens it and gives unlikely tokens a chance.",
    )
    with ui.friendly_errors():
        dist, probs = _next_token_chart(
            found[0], text, top_n=10, title="Next token after “{prompt}”", temperature=temperature
        )
        entropy = causal.entropy_bits(probs)
        st.caption(
            f"At temperature {temperature:g} the top 10 hold {sum(probs[c.token_id] for c in dist.top):.0%} "
            f"of the probability. Entropy {entropy:.2f} bits: as unsure as a fair choice between "
            f"{2**entropy:.1f} tokens."
        )


def widget_compare(example: str) -> None:
    if (found := _models("mlm", "clm")) is None:
        return
    mlm_lm, clm_lm = found
    text = ui.limited_text("Sentence", key=f"lw_{lesson.slug}", value=example, **LINE)
    with ui.friendly_errors():
        comp = compare.prepare(mlm_lm, clm_lm, text)
        default = compare.blank_index(comp)
        words = [w.text for w in comp.words]
        if default is None:
            default = words.index(lesson.word) if lesson.word in words else min(2, len(words) - 1)
        pick = st.selectbox(
            "Hide the word",
            list(range(len(words))),
            index=default,
            format_func=lambda i: words[i],
            key=f"lw_{lesson.slug}_word",
        )
        sides = compare.predict_word(comp, mlm_lm, clm_lm, pick, k=6)
        cols = st.columns(2)
        for col, side, label in zip(cols, sides, ("Masked LM (both sides)", "Causal LM (left only)")):
            with col:
                st.plotly_chart(word_bars(side.words, large=large, title=label), width="stretch")
                if side.recovered is not None:
                    st.caption(
                        ("Recovered" if side.recovered else "Did not recover")
                        + f" **{words[pick]}**"
                        + ("" if side.recovered or not side.words.answer_rank else f" (#{side.words.answer_rank})")
                        + "."
                    )


def widget_span(example: str) -> None:
    if (found := _models("encoder")) is None:
        return
    lm = found[0]
    text = ui.limited_text("Sentence", key=f"lw_{lesson.slug}", value=example, **LINE)
    cols = st.columns(2)
    density = cols[0].slider("Noise density", 0.05, 0.5, 0.15, 0.05, key=f"lw_{lesson.slug}_d")
    length = cols[1].slider("Mean span length", 1.0, 5.0, 3.0, 0.5, key=f"lw_{lesson.slug}_l")
    with ui.friendly_errors():
        c = span.corrupt_spans(lm.tokenizer, text, noise_density=density, mean_noise_span_length=length, seed=0)
        st.html(corruption_strips(c.pieces, c.mask, c.input_pieces, c.target_pieces, span.sentinel_number))


def widget_contrastive(example: str) -> None:
    if (found := _models("encoder")) is None:
        return
    lm = found[0]
    default = "\n".join([example, "Someone is strumming a guitar.", "A chef is cooking pasta in a kitchen."])
    text = ui.limited_text("One sentence per line", key=f"lw_{lesson.slug}", value=default, max_chars=2000, height=110)
    with ui.friendly_errors():
        emb = contrastive.embed(lm, text)
        labels = [contrastive.short_label(s) for s in emb.sentences]
        st.plotly_chart(
            similarity_heatmap(contrastive.cosine_matrix(emb.vectors), labels, emb.sentences, large=large),
            width="stretch",
        )


def widget_stages(_example: str) -> None:
    st.markdown(
        "| stage | data | labels from | what the model learns |\n|---|---|---|---|\n"
        "| 1. Pretraining | raw text, trillions of tokens | the text itself (self-supervised) | language, facts |\n"
        "| 2. Supervised fine-tuning | labelled examples, prompt → response | people | a task, following instructions |\n"
        "| 3. Alignment | pairs of answers ranked by people | preferences | which answers people prefer |"
    )


WIDGETS = {
    "fill_mask": widget_fill_mask,
    "next_token": widget_next_token,
    "compare": widget_compare,
    "span": widget_span,
    "contrastive": widget_contrastive,
    "stages": widget_stages,
}

# --------------------------------------------------------------------------- lesson

st.title(lesson.title)
text_col, live_col = st.columns([1, 1]) if lesson.widget != "none" else (st.container(), None)
with text_col:
    st.markdown(lesson.body)
    if lesson.tries:
        st.markdown("**Try this**\n" + "\n".join(f"- {t}" for t in lesson.tries))
if live_col is not None:
    with live_col:
        st.subheader("Live")
        WIDGETS[lesson.widget](lesson.example)

nav = st.columns([1, 1, 4])
nav[0].button("← Previous", on_click=_go, args=(-1,), disabled=st.session_state["lesson"] == 0, key="lesson_prev")
nav[1].button(
    "Next →", on_click=_go, args=(1,), disabled=st.session_state["lesson"] == len(all_lessons) - 1, key="lesson_next"
)

# --------------------------------------------------------------------------- quiz


def _reveal(q: lessons.Question) -> list[str] | None:
    """The model's top-5 answers for a 'predict' question."""
    if (found := _models(q.role)) is None:
        return None
    if q.role == "mlm":
        return _fill_mask_charts(found[0], q.text, k=5)[0].top_pieces
    return [c.piece for c in _next_token_chart(found[0], q.text, top_n=5)[0].top]


def _answer(qid: str) -> None:
    """The Check button: the answer chosen is final (before the run, so the run draws it locked)."""
    choice = st.session_state.get(f"quiz_{qid}")
    if isinstance(choice, int):
        score.answer(qid, choice)


if lesson.questions:
    st.header("Quiz")
for i, q in enumerate(lesson.questions):
    qid = f"{lesson.slug}-{i}"
    locked = score.chosen(qid)
    with st.container(border=True):
        st.markdown(f"**{i + 1}. {q.prompt}**" + (f"\n\n`{q.text}`" if q.text else ""))
        if locked is not None:  # answered: the answer given, locked, with its feedback (also after coming back)
            st.session_state[f"quiz_{qid}"] = locked
        choice = st.radio(
            "Your answer",
            list(range(len(q.options))),
            format_func=lambda j, q=q: q.options[j],
            index=None,
            key=f"quiz_{qid}",
            label_visibility="collapsed",
            disabled=locked is not None,
        )
        if locked is None:
            label = "Check" if q.kind == "choice" else "Reveal the model's answer"
            st.button(label, key=f"quiz_btn_{qid}", disabled=choice is None, on_click=_answer, args=(qid,))
            if large:  # the projector: the room's answers as they come in
                classroom_view.class_answers(qid, q.options, None, large=True)
        else:
            choice = locked
            st.caption("Answered: the first answer counts.")
            if q.kind == "choice":
                right = q.check(choice)
                score.record(qid, right)
                (st.success if right else st.error)(("Right. " if right else "Not quite. ") + q.why)
            else:
                with ui.friendly_errors():
                    top = _reveal(q)
                    if top is not None:
                        hit, rank = lessons.predict_verdict(q.options[choice], top, k=1)
                        _, rank5 = lessons.predict_verdict(q.options[choice], top, k=5)
                        score.record(qid, hit)
                        if hit:
                            st.success(f"Right: the model's top answer is “{top[0]}”. {q.why}")
                        elif rank5:
                            st.warning(
                                f"Close: your guess is the model's #{rank5}; its top answer is “{top[0]}”. {q.why}"
                            )
                        else:
                            st.error(
                                f"The model's top answer is “{top[0]}”, and your guess is not in its top 5. {q.why}"
                            )
            classroom_view.class_answers(qid, q.options, q.options[choice], large=large)

st.sidebar.metric(
    "Quiz score",
    f"{score.right} / {score.answered}",
    help="Right answers / questions answered in this browser (first answer counts).",
)
ui.publish_state("lessons", DEFAULTS)
