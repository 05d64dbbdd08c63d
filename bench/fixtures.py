"""Models and texts shared by the benchmarks.

The masked LM is chosen by `--mlm`:

- a hub id or a folder: that model;
- ``default`` (the default): the project's own masked LM when it is built, else the stand-in;
- ``standin``: all-MiniLM-L6-v2 with an untrained masked-LM head, the same size and shape as the
  project's model (its predictions mean nothing, its speed is the real one);
- ``tiny``: a randomly initialised 2-layer BERT with the MiniLM vocabulary (for quick checks).

Stand-ins are saved to a temporary folder, so that the app can load them too (sidebar, "Other
model id…"). Every result says which model was used.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# About 20 tokens for both default tokenizers (22 with [CLS]/[SEP] for the masked LM, 20 for SmolLM2).
SENTENCE = "The old fisherman walked slowly along the quiet beach at sunrise, looking for shells in the wet sand."
# The span-corruption page's benchmark settings: SENTENCE (20 SmolLM2 tokens) with T5's density and spans of
# 1.5 tokens on average, so that every seed drops 3 tokens in 2 spans.
SPAN_DENSITY, SPAN_MEAN_LENGTH = 0.15, 1.5
# Words of SENTENCE that the browser benchmarks mask in turn (one WordPiece each).
WORDS = ["beach", "sand", "shells", "sunrise", "quiet", "old", "fisherman", "walked"]
SENTENCES = [  # three pairs of paraphrases, as on the contrastive page
    "The children are playing football in the park.",
    "Kids kick a ball around on the grass.",
    "She is reading a novel by the window.",
    "A woman reads a book next to the window.",
    "The stock market fell sharply today.",
    "Share prices dropped a lot this afternoon.",
]

_TEMP: list[Path] = []


@dataclass
class MLMChoice:
    lm: object  # LoadedModel
    folder: str | None  # what to type in the app's "Other model id…" box; None: the app's default
    label: str  # which model, for the output


def _temp_folder(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _TEMP.append(path)
    return path


@atexit.register
def _cleanup() -> None:
    for path in _TEMP:
        shutil.rmtree(path, ignore_errors=True)


def _save_standin(kind: str) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from explorer.models.catalogue import minilm_dir
    from explorer.models.loaded import quiet_transformers
    from explorer.models.made import minilm_mlm

    quiet_transformers()
    folder = _temp_folder(f"bench-mlm-{kind}-")
    if kind == "tiny":
        tok = AutoTokenizer.from_pretrained(minilm_dir())
        torch.manual_seed(0)
        cfg = BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            architectures=["BertForMaskedLM"],
        )
        model = BertForMaskedLM(cfg)
    else:
        model, tok = minilm_mlm.base_model(minilm_dir())
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def masked_lm(choice: str = "default") -> MLMChoice:
    """The masked LM the benchmarks use (see the module docstring)."""
    from explorer import ModelUnavailable, load

    choice, note = (choice or "default").strip(), ""
    if choice == "default":
        try:
            return MLMChoice(load("mlm"), None, "the project's masked LM (app default)")
        except ModelUnavailable:
            choice, note = "standin", " (the project's masked LM is not built yet)"
    if choice in ("standin", "tiny"):
        folder = _save_standin(choice)
        label = (
            "MiniLM-L6 + untrained masked-LM head, the size of the project's model"
            if choice == "standin"
            else "tiny random 2-layer BERT"
        ) + note
        return MLMChoice(load("mlm", str(folder)), str(folder), label)
    return MLMChoice(load("mlm", choice), choice, choice)


def token_count(tokenizer, text: str = SENTENCE) -> int:
    return len(tokenizer(text)["input_ids"])
