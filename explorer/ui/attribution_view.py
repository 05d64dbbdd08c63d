"""The "Why?" view under a prediction chart: which tokens of the text made the model predict a word
(`explorer.inside.attribution`), as the text coloured by credit, with the method, the word explained and the
word it is compared with picked on the page. `why` serves one model (the Masked LM and Causal LM pages);
`why_both` the Masked vs causal page (both models on the same blank, word by word, on one colour scale).

Nothing is computed until the participant opens the view: a toggle, kept per page."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st

from explorer import comparisons, inside, ui
from explorer.charts import attribution as charts
from explorer.models import LoadedModel

NOTHING = "nothing else (just why this word)"
STEP_CHOICES = [8, 16, 32, 64, 128]


def local_state(*keys: str) -> dict:
    """The Why? views' widgets and their defaults, for `ui.page_state(local=...)`: a widget a run did not draw
    (the view closed, the page stopped early) comes back showing the value the page computes with."""
    out: dict = {}
    for key in keys:
        out.update(
            {
                f"{key}_on": False,
                f"{key}_method": inside.METHODS[0],
                f"{key}_steps": inside.DEFAULT_STEPS,
                f"{key}_target": None,
                f"{key}_contrast": None,
            }
        )
    return out


def _controls(key: str, labels: Sequence[str], *, contrast_labels: Sequence[str] | None = None) -> tuple:
    """Method, word explained, word compared with and steps; returns (method, target, contrast, steps)."""
    for name in ("target", "contrast"):  # a word of the previous prediction: not a choice any more
        if st.session_state.get(f"{key}_{name}") not in [*labels, NOTHING]:
            st.session_state.pop(f"{key}_{name}", None)
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Method", inside.METHODS, key=f"{key}_method", help="How the credit is worked out.")
    target = c2.selectbox(
        "Why this word",
        list(labels),
        key=f"{key}_target",
        help="The word whose log-probability is shared out among the tokens of the text (one of the chart's).",
    )
    others = [NOTHING] + [w for w in (contrast_labels or labels) if w != target]
    contrast = c3.selectbox(
        "…rather than",
        others,
        key=f"{key}_contrast",
        help="Contrastive attribution: the credit for the difference between the two words' log-probabilities "
        "(for one-token words, the difference of their logits).",
    )
    steps = inside.DEFAULT_STEPS
    if method == inside.INTEGRATED:
        steps = st.select_slider(
            "Integrated Gradients: points on the path",
            STEP_CHOICES,
            key=f"{key}_steps",
            help="Each point is one forward and one backward pass (they run in batches). More points: credits "
            "that add up more exactly, at a higher cost.",
        )
    return method, target, None if contrast == NOTHING else contrast, steps


def _progress(method: str) -> tuple[Any, Callable[[int, int], None]]:
    bar = st.empty()

    def report(done: int, total: int) -> None:
        if total > 1:
            bar.progress(done / total, text=f"{method}: batch {done} of {total}")

    return bar, report


def _explained(att: inside.Attribution, target: str, contrast: str | None) -> str:
    value = f"log p({target})" if contrast is None else f"log p({target}) − log p({contrast})"
    return f"Explained: {value} = {att.value:.2f} nats"


def _figures(att: inside.Attribution) -> None:
    """What the credits add up to; for Integrated Gradients, the convergence delta and a warning when large."""
    if att.method != inside.INTEGRATED or att.baseline_value is None or att.delta is None:
        st.caption(f"{inside.METHOD_NOTES[att.method].capitalize()}. Took {att.seconds:.1f} s.")
        return
    change = att.value - att.baseline_value
    st.caption(
        f"{inside.METHOD_NOTES[att.method].capitalize()}. The credits add up to {att.total:+.2f}; the change "
        f"from the empty text is {change:+.2f}; convergence delta {att.delta:+.2f} ({att.steps} points, "
        f"{att.seconds:.1f} s)."
    )
    if abs(att.delta) > 0.1 * max(1.0, abs(change)):
        st.warning(
            f"The path integral has not settled at {att.steps} points (delta {att.delta:+.2f} against a change "
            f"of {change:+.2f}): read the colours as rough. More points make the credits add up."
        )


def why(
    lm: LoadedModel,
    ids: Sequence[int],
    start: int,
    end: int,
    candidates: Sequence[tuple[str, Sequence[int]]],
    *,
    key: str,
    large: bool,
    blank_label: str = inside.BLANK,
    toggle: str | None = "Why? Which tokens made it predict this",
) -> None:
    """The "Why?" view for one model's prediction at ids[start:end] (`candidates`: (label, token ids), the
    words of its chart, best first), opened by a toggle (None: the caller has opened it)."""
    candidates = list({label: ids for label, ids in reversed(list(candidates))}.items())[::-1]  # one per label
    if not candidates:
        return
    if toggle is not None and not st.toggle(toggle, key=f"{key}_on"):
        return
    labels = [label for label, _ in candidates]
    method, target, contrast, steps = _controls(key, labels)
    word = dict(candidates)
    bar, report = _progress(method)
    with ui.friendly_errors():
        att = inside.attribute(
            lm,
            ids,
            start,
            end,
            tuple(word[target]),
            contrast=tuple(word[contrast]) if contrast else (),
            method=method,
            steps=steps,
            progress=report,
        )
        bar.empty()
        causal = lm.info.role == "clm"
        st.html(
            charts.attribution_html(
                list(att.pieces),
                list(att.scores),
                att.blank,
                blank_label=blank_label,
                blank_title=f"the word explained: {target}",
                large=large,
                faded_after_blank=causal,
            )
            + charts.legend_html(method != inside.ATTENTION)
        )
        st.caption(_explained(att, target, contrast))
        _figures(att)


def why_both(comp: Any, mlm_lm: LoadedModel, clm_lm: LoadedModel, sides: tuple, index: int, *, large: bool) -> None:
    """Both models' credit per word for the same blank, side by side, on one colour scale."""
    if not st.toggle("Why? Which words each model used", key="cmp_why_on"):
        return
    mside, cside = sides
    theirs = {w.word for w in cside.words.with_answer()}
    shared = [w.word for w in mside.words.with_answer() if w.word in theirs]
    if not shared:
        st.info("The two models have no word in common among their guesses, so there is no one word to explain.")
        return
    method, target, contrast, steps = _controls("cmp_why", shared)
    results = []
    bar, report = _progress(method)
    with ui.friendly_errors():
        for lm, side in ((mlm_lm, mside), (clm_lm, cside)):
            results.append(
                comparisons.explain_word(
                    comp, lm, side, index, method=method, steps=steps, target=target, contrast=contrast, progress=report
                )
            )
        bar.empty()
        scale = charts.scale_of(*(r.scores for r in results))
        for col, credit, name in zip(st.columns(2), results, ("Masked LM", "Causal LM")):
            with col:
                st.markdown(f"**{name}**")
                st.html(
                    charts.attribution_html(
                        credit.words,
                        credit.scores,
                        credit.blank,
                        blank_title=f"the word explained: {target}",
                        scale=scale,
                        large=large,
                        faded_after_blank=credit.kind == "clm",
                    )
                )
                st.caption(
                    f"{_explained(credit.attribution, target, contrast)}. Credit to the words after the blank: "
                    f"{credit.right_of_blank:.2f}."
                )
                _figures(credit.attribution)
        st.html(charts.legend_html(method != inside.ATTENTION))
        st.caption(
            "The masked LM's credit reaches the words after the blank; the causal LM's is exactly zero there: it "
            "never read them. Both on one colour scale, each word's credit the sum of its pieces'."
        )
