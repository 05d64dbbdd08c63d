"""Contrastive embeddings: sentence vectors, similarity, a 2-D map, neighbours and the InfoNCE loss."""

import math

import pandas as pd
import streamlit as st

from explorer import contrastive, examples, ui
from explorer.charts import contrastive as con_charts
from explorer.ui import chart
from explorer.ui.chart import made_once

EXAMPLES = examples.load("contrastive")  # the default sentences and pairs, and what they show
DEFAULTS = {
    "con_pooling": "model default",
    "con_sentences": EXAMPLES["sentences"]["text"],
    "con_query": 0,
    "con_k": 5,
    "con_pairs": EXAMPLES["pairs"]["text"],
    "con_positives": "pairs",
    "con_temperature": 0.05,
    "con_dropout": 0.1,
    "con_word_drop": 0.2,
    "con_seed": 0,
    "con_symmetric": False,
}
POOLING_CHOICES = ["model default", *contrastive.POOLINGS]
POSITIVE_CHOICES = {"pairs": "Your pairs", "dropout": "Dropout (SimCSE)", "word dropout": "Word dropout"}

SHARED_KEYS = (
    "con_pooling",
    "con_sentences",
    "con_query",
    "con_k",
    "con_pairs",
    "con_positives",
    "con_temperature",
    "con_dropout",
    "con_word_drop",
    "con_seed",
    "con_symmetric",
)
SHARED = {**{k: DEFAULTS[k] for k in SHARED_KEYS}, **ui.model_defaults("encoder")}  # what a link carries
LIMITS = {
    "con_pooling": POOLING_CHOICES,
    "con_query": (0, 63),
    "con_k": (1, 15),
    "con_positives": list(POSITIVE_CHOICES),
    "con_temperature": (0.01, 1.0),
    "con_dropout": (0.0, 0.5),
    "con_word_drop": (0.0, 0.6),
    "con_seed": (0, 1_000_000),
}
ui.page_state("contrastive", SHARED, LIMITS, local=DEFAULTS)
state = st.session_state
large = ui.presenter()
SIM = "Cosine similarity (diagonal = positives)"


@st.cache_resource(show_spinner=False, max_entries=4)
def corpus_vectors(model_id: str, pooling: contrastive.Pooling, _lm) -> contrastive.Embeddings:
    sentences = contrastive.neighbour_sentences()
    return contrastive.embed(_lm, sentences, pooling=pooling, limit=len(sentences))


st.title("Contrastive embeddings")
ui.intro(
    "A sentence encoder turns each sentence into one vector. It is trained **contrastively**: the vectors of "
    "two texts that belong together (a question and its answer, a sentence and its paraphrase) are pulled "
    "together, and those of the other texts in the batch are pushed apart. No labels are needed beyond the "
    "pairing itself, which raw text often provides for free."
)

ui.model_picker("encoder")
st.sidebar.selectbox(
    "Pooling",
    POOLING_CHOICES,
    key="con_pooling",
    help="How token vectors become one sentence vector. 'model default' uses what the model "
    "was trained with (all-MiniLM-L6-v2: mean, then L2-normalised).",
)

lm = ui.get_model("encoder")
if lm is None:
    st.stop()
pooling = None
with ui.friendly_errors():
    pooling = contrastive.resolve_pooling(lm, None if state["con_pooling"] == "model default" else state["con_pooling"])
if pooling is None:
    st.stop()
st.caption(f"Encoder: {lm.info.name}. Sentence vector: {pooling.describe()} ({pooling.source}).")

# --------------------------------------------------------------------------- 1. similarity and map
st.header("1. Similar meaning, nearby vectors")
ui.limited_text("Your sentences (one per line)", key="con_sentences", max_chars=5000, height=170)
emb = None
with ui.friendly_errors():
    emb = contrastive.embed(lm, state["con_sentences"], pooling=pooling)
