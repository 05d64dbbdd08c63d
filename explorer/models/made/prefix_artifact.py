"""The offline span-corruption model made from SmolLM2, stored as what differs from the packaged weights.

An artefact folder holds ``artifact.json`` (format, base causal LM, recipe, the build's figures),
``delta.safetensors`` (float16: the LoRA updates of every block and the sentinels' vocabulary rows) and
``MODEL_CARD.md``. `load` builds a `PrefixLlamaForSpanCorruption` on the loaded causal LM's tensors
(shared, never written) and puts the stored tensors in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import paths
from explorer.models.catalogue import SMOLLM2_SPAN
from explorer.models.loaded import LoadedModel, describe, freeze
from explorer.models.made.minilm_mlm import write_atomic

if TYPE_CHECKING:
    from torch.nn import Module

FORMAT = 1
DELTA = "delta.safetensors"
META = "artifact.json"
CARD = "MODEL_CARD.md"
STORE_DTYPE = "float16"
NAME = SMOLLM2_SPAN


def default_dir() -> Path:
    return paths.ASSETS / "models" / NAME


def available(path: Path | None = None) -> bool:
    path = Path(path or default_dir())
    return (path / DELTA).exists() and (path / META).exists()


def trained_tensors(model: Module) -> dict[str, Any]:
    """What a build trains and the artefact stores: the LoRA updates and the sentinels' rows."""
    return {n: p for n, p in model.named_parameters() if ".lora_" in n or n.endswith("embed_tokens.extra")}


def recipe(model: Module) -> dict:
    c = model.config
    return {
        "sentinels": c.sentinels,
        "base_vocab_size": c.base_vocab_size,
        "lora_rank": c.lora_rank,
        "lora_alpha": c.lora_alpha,
        "lora_targets": list(c.lora_targets),
    }


def save(
    model: Module,
    path: Path,
    info: dict | None = None,
    card_markdown: str | None = None,
    base_model: str = "SmolLM2-135M-Instruct",
) -> Path:
    """Write the artefact (each file replaced atomically); the trained tensors are rounded to float16 in
    place first, so the model in memory equals the one stored."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = trained_tensors(model)
    with torch.no_grad():
        for p in tensors.values():
            p.copy_(p.to(getattr(torch, STORE_DTYPE)).to(p.dtype))
    stored = {n: p.detach().to(getattr(torch, STORE_DTYPE)).contiguous().clone() for n, p in tensors.items()}
    meta = {
        "format": FORMAT,
        "base_model": base_model,
        "stored_dtype": STORE_DTYPE,
        "recipe": recipe(model),
        "tensors": sorted(stored),
        "info": info or {},
    }
    write_atomic(path, DELTA, lambda f: save_file(stored, f, metadata={"format": str(FORMAT)}))
    write_atomic(path, META, lambda f: Path(f).write_text(json.dumps(meta, indent=1)))
    if card_markdown is not None:
        write_atomic(path, CARD, lambda f: Path(f).write_text(card_markdown))
    return path


def read_meta(path: Path | None = None) -> dict:
    meta = json.loads((Path(path or default_dir()) / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{META}: unknown artefact format {meta.get('format')!r} (expected {FORMAT})")
    return meta


def load(causal: Any, causal_tokenizer: Any, path: Path | None = None):
    """(model, tokenizer, card_markdown, meta): the span-corruption model on `causal`'s shared tensors."""
    import torch
    from safetensors.torch import load_file

    from explorer.models.made.prefix_lm import PrefixLlamaForSpanCorruption, configure, span_tokenizer

    path = Path(path or default_dir())
    meta = read_meta(path)
    r = meta["recipe"]
    tokenizer = span_tokenizer(causal_tokenizer, sentinels=r["sentinels"])
    model = PrefixLlamaForSpanCorruption.from_causal(
        causal,
        sentinels=r["sentinels"],
        lora_rank=r["lora_rank"],
        lora_alpha=r["lora_alpha"],
        lora_targets=tuple(r["lora_targets"]),
    )
    if model.config.base_vocab_size != r["base_vocab_size"]:
        raise ValueError(f"the causal LM's vocabulary is not the artefact's ({r['base_vocab_size']})")
    configure(model, tokenizer)
    delta = load_file(str(path / DELTA))
    tensors = trained_tensors(model)
    if set(delta) != set(tensors):
        missing, extra = sorted(set(tensors) - set(delta))[:3], sorted(set(delta) - set(tensors))[:3]
        raise ValueError(f"{DELTA} does not match the model (missing {missing}, unexpected {extra})")
    with torch.no_grad():
        for name, t in delta.items():
            tensors[name].copy_(t.to(tensors[name].dtype))
    model.requires_grad_(False)
    model.eval()
    card = (path / CARD).read_text() if (path / CARD).exists() else ""
    return model, tokenizer, card, meta


def loaded(causal: LoadedModel, path: Path | None = None) -> LoadedModel:
    """The artefact on a loaded causal LM, frozen and described for the pages."""
    model, tok, card, meta = load(causal.model, causal.tokenizer, path)
    freeze(model)
    info = describe(
        model,
        tok,
        model_id=NAME,
        role="seq2seq",
        name="SSL-Explorer SmolLM2-Span (prefix LM)",
        source="project",
        licence="Apache-2.0",
        note=f"{causal.info.name}'s own weights read as a prefix LM (the corrupted input in both directions, "
        "the target left to right) with T5's sentinels as new tokens, trained on span corruption (LoRA); "
        "shares every weight of the causal LM.",
    )
    build = {k: meta["info"][k] for k in ("step", "minutes") if k in meta.get("info", {})}
    return LoadedModel(
        model, tok, info, extra={"card": card, "shares_weights_with": causal.info.model_id, "build": build}
    )
