"""A loaded model: the network, its tokenizer and what a page tells about it (`ModelInfo`),
with the steps every loader shares (eval mode, eager attention, a packaged model's folder)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from explorer.tokens import max_positions

if TYPE_CHECKING:
    from torch.nn import Module

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    role: str
    name: str
    architecture: str
    params: int
    layers: int
    heads: int
    max_length: int
    vocab_size: int
    source: str  # "packaged", "project", "hub cache", "hub", "local folder"
    licence: str = ""
    note: str = ""

    @property
    def params_millions(self) -> float:
        return self.params / 1e6


@dataclass
class LoadedModel:
    model: Module
    tokenizer: Any
    info: ModelInfo
    extra: dict = field(default_factory=dict)

    @property
    def role(self) -> str:
        return self.info.role


def model_parts(lm: LoadedModel) -> tuple[Any, Any]:
    """(model, tokenizer) of a `LoadedModel`, the one way a model is passed to the core; every core function
    that takes a model reads it through here, so a wrong argument fails the same way everywhere."""
    if hasattr(lm, "model") and hasattr(lm, "tokenizer"):
        return lm.model, lm.tokenizer
    raise TypeError("pass a LoadedModel (explorer.load, or LoadedModel(model, tokenizer, info) in a test)")


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def freeze(model: Module) -> Any:
    """Eval mode, no gradients, eager attention (so attention weights can be returned): how every
    loader hands a model over."""
    model.eval()
    model.requires_grad_(False)
    try:
        model.set_attn_implementation("eager")
    except Exception:  # noqa: BLE001 - older/odd models: config flag is enough
        model.config._attn_implementation = "eager"
    return model


def param_count(model: Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _first(config: Any, *names: str, default: int = 0) -> int:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and v > 0:
            return v
    return default


def describe(
    model: Module,
    tokenizer: Any,
    *,
    model_id: str,
    role: str,
    name: str,
    source: str,
    licence: str = "",
    note: str = "",
) -> ModelInfo:
    cfg = model.config
    max_length = max_positions(model, tokenizer, default=512)  # T5's relative positions: its training length
    if getattr(cfg, "model_type", "") == "t5":
        max_length = min(max_length, 512)
    return ModelInfo(
        model_id=model_id,
        role=role,
        name=name,
        architecture=type(model).__name__,
        params=param_count(model),
        layers=_first(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        heads=_first(cfg, "num_attention_heads", "n_head", "num_heads"),
        max_length=max_length,
        vocab_size=_first(cfg, "vocab_size"),
        source=source,
        licence=licence,
        note=note,
    )