if emb is not None:
    ui.notes(emb.notes)
    labels = [f"{i + 1}. {contrastive.short_label(s, 16)}" for i, s in enumerate(emb.sentences)]
    sim = contrastive.cosine_matrix(emb.vectors)
    left, right = ui.columns([1.4, 1])
    chart.plotly_chart(
        made_once(
            con_charts.similarity_heatmap,
            sim,
            labels,
            emb.sentences,
            large=large,
            x_labels=[str(i + 1) for i in range(len(labels))],
        ),
        key="con_heatmap",
        container=left,
    )
    with right, ui.friendly_errors():
        proj = contrastive.pca_2d(emb.vectors)
        chart.plotly_chart(
            made_once(
                con_charts.pca_scatter,
                proj.coords,
                [str(i + 1) for i in range(len(labels))],
                emb.sentences,
                proj.explained,
                large=large,
            ),
            key="con_map",
        )
    st.caption(
        f"Cosine similarity: 1 = same direction, 0 = unrelated. The map keeps the two directions along "
        f"which these {emb.vectors.shape[1]}-dimensional vectors vary most, so distances on it are only "
        f"a rough guide; the heatmap has the exact values."
    )

    # ----------------------------------------------------------------------- 2. neighbours
    st.header("2. Nearest neighbours")
    corpus_size = len(contrastive.neighbour_sentences())
    st.markdown(f"The closest of {corpus_size} everyday sentences bundled with the app, by cosine similarity.")
    if int(state["con_query"]) >= len(emb.sentences):
        state["con_query"] = 0
    n1, n2 = st.columns([3, 1])
    n1.selectbox("Sentence", list(range(len(emb.sentences))), key="con_query", format_func=lambda i: emb.sentences[i])
    n2.slider("How many", 1, 15, key="con_k")
    with ui.friendly_errors(), st.spinner(f"Embedding the {corpus_size} bundled sentences (once)…"):
        corpus = corpus_vectors(lm.info.model_id, pooling, lm)
        idx, sims = contrastive.nearest(emb.vectors[int(state["con_query"])], corpus.vectors, int(state["con_k"]))
        st.dataframe(
            pd.DataFrame(
                {
                    "rank": range(1, len(idx[0]) + 1),
                    "sentence": [corpus.sentences[j] for j in idx[0]],
                    "cosine": sims[0].round(4),
                }
            ),
            hide_index=True,
            width="stretch",
        )

# --------------------------------------------------------------------------- 3. InfoNCE
st.header("3. The contrastive objective (InfoNCE)")
st.markdown(
    "Take a batch of *n* (anchor, positive) pairs. Compare every anchor with every positive: the **diagonal** "
    "holds the true pairs, everything else is an **in-batch negative**. Dividing the similarities by a "
    "temperature τ and applying a softmax to each row turns the batch into *n* classification problems: "
    "*which of these n texts is my positive?* The loss is the cross-entropy of that choice."
)
st.latex(
    r"\mathcal{L} = -\frac{1}{n}\sum_{i=1}^{n} \log \frac{e^{\cos(a_i, p_i)/\tau}}"
    r"{\sum_{j=1}^{n} e^{\cos(a_i, p_j)/\tau}}"
)
st.segmented_control(
    "Positives",
    list(POSITIVE_CHOICES),
    key="con_positives",
    format_func=POSITIVE_CHOICES.get,
    help="Your pairs: the text after '|' on each line. Dropout (SimCSE): the same sentence "
    "encoded twice with dropout on. Word dropout: the sentence with some words removed.",
)
mode = state["con_positives"] or "pairs"
ui.limited_text(
    "Pairs: anchor | positive (one per line)"
    if mode == "pairs"
    else "Anchors (one per line; text after '|' is ignored)",
    key="con_pairs",
    max_chars=5000,
    height=160,
)
p1, p2, p3 = st.columns(3)
p1.slider(
    "Temperature τ",
    0.01,
    1.0,
    step=0.01,
    key="con_temperature",
    help="Low τ sharpens the softmax: small gaps in similarity become large gaps in probability. "
    "SimCSE uses 0.05; CLIP learns it (about 0.01).",
)
if mode == "dropout":
    p2.slider(
        "Dropout rate",
        0.0,
        0.5,
        step=0.05,
        key="con_dropout",
        help="Dropout probability in every layer of the encoder copy that makes the positives.",
    )
