"""Contrastive sentence embeddings: pooling, cosine similarity, PCA, neighbours and InfoNCE.

`embed` pools a sentence encoder's token vectors the way the model was trained to be used
(all-MiniLM-L6-v2: mean over real tokens, then L2 normalisation, as sentence-transformers does).
`info_nce` is the in-batch contrastive loss (SimCSE, CLIP, sentence-transformers'
MultipleNegativesRankingLoss): for anchors a_i and positives p_i, the logits are
cos(a_i, p_j) / temperature, the positive of row i is column i, every other column is an
in-batch negative, and the loss is the cross-entropy of each row against its diagonal.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from explorer.errors import ExplorerError
from explorer.tokens import clean_text, encode, model_max_tokens

ASSETS = Path(__file__).resolve().parent.parent / "assets"
NEIGHBOURS_FILE = ASSETS / "corpora" / "neighbours.txt"
POOLINGS = ("mean", "cls", "max")
MAX_SENTENCES = 64
MAX_TOKENS = 256  # sentence-transformers' limit for all-MiniLM-L6-v2


# --------------------------------------------------------------------------- pooling


@dataclass(frozen=True)
class Pooling:
    mode: str = "mean"
    normalize: bool = True
    source: str = "default"

    def describe(self) -> str:
        what = {"mean": "mean of the token vectors (padding excluded)", "cls": "the first ([CLS]) token's vector",
                "max": "the largest value of each dimension over the tokens"}[self.mode]
        return what + (", then L2-normalised" if self.normalize else "")


def _pooling_config(folder: Path) -> dict | None:
    cfg = folder / "1_Pooling" / "config.json"
    try:
        return json.loads(cfg.read_text()) if cfg.exists() else None
    except (OSError, ValueError):
        return None


def _mode_from_config(cfg: dict) -> str:
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    if cfg.get("pooling_mode_max_tokens"):
        return "max"
    return "mean"


def pooling_for(lm: Any) -> Pooling:
    """How a loaded encoder's sentence vector is made: from the model's own extra information, its
    sentence-transformers pooling config (local folder or hub cache), or mean + normalise."""
    extra = getattr(lm, "extra", None) or {}
    if extra.get("pooling") in POOLINGS:
        return Pooling(extra["pooling"], bool(extra.get("normalize", True)), "model card")
    model_id = getattr(getattr(lm, "info", None), "model_id", "") or ""
    cfg = None
    if model_id and Path(model_id).expanduser().is_dir():
        folder = Path(model_id).expanduser()
        cfg = _pooling_config(folder)
        modules = folder / "modules.json"
        normalize = "Normalize" in modules.read_text() if modules.exists() else True
    elif model_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(model_id, "1_Pooling/config.json")
            if isinstance(hit, str):
                cfg = json.loads(Path(hit).read_text())
        except Exception:  # noqa: BLE001 - no cache entry: fall back to the default
            cfg = None
        normalize = True
    else:
        normalize = True
    if cfg:
        return Pooling(_mode_from_config(cfg), normalize, "sentence-transformers config")
    return Pooling("mean", True, "default")


def pool(hidden, attention_mask, mode: str = "mean"):
    """Sentence vectors [batch, dim] from token vectors [batch, seq, dim] (torch tensors)."""
    import torch

    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(1).values
    raise ExplorerError(f"Unknown pooling '{mode}'.", f"Use one of: {', '.join(POOLINGS)}.")


# --------------------------------------------------------------------------- embeddings


def clean_sentences(sentences: Sequence[str] | str, *, limit: int = MAX_SENTENCES, minimum: int = 1) -> list[str]:
    """One sentence per item (or per line of a string); blank lines dropped, the count checked."""
    if isinstance(sentences, str):
        sentences = sentences.splitlines()
    out = []
    for s in sentences:
        if s is None or (isinstance(s, float) and math.isnan(s)):
            continue
        s = str(s)
        if not s.strip():
            continue
        out.append(clean_text(s, what="sentence"))
    if len(out) < minimum:
        raise ExplorerError(f"Type at least {minimum} sentence{'s' if minimum > 1 else ''} (one per line).",
                            "Or pick one of the examples.")
    if len(out) > limit:
        raise ExplorerError(f"{len(out)} sentences is more than this page handles at once ({limit}).",
                            "Remove some lines.")
    return out


@dataclass
class Embeddings:
    sentences: list[str]
    vectors: np.ndarray  # [n, dim], float32
    pooling: Pooling
    notes: list[str] = field(default_factory=list)


def _batch(tok: Any, ids_list: list[list[int]]):
    import torch

    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    width = max(len(i) for i in ids_list)
    ids = torch.full((len(ids_list), width), pad, dtype=torch.long)
    att = torch.zeros((len(ids_list), width), dtype=torch.long)
    for r, row in enumerate(ids_list):
        ids[r, :len(row)] = torch.tensor(row)
        att[r, :len(row)] = 1
    return ids, att


def _encode_all(tok: Any, model: Any, sentences: list[str]) -> tuple[list[list[int]], list[str]]:
    """Token ids of the (cleaned) sentences, in one tokenizer call; a sentence over the length limit, or
    with nothing the model can read, goes through `encode` (cut with a note, or refused)."""
    limit = model_max_tokens(tok, model, cap=MAX_TOKENS)
    ids = tok(sentences)["input_ids"]
    added = tok.num_special_tokens_to_add()  # [CLS], [SEP]...: a row no longer than this has no text
    notes: list[str] = []
    for i, row in enumerate(ids):
        if len(row) > limit or len(row) <= added:
            enc = encode(tok, sentences[i], max_tokens=limit, what="sentence")
            ids[i] = enc.ids
            notes += enc.notes
    return ids, notes


def _forward(model: Any, tok: Any, ids_list: list[list[int]], pooling: Pooling, batch_size: int = 32):
    import torch

    out = []
    for start in range(0, len(ids_list), batch_size):
        ids, att = _batch(tok, ids_list[start:start + batch_size])
        hidden = model(input_ids=ids, attention_mask=att).last_hidden_state
        vec = pool(hidden, att, pooling.mode)
        if pooling.normalize:
            vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        out.append(vec)
    return torch.cat(out)


def embed(lm: Any, sentences: Sequence[str] | str, *, pooling: Pooling | str | None = None,
          limit: int = MAX_SENTENCES) -> Embeddings:
    """Sentence embeddings (numpy [n, dim]) pooled the way the encoder expects."""
    import torch

    sentences = clean_sentences(sentences, limit=limit)
    pooling = resolve_pooling(lm, pooling)
    ids_list, notes = _encode_all(lm.tokenizer, lm.model, sentences)
    with torch.inference_mode():
        vec = _forward(lm.model, lm.tokenizer, ids_list, pooling)
    return Embeddings(sentences, vec.float().numpy(), pooling, notes)


def resolve_pooling(lm: Any, pooling: Pooling | str | None) -> Pooling:
    if isinstance(pooling, Pooling):
        return pooling
    base = pooling_for(lm)
    if pooling is None:
        return base
    if pooling not in POOLINGS:
        raise ExplorerError(f"Unknown pooling '{pooling}'.", f"Use one of: {', '.join(POOLINGS)}.")
    return Pooling(pooling, base.normalize, "chosen")


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of `a` with every row of `b` (default: `a`)."""
    b = a if b is None else b
    an = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    bn = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return np.clip(an @ bn.T, -1.0, 1.0)


