"""What a model weighs before it is loaded: its parameters and its bytes on disk, read from its files'
safetensors headers, never from the weights themselves (milliseconds: a page that only describes models,
such as Home, stays instant on a fresh server). SmolLM2's count comes from its float32 copy, made on its
first load; before that only its file's size is known."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from explorer.errors import ModelUnavailable
from explorer.models import policy
from explorer.models.catalogue import DEFAULTS, MINILM, PROJECT_MLM, SMOLLM2, SMOLLM2_MLM, minilm_dir, project_mlm_dir
from explorer.models.made import gguf_cache

FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}  # weights; integer tensors are buffers


@dataclass(frozen=True)
class FileSize:
    """A model's parameter count and what its files take on disk (`disk_note`: which files)."""

    params: int | None  # None: not known before the model is first loaded
    disk_bytes: int
    disk_note: str = ""


def safetensors_header(path: Path) -> dict[str, dict]:
    """Tensor name -> {dtype, shape, data_offsets}, from a .safetensors file's header alone."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header


def safetensors_params(path: Path, names: set[str] | None = None) -> int:
    """Elements of the floating-point tensors (those in `names`, if given) of a .safetensors file."""
    return sum(
        math.prod(t["shape"])
        for name, t in safetensors_header(path).items()
        if t.get("dtype") in FLOAT_DTYPES and (names is None or name in names)
    )


def _smollm2_params() -> int | None:
    """SmolLM2's count from its float32 copy (made on the first load); reading the GGUF's tensor table
    instead takes some 10 s, too long for a page that only describes the model."""
    cache = gguf_cache.smollm2_cache_path() / "model.safetensors"
    return safetensors_params(cache) if cache.is_file() else None


def _offline(model_id: str) -> FileSize | None:
    from explorer.models.made import bidirectional_artifact, minilm_mlm

    if model_id == SMOLLM2:
        return FileSize(_smollm2_params(), gguf_cache.smollm2_gguf().stat().st_size, "4-bit GGUF")
    if model_id == MINILM:
        weights = minilm_dir() / "model.safetensors"
        return FileSize(safetensors_params(weights), weights.stat().st_size, "float32 safetensors")
    if model_id == SMOLLM2_MLM and bidirectional_artifact.available():
        delta = bidirectional_artifact.default_dir() / bidirectional_artifact.DELTA
        base = _smollm2_params()
        return FileSize(
            None if base is None else base + safetensors_params(delta),
            delta.stat().st_size,
            f"its own updates; the rest is {SMOLLM2}'s",
        )
    if model_id == PROJECT_MLM and minilm_mlm.available(project_mlm_dir()):
        delta = project_mlm_dir() / minilm_mlm.DELTA  # every weight but the (tied) word embeddings
        shared = {name.removeprefix("bert.") for name in minilm_mlm.FROZEN}
        params = safetensors_params(delta) + safetensors_params(minilm_dir() / "model.safetensors", shared)
        return FileSize(params, delta.stat().st_size, f"its trained weights; the word embeddings are {MINILM}'s")
    return None


def file_size(role: str, model_id: str | None) -> FileSize | None:
    """Parameters and bytes on disk of an offline model (the role's default for None); None for a hub
    model or a local folder (known once loaded) and for a model whose files are not there."""
    model_id = policy.canonical_id(model_id or "") or (DEFAULTS.get(role) or "")
    if model_id not in policy.offline_ids():
        return None
    try:
        return _offline(model_id)
    except (OSError, ValueError, KeyError, ImportError, ModelUnavailable):
        return None
