"""The contrastive page (AppTest): heatmap values, neighbours, InfoNCE numbers, augmentation modes, bad input."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import contrastive as C
from tests.core.span.test_span import tiny_t5_dir  # noqa: F401 - fixture
from tests.figures import figures

PAGE = "pages/contrastive.py"


def chart(at: AppTest, title_part: str) -> dict:
    for spec in figures(at):
        title = (spec["layout"].get("title") or {}).get("text") or ""
        if title_part in title:
            return spec
    raise AssertionError(f"no chart titled {title_part!r}")


def array(value) -> np.ndarray:
    """A plotly data array: a plain list, or plotly's typed-array form {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return out.reshape([int(x) for x in str(shape).split(",")]) if shape else out
    return np.asarray(value, dtype=float)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def default_page(app_page):
    return app_page(PAGE, timeout=240)


def default(at: AppTest, key: str):
    """A shareable input's value: on an untouched page, its default from the page's DEFAULTS."""
    return at.session_state[key]


def test_heatmap_shows_the_cosine_similarities(default_page, minilm):
    spec = chart(default_page, "Cosine similarity")
    z = array(spec["data"][0]["z"])
    ref = C.cosine_matrix(C.embed(minilm, default(default_page, "con_sentences")).vectors)
    assert z.shape == (6, 6) and np.allclose(z, ref, atol=1e-6)
    # the paraphrases are each other's most similar sentence
    off = z - 2 * np.eye(6)
    assert list(off.argmax(axis=1)) == [1, 0, 3, 2, 5, 4]
    assert "A man is playing the guitar on stage." in json.dumps(spec["data"][0]["customdata"])


def test_map_and_neighbours(default_page, minilm):
    scatter = chart(default_page, "PCA")
    assert len(array(scatter["data"][0]["x"])) == 6
    table = next(d.value for d in default_page.dataframe if "rank" in d.value.columns)
    assert len(table) == default(default_page, "con_k")
    corpus = C.embed(minilm, C.neighbour_sentences(), limit=1000)
    q = C.embed(minilm, default(default_page, "con_sentences")).vectors[0]
    idx, sims = C.nearest(q, corpus.vectors, default(default_page, "con_k"))
    assert list(table["sentence"]) == [corpus.sentences[j] for j in idx[0]]
    assert np.allclose(table["cosine"], sims[0], atol=1e-4)


def test_infonce_numbers_match_a_reference(default_page, minilm):
    import torch

    pairs = C.parse_pairs(default(default_page, "con_pairs"))
    a = torch.tensor(C.embed(minilm, [x for x, _ in pairs]).vectors)
    p = torch.tensor(C.embed(minilm, [y for _, y in pairs]).vectors)
    logits = (torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(p, dim=1).T) / 0.05
    ref = float(torch.nn.functional.cross_entropy(logits.double(), torch.arange(len(pairs))))
    m = metrics(default_page)
    assert math.isclose(float(m["InfoNCE loss"]), ref, rel_tol=1e-3, abs_tol=1e-6)
    assert m["Chance level (log n)"] == f"{math.log(len(pairs)):.3f}"
    frame = next(d.value for d in default_page.dataframe if "loss term" in d.value.columns)
    per_row = torch.nn.functional.cross_entropy(logits.double(), torch.arange(len(pairs)), reduction="none")
    assert np.allclose(frame["loss term"], per_row.numpy(), atol=1e-4)
    sims = chart(default_page, "diagonal = positives")
    assert len(sims["layout"]["shapes"]) == len(pairs)  # the positives boxed on the diagonal


def test_temperature_changes_the_loss(app_page):
    at = app_page(PAGE, timeout=240)
    low = float(metrics(at)["InfoNCE loss"])
    at.slider(key="con_temperature").set_value(1.0).run()
    assert not at.exception
    high = float(metrics(at)["InfoNCE loss"])
    assert high > low and high < math.log(len(C.parse_pairs(default(at, "con_pairs"))))


@pytest.mark.parametrize("mode", ["dropout", "word dropout"])
def test_augmented_positives(app_page, mode):
    at = app_page(PAGE, timeout=240, con_positives=mode)
    m = metrics(at)
    assert float(m["InfoNCE loss"]) >= 0 and m["Batch"].startswith("6 pairs")
    frame = next(d.value for d in at.dataframe if "loss term" in d.value.columns)
    if mode == "word dropout":
        assert list(frame["positive"]) == C.word_dropout_views(list(frame["anchor"]), default(at, "con_word_drop"), 0)
    else:
        assert all(p.endswith("(dropout view)") for p in frame["positive"])


@pytest.mark.parametrize(
    "state,expected",
    [
        ({"con_pairs": "just one | pair"}, "at least two pairs"),
        ({"con_pairs": "a | b\nmissing positive"}, "no positive"),
        ({"con_sentences": "   "}, "at least 1 sentence"),
    ],
)
def test_bad_input_shows_a_message(app_page, state, expected):
    at = app_page(PAGE, timeout=240, **state)
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]


def test_one_sentence_then_two_others_keeps_the_query_an_index(tiny_mlm_dir):
    """Regression: the browser kept the label of the query sentence ('A man is playing the guitar on
    stage.') when the options changed, sent it back, and the page read it as the query index."""
    from tests.fuzz_support import FuzzSession

    s = FuzzSession(PAGE, {"model_id_encoder": str(tiny_mlm_dir)})
    s.set("con_sentences", "A kitten naps on the couch.")
    assert s.value_shown("con_query") == "A kitten naps on the couch."
    s.set("con_sentences", "The sky is blue today.\nGrass is green in spring.")
    assert s.at.session_state["con_query"] == 0 and s.value_shown("con_query") == "The sky is blue today."
    s.set("con_query", "Grass is green in spring.")
    assert s.at.session_state["con_query"] == 1 and s.at.query_params.get("con_query") == "1"
    table = next(d.value for d in s.at.dataframe if "rank" in d.value.columns)
    assert len(table) == s.at.session_state["con_k"]
    # a browser that still sends an old label (a run cut short by the next change) is not read as an index
    s.set("con_query", "A man is playing the guitar on stage.")
    assert s.at.session_state["con_query"] == 1 and s.value_shown("con_query") == "Grass is green in spring."


def test_a_t5_folder_as_the_encoder_embeds_with_its_encoder(tiny_t5_dir, monkeypatch):
    """Found by `make fuzz`: typing a seq2seq (T5) folder into the encoder's id box ran the whole
    encoder-decoder, which asks for decoder inputs ("You must specify exactly one of input_ids or
    inputs_embeds"). The encoder part embeds, as sentence-T5 does."""
    from explorer import contrastive, load
    from tests.fuzz_support import FuzzSession

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = FuzzSession(PAGE)
    try:
        s.set("pick_encoder", "Other model id…")
        s.set("pick_other_encoder", str(tiny_t5_dir))  # each run fails on an exception or a caught error
        assert s.at.session_state["model_id_encoder"] == str(tiny_t5_dir)
        assert figures(s.at)  # the similarity map is drawn
    finally:
        s.close()
    emb = contrastive.embed(load("encoder", str(tiny_t5_dir)), ["a cat sat", "a dog ran"])
    assert emb.vectors.shape == (2, load("encoder", str(tiny_t5_dir)).model.config.d_model)
