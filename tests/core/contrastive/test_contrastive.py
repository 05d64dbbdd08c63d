"""Contrastive embeddings: pooling against sentence-transformers, cosine, PCA, neighbours, InfoNCE."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explorer import contrastive as C
from explorer.errors import ExplorerError

SENTENCES = [
    "A man is eating food.",
    "Someone is having a meal in a small restaurant near the station.",
    "The stock market fell sharply today.",
    "Ünïcödé text, numbers like 3.14 and punctuation!?",
    "short",
]


def test_pooled_embeddings_equal_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    from explorer.models.catalogue import minilm_dir

    ref_model = st.SentenceTransformer(str(minilm_dir()), device="cpu")
    ref = ref_model.encode(SENTENCES, convert_to_numpy=True, batch_size=8)
    ours = C.embed(minilm, SENTENCES)
    assert ours.pooling.mode == "mean" and ours.pooling.normalize
    assert ours.vectors.shape == ref.shape == (len(SENTENCES), 384)
    assert np.abs(ours.vectors - ref).max() < 1e-5
    # one sentence alone (no padding) gives the same vector as inside a padded batch
    alone = C.embed(minilm, [SENTENCES[1]]).vectors[0]
    assert np.abs(alone - ref[1]).max() < 1e-5


def test_other_poolings_match_a_direct_computation(minilm):
    tok, model = minilm.tokenizer, minilm.model
    batch = tok(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    for i in range(3):
        n = int(batch["attention_mask"][i].sum())
        tokens = hidden[i, :n]
        refs = {"cls": tokens[0], "max": tokens.max(0).values, "mean": tokens.mean(0)}
        for mode, ref in refs.items():
            got = C.embed(minilm, SENTENCES[:3], pooling=C.Pooling(mode, normalize=False)).vectors[i]
            assert np.abs(got - ref.numpy()).max() < 1e-5, mode


def test_pooling_comes_from_the_model_folder(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Pooling"}]
        )
    )
    lm = SimpleNamespace(extra={}, info=SimpleNamespace(model_id=str(tmp_path)))
    p = C.pooling_for(lm)
    assert p.mode == "cls" and p.normalize is False and "sentence-transformers" in p.source
    bare = SimpleNamespace(extra={}, info=SimpleNamespace(model_id="no-such-model-here"))
    assert C.pooling_for(bare) == C.Pooling("mean", True, "default")
    with pytest.raises(ExplorerError):
        C.resolve_pooling(bare, "median")


def test_cosine_matrix_matches_torch():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 16)), rng.normal(size=(4, 16))
    ref = torch.nn.functional.cosine_similarity(torch.tensor(a)[:, None], torch.tensor(b)[None], dim=-1).numpy()
    assert np.allclose(C.cosine_matrix(a, b), ref, atol=1e-12)
    assert np.allclose(np.diag(C.cosine_matrix(a)), 1.0)


def test_pca_matches_scikit_learn_up_to_sign():
    decomposition = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 30)) * np.linspace(3, 0.1, 30)
    proj = C.pca_2d(x)
    ref = decomposition.PCA(n_components=2, svd_solver="full").fit(x)
    ref_coords = ref.transform(x)
    for k in range(2):
        sign = np.sign(proj.coords[:, k] @ ref_coords[:, k])
        assert np.allclose(proj.coords[:, k], sign * ref_coords[:, k], atol=1e-8)
    assert np.allclose(proj.explained, ref.explained_variance_ratio_, atol=1e-10)
    # points that already lie in a plane keep all their pairwise distances
    plane = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 10))
    flat = C.pca_2d(plane).coords
    d = lambda z: np.linalg.norm(z[:, None] - z[None], axis=-1)  # noqa: E731
    assert np.allclose(d(flat), d(plane), atol=1e-8)
    with pytest.raises(ExplorerError):
        C.pca_2d(x[:1])


def test_two_sentences_give_one_direction_not_rounding_noise():
    from explorer.charts.contrastive import pca_scatter

    rng = np.random.default_rng(3)
    two = rng.normal(size=(2, 384)).astype(np.float32)
    proj = C.pca_2d(two)
    assert proj.dims == 1 and proj.explained == (1.0, 0.0) and np.all(proj.coords[:, 1] == 0.0)
    assert np.isclose(abs(proj.coords[0, 0] - proj.coords[1, 0]), np.linalg.norm(two[0] - two[1]), rtol=1e-5)
    fig = pca_scatter(proj.coords, ["1", "2"], ["a", "b"], proj.explained)
    assert "0% of the variance" not in fig.layout.yaxis.title.text and fig.layout.yaxis.showticklabels is False
    assert C.pca_2d(rng.normal(size=(3, 20))).dims == 2


def test_bundled_sentences_and_nearest_neighbours(minilm):
    corpus = C.neighbour_sentences()
    assert 100 <= len(corpus) <= 200 and len(set(corpus)) == len(corpus)
    emb = C.embed(minilm, corpus, limit=len(corpus))
    query = C.embed(minilm, [corpus[10], "I am making soup for dinner tonight."])
    idx, sims = C.nearest(query.vectors, emb.vectors, k=5)
    assert idx[0, 0] == 10 and sims[0, 0] > 0.999  # a bundled sentence finds itself first
    full = C.cosine_matrix(query.vectors, emb.vectors)
    for r in range(2):
        assert np.allclose(sims[r], np.sort(full[r])[::-1][:5])
        assert np.all(np.diff(sims[r]) <= 1e-12)
    food = [corpus[j] for j in idx[1, :3]]
    assert any(w in " ".join(food).lower() for w in ("soup", "dinner", "cook", "pasta")), food


# --------------------------------------------------------------------------- InfoNCE


@pytest.mark.parametrize("temperature", [0.02, 0.05, 0.3, 1.0])
def test_info_nce_equals_reference_cross_entropy(temperature):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 32))
    p = a + 0.8 * rng.normal(size=(6, 32))
    r = C.info_nce(a, p, temperature)
    an = torch.nn.functional.normalize(torch.tensor(a), dim=1)
    pn = torch.nn.functional.normalize(torch.tensor(p), dim=1)
    logits = an @ pn.T / temperature
    target = torch.arange(6)
    ref = torch.nn.functional.cross_entropy(logits, target)
    assert abs(r.loss - float(ref)) < 1e-9
    per_row = torch.nn.functional.cross_entropy(logits, target, reduction="none").numpy()
    assert np.allclose(r.row_loss, per_row, atol=1e-9)
    assert np.allclose(r.probs, torch.softmax(logits, 1).numpy(), atol=1e-12)
    # the per-term decomposition adds up to each row's loss
    assert np.allclose(np.log1p(r.contributions().sum(1)), r.row_loss, atol=1e-9)
    sym = C.info_nce(a, p, temperature, symmetric=True)
    ref_sym = (ref + torch.nn.functional.cross_entropy(logits.T, target)) / 2
    assert abs(sym.loss - float(ref_sym)) < 1e-9


def test_info_nce_extremes_and_errors():
    eye = np.eye(4)
    assert C.info_nce(eye, eye, 0.05).loss < 1e-6  # perfect pairs, orthogonal negatives
    same = np.ones((4, 3))
    assert abs(C.info_nce(same, same, 0.1).loss - np.log(4)) < 1e-9  # all alike: chance, log n
    assert C.info_nce(eye, eye[[1, 0, 3, 2]], 0.1).accuracy == 0.0
    with pytest.raises(ExplorerError):
        C.info_nce(eye[:1], eye[:1], 0.1)
    with pytest.raises(ExplorerError):
        C.info_nce(eye, eye, 0.0)


def test_parse_pairs():
    pairs = C.parse_pairs("a cat | a kitten\n\n  a dog|a puppy  \n")
    assert pairs == [("a cat", "a kitten"), ("a dog", "a puppy")]
    assert C.parse_pairs("one\ntwo", need_positives=False) == [("one", ""), ("two", "")]
    for bad in ["only one | pair", "a | b\nno positive", "| b\nc | d", ""]:
        with pytest.raises(ExplorerError):
            C.parse_pairs(bad)


# --------------------------------------------------------------------------- augmentation


def test_word_dropout_is_seeded_and_keeps_order():
    s = "the quick brown fox jumps over the lazy dog"
    v1 = C.word_dropout_views([s] * 3, 0.4, seed=5)
    assert v1 == C.word_dropout_views([s] * 3, 0.4, seed=5)
    assert C.word_dropout_views([s], 0.0, seed=1) == [s]
    words = s.split()
    for v in v1:
        kept = v.split()
        assert 1 <= len(kept) < len(words)
        it = iter(words)
        assert all(w in it for w in kept)  # a subsequence: order kept
    assert len(C.word_dropout_views(["one two"], 0.99, seed=3)[0].split()) == 1


def test_dropout_positives_simcse(minilm):
    base = C.embed(minilm, SENTENCES[:3]).vectors
    d1 = C.dropout_embed(minilm, SENTENCES[:3], seed=1).vectors
    d1b = C.dropout_embed(minilm, SENTENCES[:3], seed=1).vectors
    d2 = C.dropout_embed(minilm, SENTENCES[:3], seed=2).vectors
    assert np.array_equal(d1, d1b)
    assert np.abs(d1 - d2).max() > 1e-3 and np.abs(d1 - base).max() > 1e-3
    cos = np.sum(d1 * base, axis=1)
    assert np.all(cos > 0.8) and np.all(cos < 0.99999)
    # dropout 0 on the copy reproduces the frozen model exactly; the shared model is untouched
    zero = C.dropout_embed(minilm, SENTENCES[:3], seed=1, dropout=0.0).vectors
    assert np.abs(zero - base).max() < 1e-6
    assert minilm.model.training is False
    assert np.abs(C.embed(minilm, SENTENCES[:3]).vectors - base).max() == 0.0
    # the batch of dropout pairs has an easy diagonal: the loss is below chance
    r = C.info_nce(base, d1, 0.05)
    assert r.accuracy == 1.0 and r.loss < np.log(3)


def test_bad_sentence_lists(minilm):
    with pytest.raises(ExplorerError):
        C.embed(minilm, "\n  \n")
    with pytest.raises(ExplorerError):
        C.embed(minilm, ["x"] * (C.MAX_SENTENCES + 1))
    long = C.embed(minilm, ["word " * 400])
    assert long.notes and "256" in long.notes[0]
