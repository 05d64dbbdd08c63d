"""Sentence embeddings from an encoder: pooling of its token vectors, cosine similarity, a 2-D PCA
map and nearest neighbours in a bundled sentence set."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from explorer import paths
from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache
from explorer.models.loaded import LoadedModel
from explorer.tokens import clean_text, encode, model_max_tokens

if TYPE_CHECKING:
    from torch.nn import Module

ASSETS = paths.ASSETS
NEIGHBOURS_FILE = ASSETS / "corpora" / "neighbours.txt"
POOLINGS = ("mean", "cls", "max")
MAX_SENTENCES = 64
MAX_TOKENS = 256  # sentence-transformers' limit for all-MiniLM-L6-v2
_VECTORS = ForwardCache(64)  # per encoder: (token ids, pooling) -> sentence vectors (a room on one example)


# --------------------------------------------------------------------------- pooling


@dataclass(frozen=True)
class Pooling:
    mode: str = "mean"
    normalize: bool = True
    source: str = "default"

    def describe(self) -> str:
        what = {
            "mean": "mean of the token vectors (padding excluded)",
            "cls": "the first ([CLS]) token's vector",
            "max": "the largest value of each dimension over the tokens",
        }[self.mode]
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


def pooling_for(lm: LoadedModel) -> Pooling:
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
        raise ExplorerError(
            f"Type at least {minimum} sentence{'s' if minimum > 1 else ''} (one per line).",
            "Or pick one of the examples.",
        )
    if len(out) > limit:
        raise ExplorerError(
            f"{len(out)} sentences is more than this page handles at once ({limit}).", "Remove some lines."
        )
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
        ids[r, : len(row)] = torch.tensor(row)
        att[r, : len(row)] = 1
    return ids, att


def encode_sentences(tok: Any, model: Module, sentences: list[str]) -> tuple[list[list[int]], list[str]]:
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


def pooled_vectors(model: Module, tok: Any, ids_list: list[list[int]], pooling: Pooling, batch_size: int = 32):
    """The pooled (and, where the model expects it, normalised) vectors of token-id rows, in batches (a tensor)."""
    import torch

    # an encoder-decoder (T5) embeds with its encoder, as sentence-T5 does: its decoder has nothing to read
    encoder = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model
    out = []
    for start in range(0, len(ids_list), batch_size):
        ids, att = _batch(tok, ids_list[start : start + batch_size])
        hidden = encoder(input_ids=ids, attention_mask=att).last_hidden_state
        vec = pool(hidden, att, pooling.mode)
        if pooling.normalize:
            vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        out.append(vec)
    return torch.cat(out)


def embed(
    lm: LoadedModel, sentences: Sequence[str] | str, *, pooling: Pooling | str | None = None, limit: int = MAX_SENTENCES
) -> Embeddings:
    """Sentence embeddings (numpy [n, dim]) pooled the way the encoder expects."""
    import torch

    sentences = clean_sentences(sentences, limit=limit)
    pooling = resolve_pooling(lm, pooling)
    ids_list, notes = encode_sentences(lm.tokenizer, lm.model, sentences)

    def compute() -> np.ndarray:
        with torch.inference_mode():
            vectors = pooled_vectors(lm.model, lm.tokenizer, ids_list, pooling).float().numpy()
        vectors.setflags(write=False)  # shared by every session asking for the same sentences
        return vectors

    key = (tuple(tuple(ids) for ids in ids_list), pooling.mode, pooling.normalize)
    return Embeddings(sentences, _VECTORS.get(lm.model, key, compute), pooling, notes)


def resolve_pooling(lm: LoadedModel, pooling: Pooling | str | None) -> Pooling:
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
    var = s**2
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


def short_label(sentence: str, width: int = 28) -> str:
    """A chart label for a sentence: first words, cut with an ellipsis."""
    s = re.sub(r"\s+", " ", sentence).strip()
    return s if len(s) <= width else s[: width - 1].rstrip() + "…"
