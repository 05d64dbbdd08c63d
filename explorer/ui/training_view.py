"""The Live training page's panels around a run: the training data and probes of the self-supervised
modes (a corpus, pasted text or an uploaded file) and of supervised fine-tuning (bundled or uploaded
examples), what the run did once it stops (before and after, held-out accuracy), and the SFT lesson of
which tokens count in the loss."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import LoadedModel, training, ui
from explorer.charts import training as charts
from explorer.wording import count

CORPUS_CHOICES = {
    **{k: c.title for k, c in training.CORPORA.items()},
    "paste": "Paste text",
    "upload": "Upload a .txt file",
}
PROBE_CHARS = training.MAX_PROBES * (training.MAX_FIELD_CHARS + 1)  # the probes' own limits, one per line


def text_data(objective: str) -> tuple[str | None, str, list[str], str]:
    """The training text of the self-supervised modes and their probes: (text, its name, notes, probes)."""
    source_text, source_name, data_notes = None, "", []
    corpus = st.selectbox("Training text", list(CORPUS_CHOICES), format_func=CORPUS_CHOICES.get, key="train_corpus")
    with ui.friendly_errors():
        if corpus == "paste":
            source_text = ui.limited_text(
                "Your text",
                key="train_text",
                max_chars=training.MAX_TEXT_CHARS,
                height=150,
                placeholder=f"Paste at least {training.MIN_TEXT_CHARS} characters…",
            )
            source_name = "pasted text"
            if source_text.strip():
                source_text, data_notes = training.training_text(source_text)
        elif corpus == "upload":
            # Any type is accepted here and checked below, where the checks' messages appear under the
            # uploader; a file over the size limit is refused by the browser with its reason shown.
            up = st.file_uploader(
                "A plain-text file (UTF-8)",
                type=None,
                key="train_upload",
                max_upload_size=training.UPLOAD_WIDGET_MB,
                help=training.upload_limits("text"),
            )
            st.caption(training.upload_limits("text"))
            source_name = up.name if up is not None else ""
            if up is not None:
                source_text, data_notes = training.training_text(training.decode_upload(up.getvalue(), "uploaded file"))
        else:
            source_text, source_name = training.corpus_text(corpus), training.CORPORA[corpus].title
            st.caption(training.CORPORA[corpus].description)
    if source_text:
        st.caption(f"{len(source_text):,} characters of text.")
    probe_key = "probes_mlm" if objective == "mlm" else "probes_clm"
    probes_text = ui.limited_text(
        "Probes (one per line" + (", with [MASK])" if objective == "mlm" else ")"),
        key=f"train_{probe_key}",
        max_chars=PROBE_CHARS,
        what="probes",
        height=100,
        help="Shown before and after training (and at checkpoints when pretraining).",
    )
    return source_text, source_name, data_notes, probes_text


def labelled_data(kind: str) -> tuple[pd.DataFrame | None, list | None, str, list[str], str]:
    """Supervised fine-tuning's examples (`kind`: classify) or prompt-response pairs (sft) and their probes:
    (examples, pairs, their name, notes, probes)."""
    examples, pairs, source_name, data_notes = None, None, "", []
    data = st.radio(
        "Examples",
        ["bundled", "upload"],
        key="train_data",
        horizontal=True,
        format_func=lambda d: "Bundled examples" if d == "bundled" else "Upload a CSV",
    )
    with ui.friendly_errors():
        if data == "upload":
            cols = "text,label" if kind == "classify" else "prompt,response"
            up = st.file_uploader(
                f"CSV with the columns {cols}",
                type=None,
                key=f"train_upload_{kind}",
                max_upload_size=training.UPLOAD_WIDGET_MB,
                help=training.upload_limits(kind),
            )  # any type: checked below (see above)
            st.caption(training.upload_limits(kind))
            source_name = up.name if up is not None else ""
            if up is not None and kind == "classify":
                examples, data_notes = training.labelled_examples(up.getvalue(), "uploaded CSV")
            elif up is not None:
                pairs, data_notes = training.prompt_response_pairs(up.getvalue(), "uploaded CSV")
        elif kind == "classify":
            examples, source_name = training.sentiment_examples(), "bundled sentiment examples"
        else:
            pairs, source_name = training.sft_examples(), "bundled prompt-response pairs"
    if examples is not None:
        counts = examples["label"].value_counts()
        st.caption(f"{len(examples)} examples: " + ", ".join(f"{n} {lab}" for lab, n in counts.items()) + ".")
    if pairs is not None:
        st.caption(
            f"{len(pairs)} prompt-response pairs, e.g. \u201c{pairs[0][0]}\u201d \u2192 \u201c{pairs[0][1]}\u201d"
        )
    probe_key = "probes_cls" if kind == "classify" else "probes_sft"
    probes_text = ui.limited_text(
        "Your sentences to classify" if kind == "classify" else "Test prompts (one per line)",
        key=f"train_{probe_key}",
        max_chars=PROBE_CHARS,
        what="probes",
        height=90,
    )
    return examples, pairs, source_name, data_notes, probes_text


def outcome(run: training.Run | None, running: bool) -> None:
    """Under the live view: what to press, or, once the run stops, how the trained copy compares."""
    if running:
        st.caption("Comparisons with the original model appear when training stops.")
    elif run is None:
        st.caption(
            "Press **Start training** to begin. The chart grows while the model learns; **Stop** keeps what "
            "it has learned so far, **Reset** goes back to the original weights."
        )
    else:
        t = run.trainer
        with ui.friendly_errors():
            if run.mode in ("continue", "sft") and run.extra.get("probes"):
                st.subheader("Before and after")
                key = ("after", run.step)
                if key not in run.extra:
                    with st.spinner("Asking the trained copy…"):
                        run.extra[key] = training.after_probes(run)
                st.table(training.before_after(run.extra["before"], run.extra[key]).set_index("probe"))
                st.caption(
                    f"Before: the original model (unchanged). After: the private copy after {count(run.step, 'step')}."
                )
            if run.mode == "classify":
                acc0, acc = t.history[0].get("accuracy"), t.last("accuracy")
                st.subheader("Held-out accuracy")
                st.markdown(
                    f"**{acc0:.0%}** before training (a random head) → **{acc:.0%}** after "
                    f"{count(run.step, 'step')}, on "
                    f"{len(t.task.test_idx)} examples the model never trained on."
                )
                probes = run.extra.get("probes") or []
                if probes:
                    probs = t.task.predict(t.model, probes)
                    st.dataframe(
                        [
                            {"sentence": s, **{c: round(float(probs[i, j]), 3) for j, c in enumerate(t.task.classes)}}
                            for i, s in enumerate(probes)
                        ],
                        hide_index=True,
                        width="stretch",
                    )
                with st.expander("Held-out predictions"):
                    st.dataframe(t.task.held_out_table(t.model), hide_index=True, width="stretch")
        for n in run.notes:
            st.caption(n)


def sft_labels(lm: LoadedModel, pairs: list, large: bool) -> None:
    """Which tokens of the first prompt-response pair SFT's loss counts."""
    with ui.friendly_errors():
        st.subheader("Which tokens count in the loss")
        table = training.label_table(lm.tokenizer, *pairs[0])
        targets = table["SFT label"] != -100
        fig = charts.label_strip(table["token"], [i > 0 for i in range(len(table))], list(targets), large=large)
        st.plotly_chart(fig, width="stretch")
        st.caption(
            f"Self-supervised next-token training grades the model on every token of the text "
            f"({len(table) - 1} targets here). SFT labels the prompt tokens -100, so only the "
            f"{count(int(targets.sum()), 'response token')} count: the model learns how to answer, not how "
            "to write "
            "prompts (or the system message)."
        )
        with st.expander("Token by token"):
            st.dataframe(table, hide_index=True, width="stretch")
