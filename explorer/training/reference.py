"""The reference model's scores of preference pairs (DPO's log π_ref), computed once.

DPO compares the policy with the model as it was, so both answers of every pair are scored by the
reference before training: the 60 bundled pairs take ~20 s of one core with SmolLM2-135M. The scores
are computed once per process (every session training on the same pairs shares them) and, for the
pairs the app ships, kept on disk in the cache folder (`SSL_EXPLORER_CACHE`, where the converted
models are), so a restarted server starts a DPO run at once. A participant's own pairs never go to
disk. A file is found again only for the same weights (a fingerprint of the model), the same token
ids and the same torch version; anything else scores afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn import Module

from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.made.gguf_cache import cache_dir

FORMAT = 1
FOLDER = "dpo-reference"
SAMPLE = 64  # values read from each parameter tensor for the fingerprint

Scores = tuple[torch.Tensor, torch.Tensor]  # (log π_ref(chosen), log π_ref(rejected)) per pair

_MEMORY = ForwardCache(8)  # a room training on the same pairs scores them with the reference once
_FINGERPRINTS: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def fingerprint(model: Module) -> str:
    """A digest of a model's weights (every tensor's name, shape and evenly spaced values) and config."""
    known = _FINGERPRINTS.get(model)
    if known is not None:
        return known
    h = hashlib.sha1(f"{FORMAT}|{type(model).__name__}|{torch.__version__}".encode())
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        h.update(config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, p in model.state_dict().items():
            flat = p.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // SAMPLE)][:SAMPLE].to(torch.float64)
            h.update(f"{name}{tuple(p.shape)}{p.dtype}".encode())
            h.update(sample.numpy().tobytes())
    _FINGERPRINTS[model] = digest = h.hexdigest()
    return digest


def _path(model: Module, key: str) -> Path:
    return cache_dir() / FOLDER / f"{fingerprint(model)[:20]}-{key[:20]}.json"


def load(model: Module, key: str) -> Scores | None:
    """The scores kept on disk for this model and these pairs, or None."""
    try:
        data = json.loads(_path(model, key).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("key") != key or data.get("model") != fingerprint(model):
            return None
        chosen, rejected = data["chosen"], data["rejected"]
        if len(chosen) != len(rejected) or not chosen:
            return None
        return torch.tensor(chosen, dtype=torch.float32), torch.tensor(rejected, dtype=torch.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(model: Module, key: str, scores: Scores) -> None:
    """Keep the scores on disk (written whole, then renamed: a reader never sees half a file)."""
    path = _path(model, key)
    data = {
        "format": FORMAT,
        "key": key,
        "model": fingerprint(model),
        "chosen": [float(x) for x in scores[0]],
        "rejected": [float(x) for x in scores[1]],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:  # a read-only cache folder: the scores stay in memory only
        pass


def scores(model: Module, key: str, compute: Callable[[], Scores], *, persist: bool = False) -> Scores:
    """`compute()`'s scores of the pairs `key` names under `model`: from memory, from disk (`persist`,
    for the bundled pairs), or computed (and kept). A model in training is never cached."""
    if not is_frozen(model):
        return compute()

    def from_disk_or_compute() -> Scores:
        found = load(model, key) if persist else None
        if found is not None:
            return found
        computed = compute()
        if persist:
            save(model, key, computed)
        return computed

    chosen, rejected = _MEMORY.get(model, (key,), from_disk_or_compute)
    return chosen.clone(), rejected.clone()
