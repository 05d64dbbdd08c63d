"""The offline span-corruption model made from SmolLM2, stored as what differs from the packaged weights.

An artefact folder holds ``artifact.json`` (format, base causal LM, recipe, the build's figures),
``delta.safetensors`` (float16: the LoRA updates of every block and the sentinels' vocabulary rows) and
``MODEL_CARD.md``. `load` builds a `PrefixLlamaForSpanCorruption` on the loaded causal LM's tensors
(shared, never written) and puts the stored tensors in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import paths
from explorer.models.catalogue import SMOLLM2_SPAN
from explorer.models.loaded import LoadedModel, describe, freeze
from explorer.models.made.bidirectional_artifact import CARD, DELTA, META, put_delta, write_artifact
from explorer.models.made.bidirectional_artifact import read_meta as read_artifact_meta

if TYPE_CHECKING:
    from torch.nn import Module

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
    """Write the span model's artefact (`bidirectional_artifact.write_artifact`: float16, atomic)."""
    return write_artifact(path, trained_tensors(model), recipe(model), info, card_markdown, base_model)


def read_meta(path: Path | None = None) -> dict:
    return read_artifact_meta(Path(path or default_dir()))


def load(causal: Any, causal_tokenizer: Any, path: Path | None = None):
    """(model, tokenizer, card_markdown, meta): the span-corruption model on `causal`'s shared tensors."""
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
    put_delta(path, trained_tensors(model))
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