@dataclass
class Projection:
    coords: np.ndarray  # [n, 2]
    explained: tuple[float, float]  # share of the variance along each axis
    dims: int = 2  # directions with any variance (two sentences differ along one line only: 1)


def pca_2d(vectors: np.ndarray) -> Projection:
    """Principal-component projection to 2-D (SVD of the centred vectors; signs made deterministic)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ExplorerError("A 2-D map needs at least two sentences.", "Add another line.")
    x = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    # sign: make each component's largest-magnitude loading positive
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    coords = x @ comps.T
    if coords.shape[1] < 2:
        coords = np.pad(coords, [[0, 0], [0, 2 - coords.shape[1]]])
    var = s ** 2
    total = var.sum()
    ratios = [float(v / total) if total > 0 else 0.0 for v in var[:2]] + [0.0, 0.0]
    # a direction with only rounding error in it (e.g. the second of two sentences) is no direction
    real = [r > 1e-9 for r in ratios[:2]]
    coords = coords[:, :2].copy()
    for axis, ok in enumerate(real):
        if not ok:
            coords[:, axis] = 0.0
            ratios[axis] = 0.0
    return Projection(coords, (ratios[0], ratios[1]), dims=sum(real))


# --------------------------------------------------------------------------- nearest neighbours


def neighbour_sentences(path: Path = NEIGHBOURS_FILE) -> list[str]:
    """The bundled everyday sentences (one per line; # comments and blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ExplorerError(f"The sentence set {path.name} could not be read.") from exc
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def nearest(query: np.ndarray, corpus: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the `k` corpus rows closest to each query row."""
    sims = cosine_matrix(np.atleast_2d(query), corpus)
    k = max(1, min(int(k), corpus.shape[0]))
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


# --------------------------------------------------------------------------- InfoNCE


@dataclass
class InfoNCE:
    """In-batch contrastive loss for a batch of (anchor, positive) pairs."""

    similarity: np.ndarray  # [n, n] cosine(anchor_i, positive_j)
    temperature: float
    logits: np.ndarray  # similarity / temperature
    probs: np.ndarray  # row-wise softmax: how much each candidate takes of row i's denominator
    row_loss: np.ndarray  # -log probs[i, i]
    loss: float  # mean of row_loss (or of rows and columns when symmetric)
    symmetric: bool = False
    column_loss: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        """Share of anchors whose own positive is the most similar candidate."""
        return float(np.mean(self.similarity.argmax(axis=1) == np.arange(len(self.similarity))))

    def contributions(self) -> np.ndarray:
        """Term (i, j) of row i's loss, log(1 + Σ_j≠i exp((s_ij − s_ii)/τ)): exp((s_ij − s_ii)/τ)
        for each negative j (0 on the diagonal). A term near 0 means that negative is already far
        enough; the row's loss is log(1 + the row's sum)."""
        diag = np.diag(self.logits)[:, None]
        terms = np.exp(self.logits - diag)
        np.fill_diagonal(terms, 0.0)
        return terms


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def info_nce(anchors: np.ndarray, positives: np.ndarray, temperature: float = 0.05, *,
             symmetric: bool = False) -> InfoNCE:
    """InfoNCE over cosine similarities: row i's target is column i, the rest are negatives."""
    a, p = np.asarray(anchors, dtype=np.float64), np.asarray(positives, dtype=np.float64)
    if a.shape != p.shape or a.ndim != 2:
        raise ExplorerError("Every anchor needs exactly one positive.")
    if len(a) < 2:
        raise ExplorerError("A contrastive batch needs at least two pairs (otherwise there are no negatives).",
                            "Add another pair.")
    if not temperature > 0:
        raise ExplorerError("The temperature must be above 0.")
    sim = cosine_matrix(a, p)
    logits = sim / temperature
    logp = _log_softmax(logits, axis=1)
    row_loss = -np.diag(logp)
    col_loss = None
    loss = float(row_loss.mean())
    if symmetric:
        col_loss = -np.diag(_log_softmax(logits, axis=0))
        loss = float((row_loss.mean() + col_loss.mean()) / 2)
    return InfoNCE(sim, float(temperature), logits, np.exp(logp), row_loss, loss, symmetric, col_loss)


# --------------------------------------------------------------------------- positives by augmentation


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


def _dropout_model(model: Any, rate: float | None) -> Any:
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


def dropout_embed(lm: Any, sentences: Sequence[str], *, seed: int = 0, pooling: Pooling | str | None = None,
                  dropout: float | None = None) -> Embeddings:
    """SimCSE's positive: the same sentences encoded again with dropout on (a different random mask).

    `dropout` overrides the model's own dropout rate (e.g. MiniLM's 0.1) for the copy.
    """
    import torch

    sentences = clean_sentences(sentences)
    pooling = resolve_pooling(lm, pooling)
    ids_list, notes = _encode_all(lm.tokenizer, lm.model, sentences)
    with _DROPOUT_LOCK, torch.no_grad(), torch.random.fork_rng(devices=[]):
        model = _dropout_model(lm.model, dropout)  # rate set and used under one lock (several users)
        torch.manual_seed(int(seed))
        vec = _forward(model, lm.tokenizer, ids_list, pooling)
    return Embeddings(sentences, vec.float().numpy(), pooling, notes)


def short_label(sentence: str, width: int = 28) -> str:
    """A chart label for a sentence: first words, cut with an ellipsis."""
    s = re.sub(r"\s+", " ", sentence).strip()
    return s if len(s) <= width else s[: width - 1].rstrip() + "…"


# --------------------------------------------------------------------------- batches of pairs


def parse_pairs(text: str, *, need_positives: bool = True, limit: int = 16) -> list[tuple[str, str]]:
    """Lines of ``anchor | positive`` → pairs. Without `need_positives`, the positive may be missing
    (it is then made by augmentation) and is returned as ""."""
    pairs: list[tuple[str, str]] = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        anchor, sep, positive = line.partition("|")
        if not anchor.strip():
            raise ExplorerError(f"Line {n} has no anchor sentence before the '|'.")
        if need_positives and not positive.strip():
            raise ExplorerError(f"Line {n} has no positive: write 'anchor | positive'.",
                                "Or make the positives by augmentation (dropout or word dropout).")
        pairs.append((clean_text(anchor, what="anchor"),
                      clean_text(positive, what="positive") if positive.strip() else ""))
    if len(pairs) < 2:
        raise ExplorerError("A contrastive batch needs at least two pairs (otherwise there are no negatives).",
                            "Write one 'anchor | positive' pair per line.")
    if len(pairs) > limit:
        raise ExplorerError(f"{len(pairs)} pairs is more than this page shows at once ({limit}).", "Remove some lines.")
    return pairs


def infonce_frame(result: InfoNCE, anchors: Sequence[str], positives: Sequence[str]) -> pd.DataFrame:
    """One row per anchor: its positive, the hardest in-batch negative, P(positive) and its loss term."""
    rows = []
    terms = result.contributions()
    for i, (a, p) in enumerate(zip(anchors, positives)):
        neg = result.similarity[i].copy()
        neg[i] = -np.inf
        j = int(neg.argmax())
        rows.append({
            "anchor": a,
            "positive": p,
            "cos(anchor, positive)": float(result.similarity[i, i]),
            "hardest negative": positives[j],
            "cos(anchor, negative)": float(result.similarity[i, j]),
            "P(positive)": float(result.probs[i, i]),
            "negatives' weight": float(terms[i].sum()),
            "loss term": float(result.row_loss[i]),
        })
    return pd.DataFrame(rows)