elif mode == "word dropout":
    p2.slider("Words dropped", 0.0, 0.6, step=0.05, key="con_word_drop")
if mode != "pairs":
    p3.number_input("Seed", min_value=0, max_value=1_000_000, step=1, key="con_seed")
st.toggle(
    "Symmetric (CLIP-style: also columns)",
    key="con_symmetric",
    help="Average the row loss (anchor → positives) with the column loss (positive → anchors).",
)

with ui.friendly_errors():
    pairs = contrastive.parse_pairs(state["con_pairs"], need_positives=(mode == "pairs"))
    anchors = [a for a, _ in pairs]
    with st.spinner("Encoding the batch…"):
        a_emb = contrastive.embed(lm, anchors, pooling=pooling)
        if mode == "pairs":
            positives = [p for _, p in pairs]
            p_emb = contrastive.embed(lm, positives, pooling=pooling)
        elif mode == "dropout":
            positives = [f"{a} (dropout view)" for a in anchors]
            p_emb = contrastive.dropout_embed(
                lm, anchors, seed=int(state["con_seed"]), pooling=pooling, dropout=state["con_dropout"]
            )
        else:
            positives = contrastive.word_dropout_views(anchors, state["con_word_drop"], int(state["con_seed"]))
            p_emb = contrastive.embed(lm, positives, pooling=pooling)
    result = contrastive.info_nce(
        a_emb.vectors, p_emb.vectors, state["con_temperature"], symmetric=state["con_symmetric"]
    )
    n = len(anchors)
    a_labels = [f"a{i + 1}. {contrastive.short_label(s, 20)}" for i, s in enumerate(anchors)]
    m = st.columns(4)
    m[0].metric("InfoNCE loss", f"{result.loss:.4g}")
    m[1].metric("Chance level (log n)", f"{math.log(n):.3f}")
    m[2].metric("Anchors whose positive is closest", f"{result.accuracy:.0%}")
    m[3].metric(
        "Batch",
        f"{n} pairs",
        help=f"{n * (n - 1)} in-batch negatives: every anchor against the {n - 1} positives of the other pairs.",
    )
    a_ids, p_ids = [f"a{i + 1}" for i in range(n)], [f"p{i + 1}" for i in range(n)]  # the table below has the texts
    heatmaps = [
        made_once(
            con_charts.batch_heatmap, result.similarity, a_ids, p_ids, anchors, positives, title=SIM, large=large
        ),
        made_once(
            con_charts.batch_heatmap,
            *(result.probs, a_ids, p_ids, anchors, positives),
            kind="probability",
            similarity=result.similarity,
            title=f"Softmax of each row at τ = {result.temperature:g}",
            large=large,
        ),
    ]
    chart.plotly_charts(heatmaps, key="con_batch", columns=1 if large else 2)  # stacked for a projector, as ui.columns
    chart.plotly_chart(
        made_once(
            con_charts.row_loss_bars,
            result.row_loss,
            a_labels,
            anchors,
            mean_loss=float(result.row_loss.mean()),
            chance=math.log(n),
            large=large,
        ),
        key="con_row_loss",
    )
    st.dataframe(contrastive.infonce_frame(result, anchors, positives), hide_index=True, width="stretch")
    st.caption(
        "Each anchor's term is −log P(positive) = log(1 + Σ over negatives of e^((cos(a,n) − cos(a,p))/τ)). "
        "'Negatives' weight' is that sum: a negative adds almost nothing once it is well below the positive, "
        "so training works mostly on the hardest negatives. At chance (all similarities equal) the loss is "
        "log n. "
        + (
            "Symmetric: the loss also averages the columns (each positive picking its anchor). "
            if result.symmetric
            else ""
        )
        + (
            "Dropout positives: the same sentence twice through an encoder copy with dropout on, as in "
            "unsupervised SimCSE; the shared model is never changed."
            if mode == "dropout"
            else ""
        )
    )

ui.share_link(ui.publish_state("contrastive", SHARED))
