"""Model roles (masked LM, causal LM, seq2seq, sentence encoder): which ones a configuration
can serve, and whether a model's parameter count fits the server."""

from __future__ import annotations

import os
from typing import Any

from explorer.errors import ModelUnavailable
from explorer.models.loaded import param_count

ROLES = ("mlm", "clm", "seq2seq", "encoder")
ROLE_NAMES = {
    "mlm": "Masked LM",
    "clm": "Causal LM",
    "seq2seq": "Seq2seq (T5-style)",
    "encoder": "Sentence encoder",
}

DEFAULT_MAX_PARAMS = 1_000_000_000


def max_params() -> int:
    try:
        return int(float(os.environ.get("SSL_EXPLORER_MAX_PARAMS", DEFAULT_MAX_PARAMS)))
    except ValueError:
        return DEFAULT_MAX_PARAMS


def auto_class(role: str):
    import transformers as tf

    return {
        "mlm": tf.AutoModelForMaskedLM,
        "clm": tf.AutoModelForCausalLM,
        "seq2seq": tf.AutoModelForSeq2SeqLM,
        "encoder": tf.AutoModel,
    }[role]


def role_mapping(role: str):
    """The model types transformers knows for a role (its auto classes' name mappings)."""
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
        if mt in role_mapping(role):
            out.append(role)
    # Architectures tell what the checkpoint was trained for (BERT supports clm too, but is an MLM).
    if "MaskedLM" in archs or "ForPreTraining" in archs:
        out = ["mlm"] + [r for r in out if r != "mlm"]
    if "ConditionalGeneration" in archs and "seq2seq" in out:
        out = ["seq2seq"] + [r for r in out if r != "seq2seq"]
    if mt in role_mapping("encoder"):
        out.append("encoder")
    return out


def check_role(config: Any, role: str, model_id: str, *, folder: bool = False) -> None:
    """Refuse a model of the wrong kind; for a server folder, without telling what it holds."""
    mt = getattr(config, "model_type", "?")
    if folder and (
        mt not in role_mapping(role)
        or (role == "clm" and any("MaskedLM" in a for a in getattr(config, "architectures", None) or []))
    ):
        raise ModelUnavailable(
            f"{model_id[:1].upper() + model_id[1:]} does not hold a {ROLE_NAMES[role]} this app can load.",
            "Pick a model of the right kind in the sidebar.",
        )
    if mt not in role_mapping(role):
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


def estimate_params(config: Any, role: str) -> int:
    """Parameter count from a config alone (no weights allocated)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        m = auto_class(role).from_config(config)
    return param_count(m)


def check_size(n_params: int, model_id: str) -> None:
    limit = max_params()
    if n_params > limit:
        raise ModelUnavailable(
            f"'{model_id}' has {n_params / 1e6:,.0f} M parameters; this server allows at most {limit / 1e6:,.0f} M.",
            "Pick a smaller model, or raise SSL_EXPLORER_MAX_PARAMS when starting the app.",
        )
