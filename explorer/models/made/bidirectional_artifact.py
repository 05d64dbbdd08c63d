"""The offline masked LM made from SmolLM2, stored as what differs from the packaged weights.

An artefact folder holds:

- ``artifact.json``: format version, the base causal LM (a model id or folder `explorer.load("clm")`
  takes), the recipe (bidirectional blocks, readout, LoRA
  rank and targets, mask token) and the build's figures;
- ``delta.safetensors``: the trained tensors in float16: the LoRA updates of the bidirectional blocks
  (``...q_proj.lora_A`` ...), or the blocks' own weights when they were fully fine-tuned;
- ``MODEL_CARD.md``: how the model was made and how well it does.

`load` builds a `BidirectionalLlamaForMaskedLM` on the loaded causal LM's tensors (shared, never
written) and puts the stored tensors in place; nothing is left at a random initialisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import paths
from explorer.models.made.minilm_mlm import write_atomic

if TYPE_CHECKING:
    from torch.nn import Module

FORMAT = 1
DELTA = "delta.safetensors"
META = "artifact.json"
CARD = "MODEL_CARD.md"
STORE_DTYPE = "float16"
NAME = "ssl-explorer-smollm2-mlm"


def default_dir() -> Path:
    return paths.ASSETS / "models" / NAME


def available(path: Path | None = None) -> bool:
    path = Path(path or default_dir())
    return (path / DELTA).exists() and (path / META).exists()


def trained_tensors(model: Module) -> dict[str, Any]:
    """The tensors a build trains and the artefact stores: LoRA updates, or the bidirectional blocks' weights."""
    from explorer.models.made.bidirectional import lora_parameters

    lora = lora_parameters(model)
    if lora:
        return lora
    prefixes = tuple(f"model.layers.{i}." for i in model.bidirectional_blocks)
    return {n: p for n, p in model.named_parameters() if n.startswith(prefixes)}


def recipe(model: Module) -> dict:
    c = model.config
    return {
        "bidirectional_layers": c.bidirectional_layers,
        "readout": c.readout,
        "lora_rank": c.lora_rank,
        "lora_alpha": c.lora_alpha,
        "lora_targets": list(c.lora_targets),
        "mask_token_id": c.mask_token_id,
        "full_blocks": not any(".lora_" in n for n, _ in model.named_parameters()),
    }


def write_artifact(
    path: Path, tensors: dict, recipe_of: dict, info: dict | None, card_markdown: str | None, base_model: str
) -> Path:
    """Write an artefact of trained tensors (each file replaced atomically); the tensors are rounded to
    float16 in place first, so the model in memory equals the one stored. Shared by the project's models
    made from the causal LM (this masked LM, the span model of `prefix_artifact`)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for p in tensors.values():
            p.copy_(p.to(getattr(torch, STORE_DTYPE)).to(p.dtype))
    stored = {n: p.detach().to(getattr(torch, STORE_DTYPE)).contiguous().clone() for n, p in tensors.items()}
    meta = {
        "format": FORMAT,
        "base_model": base_model,
        "stored_dtype": STORE_DTYPE,
        "recipe": recipe_of,
        "tensors": sorted(stored),
        "info": info or {},
    }
    write_atomic(path, DELTA, lambda f: save_file(stored, f, metadata={"format": str(FORMAT)}))
    write_atomic(path, META, lambda f: Path(f).write_text(json.dumps(meta, indent=1)))
    if card_markdown is not None:
        write_atomic(path, CARD, lambda f: Path(f).write_text(card_markdown))
    return path


def put_delta(path: Path, tensors: dict) -> None:
    """Copy an artefact's stored tensors into the model's (`tensors`: its trained ones, by name)."""
    import torch
    from safetensors.torch import load_file

    delta = load_file(str(Path(path) / DELTA))
    if set(delta) != set(tensors):
        missing, extra = sorted(set(tensors) - set(delta))[:3], sorted(set(delta) - set(tensors))[:3]
        raise ValueError(f"{DELTA} does not match the model (missing {missing}, unexpected {extra})")
    with torch.no_grad():
        for name, t in delta.items():
            tensors[name].copy_(t.to(tensors[name].dtype))


def save(
    model: Module,
    path: Path,
    info: dict | None = None,
    card_markdown: str | None = None,
    base_model: str = "SmolLM2-135M-Instruct",
) -> Path:
    """Write the masked LM's artefact (`write_artifact`)."""
    return write_artifact(path, trained_tensors(model), recipe(model), info, card_markdown, base_model)


def read_meta(path: Path | None = None) -> dict:
    meta = json.loads((Path(path or default_dir()) / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{META}: unknown artefact format {meta.get('format')!r} (expected {FORMAT})")
    return meta


def load(causal: Any, causal_tokenizer: Any, path: Path | None = None):
    """(model, tokenizer, card_markdown, meta): the masked LM on `causal`'s shared tensors plus the delta."""
    from explorer.models.made.bidirectional import (
        BidirectionalLlamaForMaskedLM,
        make_trainable_blocks,
        masked_tokenizer,
    )

    path = Path(path or default_dir())
    meta = read_meta(path)
    r = meta["recipe"]
    tokenizer = masked_tokenizer(causal_tokenizer)
    if tokenizer.mask_token_id != r["mask_token_id"]:
        raise ValueError(
            f"the tokenizer's mask id {tokenizer.mask_token_id} is not the artefact's {r['mask_token_id']}"
        )
    model = BidirectionalLlamaForMaskedLM.from_causal(
        causal,
        bidirectional_layers=r["bidirectional_layers"],
        mask_token_id=r["mask_token_id"],
        readout=r["readout"],
        lora_rank=0 if r["full_blocks"] else r["lora_rank"],
        lora_alpha=r["lora_alpha"],
        lora_targets=tuple(r["lora_targets"]),
    )
    if r["full_blocks"]:
        make_trainable_blocks(model)
    put_delta(path, trained_tensors(model))
    model.requires_grad_(False)
    model.eval()
    card = (path / CARD).read_text() if (path / CARD).exists() else ""
    return model, tokenizer, card, meta
