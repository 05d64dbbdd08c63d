"""What a model is, which exist, how one is loaded and held.

- `loaded`: `LoadedModel` (model, tokenizer, `ModelInfo`, extra), the one handle every core function takes;
- `catalogue`: the offline models' ids and folders, each role's default, the suggested hub ids;
- `roles`: which roles a configuration serves, the size limit; `policy`: which models a server offers
  (SSL_EXPLORER_MODELS); `hub`: the local cache first, then the Hugging Face hub;
- `loader`: `load(role, model_id=None)`; `cache`: the models a server holds within its memory budget
  (`cache.SHARED`); `sizes`: a model's parameters and bytes on disk before it is loaded;
- `made/`: the project's own models (SmolLM2's float32 cache, the masked LM made from it, the MiniLM-MLM,
  bfloat16 products).

Loaded models are frozen (eval, no grad, eager attention) and shared: never modify them; deep-copy to train.
"""

from explorer.models.loaded import LoadedModel, ModelInfo, ProgressFn, describe, package_dir
from explorer.models.catalogue import (
    DEFAULTS,
    MINILM,
    OFFLINE_ALTERNATIVES,
    OFFLINE_IDS,
    OFFLINE_LABELS,
    PROJECT_MLM,
    SMOLLM2,
    SMOLLM2_MLM,
    SMOLLM2_SPAN,
    SUGGESTED,
    minilm_dir,
    project_mlm_dir,
)
from explorer.models.roles import (
    DEFAULT_MAX_PARAMS,
    ROLE_NAMES,
    ROLES,
    check_role,
    check_size,
    estimate_params,
    max_params,
    roles_for_config,
)
from explorer.models.hub import hub_reachable
from explorer.models.made.gguf_cache import (
    CACHE_FORMAT,
    SMOLLM2_GGUF,
    cache_dir,
    cache_ok,
    convert_smollm2,
    prepare_offline_defaults,
    smollm2_cache_path,
    smollm2_gguf,
)
from explorer.models.loader import load

__all__ = [
    "LoadedModel",
    "ModelInfo",
    "ProgressFn",
    "describe",
    "package_dir",
    "DEFAULTS",
    "MINILM",
    "OFFLINE_ALTERNATIVES",
    "OFFLINE_IDS",
    "OFFLINE_LABELS",
    "PROJECT_MLM",
    "SMOLLM2",
    "SMOLLM2_MLM",
    "SMOLLM2_SPAN",
    "SUGGESTED",
    "minilm_dir",
    "project_mlm_dir",
    "DEFAULT_MAX_PARAMS",
    "ROLE_NAMES",
    "ROLES",
    "check_role",
    "check_size",
    "estimate_params",
    "max_params",
    "roles_for_config",
    "hub_reachable",
    "CACHE_FORMAT",
    "SMOLLM2_GGUF",
    "cache_dir",
    "cache_ok",
    "convert_smollm2",
    "prepare_offline_defaults",
    "smollm2_cache_path",
    "smollm2_gguf",
    "load",
]
