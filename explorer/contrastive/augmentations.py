"""Positives by augmentation for contrastive sentence embeddings: word-dropout views of a sentence,
and SimCSE's dropout noise (the same sentence encoded again with dropout on)."""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from explorer.contrastive.embeddings import (
    Embeddings,
    Pooling,
    clean_sentences,
    encode_sentences,
    pooled_vectors,
    resolve_pooling,
)
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.tokens import clean_text

if TYPE_CHECKING:
    from torch.nn import Module


def word_dropout(sentence: str, p: float, rng: np.random.Generator) -> str:
    """Drop each word with probability `p` (at least one word is kept)."""
    words = clean_text(sentence, what="sentence").split()
    keep = rng.random(len(words)) >= p
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def word_dropout_views(sentences: Sequence[str], p: float = 0.1, seed: int = 0) -> list[str]:
    """One word-dropout view per sentence (seeded)."""
    if not 0.0 <= p < 1.0:
        raise ExplorerError("The word-dropout rate must be between 0 and 1.")
    rng = np.random.default_rng(int(seed))
    return [word_dropout(s, p, rng) for s in sentences]


_DROPOUT_COPIES: dict[int, tuple[Any, Any]] = {}
_DROPOUT_LOCK = threading.Lock()


def _dropout_model(model: Module, rate: float | None) -> Any:
    """A deep copy of the shared encoder in train mode (dropout on); the shared model is untouched.

    `rate` sets every dropout layer of the copy (None: the model's own rates)."""
    import torch

    hit = _DROPOUT_COPIES.get(id(model))
    if hit is None or hit[0] is not model:
        clone = copy.deepcopy(model)
        clone.train()
        clone.requires_grad_(False)
        for mod in clone.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.own_rate = mod.p
        _DROPOUT_COPIES.clear()
        _DROPOUT_COPIES[id(model)] = hit = (model, clone)
    clone = hit[1]
    for mod in clone.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = mod.own_rate if rate is None else float(rate)
    return clone


def dropout_embed(
    lm: LoadedModel,
    sentences: Sequence[str],
    *,
    seed: int = 0,
    pooling: Pooling | str | None = None,
    dropout: float | None = None,
) -> Embeddings:
    """SimCSE's positive: the same sentences encoded again with dropout on (a different random mask).

    `dropout` overrides the model's own dropout rate (e.g. MiniLM's 0.1) for the copy.
    """
    import torch

    sentences = clean_sentences(sentences)
    pooling = resolve_pooling(lm, pooling)
    ids_list, notes = encode_sentences(lm.tokenizer, lm.model, sentences)
    with _DROPOUT_LOCK, torch.no_grad(), torch.random.fork_rng(devices=[]):
        model = _dropout_model(lm.model, dropout)  # rate set and used under one lock (several users)
        torch.manual_seed(int(seed))
        vec = pooled_vectors(model, lm.tokenizer, ids_list, pooling)
    return Embeddings(sentences, vec.float().numpy(), pooling, notes)
