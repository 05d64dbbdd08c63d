"""The payoff of self-supervision: a linear probe (logistic regression) fitted on a handful of labelled
digits per class, on the features of the self-supervised encoder, of a randomly initialised encoder
of the same architecture, and on the raw pixels; accuracy measured on the held-out digits only.

The labelled digits are drawn (seeded, `repeats` different draws averaged) from the training split;
the held-out digits are never used to fit anything. Also: the 2-D map (PCA) of held-out features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from explorer.errors import ExplorerError

if TYPE_CHECKING:
    from torch.nn import Module

LABELS_PER_CLASS = (5, 10, 20)
PROBE_C = 1.0  # inverse L2 strength of the logistic regression (features standardised first)
SSL_NAME, RANDOM_NAME, PIXELS_NAME = "self-supervised encoder", "random encoder (same architecture)", "raw pixels"


def labelled_subset(labels: np.ndarray, pool: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """`per_class` indices of each class, drawn (seeded) from the indices in `pool`."""
    labels, pool = np.asarray(labels), np.asarray(pool)
    per_class = int(per_class)
    if per_class < 1:
        raise ExplorerError("A probe needs at least one labelled example per class.")
    rng = np.random.default_rng(int(seed))
    out = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        if len(members) < per_class:
            raise ExplorerError(
                f"Class {c} has only {len(members)} training examples; {per_class} were asked for.",
                "Ask for fewer labels per class.",
            )
        out.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(out))


def encoder_features(model: Module, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """The encoder's representation (`model.features`) of images [n, H, W], without gradients."""
    import torch

    x = np.asarray(images, dtype=np.float32)
    with torch.no_grad():
        parts = [model.features(torch.tensor(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def pixel_features(images: np.ndarray) -> np.ndarray:
    """The raw pixels as a flat vector per image."""
    x = np.asarray(images, dtype=np.float32)
    return x.reshape(len(x), -1)


def linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, c: float = PROBE_C
) -> float:
    """Held-out accuracy of a logistic regression on standardised features (scaler fitted on the
    labelled examples only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(train_y)) < 2:
        raise ExplorerError("A probe needs labelled examples of at least two classes.")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    clf.fit(np.asarray(train_x, dtype=np.float64), train_y)
    return float(clf.score(np.asarray(test_x, dtype=np.float64), test_y))


def probe_table(
    featurizers: dict[str, Callable[[np.ndarray], np.ndarray]],
    images: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    per_class: Sequence[int] = LABELS_PER_CLASS,
    repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (features, labels per class): mean and spread (standard deviation) of the held-out
    accuracy over `repeats` draws of the labelled digits (the same draws for every kind of features)."""
    labels = np.asarray(labels)
    feats = {name: (f(images[train_idx]), f(images[test_idx])) for name, f in featurizers.items()}
    pos = {int(i): k for k, i in enumerate(train_idx)}
    rows = []
    for k in per_class:
        draws = [labelled_subset(labels, train_idx, k, seed + r) for r in range(max(1, int(repeats)))]
        for name, (tr, te) in feats.items():
            accs = [linear_probe(tr[[pos[int(i)] for i in d]], labels[d], te, labels[test_idx]) for d in draws]
            rows.append(
                {
                    "features": name,
                    "labels per class": int(k),
                    "accuracy": float(np.mean(accs)),
                    "spread": float(np.std(accs)),
                    "labelled digits": int(k) * len(np.unique(labels)),
                    "held-out digits": len(test_idx),
                }
            )
    return pd.DataFrame(rows)


def compare_probes(
    model: Module,
    random_model: Any,
    *,
    dev: bool = False,
    per_class: Sequence[int] = LABELS_PER_CLASS,
    repeats: int = 5,
    seed: int = 0,
    others: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The side-by-side table on the digits' fixed split: the self-supervised encoder `model`, the
    `random_model` (same architecture, untrained: e.g. `digit_encoder(run seed)`), raw pixels, and `others`
    (name → another trained encoder read through its `features`, e.g. SimCLR's beside DINO's, or a function
    from images to features, e.g. an MAE's)."""
    from explorer.vision.data import digits

    d = digits()
    train, test = d.split(dev)
    extra = {
        name: (lambda x, m=m: encoder_features(m, x)) if hasattr(m, "features") else m
        for name, m in (others or {}).items()
    }
    return probe_table(
        {
            SSL_NAME: lambda x: encoder_features(model, x),
            **extra,
            RANDOM_NAME: lambda x: encoder_features(random_model, x),
            PIXELS_NAME: pixel_features,
        },
        d.images,
        d.labels,
        train,
        test,
        per_class=per_class,
        repeats=repeats,
        seed=seed,
    )


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """The probe table with one row per kind of features and one column per labels-per-class."""
    out = table.pivot(index="features", columns="labels per class", values="accuracy")
    out.columns = [f"{c} labels per class" for c in out.columns]
    order = [n for n in (SSL_NAME, RANDOM_NAME, PIXELS_NAME) if n in out.index] + [
        n for n in out.index if n not in (SSL_NAME, RANDOM_NAME, PIXELS_NAME)
    ]
    return out.loc[order].reset_index()


@dataclass
class EmbeddingMap:
    """Held-out images on a 2-D map: PCA of their features."""

    coords: np.ndarray  # [n, 2]
    explained: tuple[float, float]
    labels: np.ndarray  # the digit of each point (colour only: the map is made without labels)
    index: np.ndarray  # which digits (indices into `digits().images`)


def embedding_map(model: Module | None, *, limit: int = 540, dev: bool = False) -> EmbeddingMap:
    """The first `limit` held-out digits on a PCA map of the encoder's features (`model` None: raw pixels)."""
    from explorer.contrastive.embeddings import pca_2d
    from explorer.vision.data import digits

    d = digits()
    idx = d.split(dev)[1][: max(2, int(limit))]
    x = d.images[idx]
    feats = pixel_features(x) if model is None else encoder_features(model, x)
    proj = pca_2d(feats)
    return EmbeddingMap(proj.coords, proj.explained, d.labels[idx], idx)
