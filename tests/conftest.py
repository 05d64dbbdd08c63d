"""Shared fixtures: tiny models built here (fast) and the real packaged models (session-wide)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Models in this process multiply in float32 whatever the CPU, so that comparisons with float32 references
# hold everywhere; tests/core/models/test_bfloat16.py turns bfloat16 products on where it tests them, and the app
# servers of the browser tests get the product's own choice (tests/browser/__init__.py).
os.environ.setdefault("SSL_EXPLORER_BF16", "0")
# The classroom's store of this test run (and of the app servers it starts): a SQLite file of its own, never the
# cache folder's, so that no run sees another's answers. Tests of the store give their own address.
os.environ.setdefault(
    "SSL_EXPLORER_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='sslx-class-')}/classroom.sqlite3"
)

import torch  # noqa: E402

torch.set_num_threads(1)


# The longest files first, longest at the top (each file's seconds in one run of `make test`): `make test`'s
# workers (pytest-xdist, --dist loadfile --no-loadscope-reorder) take whole files in collection order, each the next
# file when it is free, so the long files start at once and the short ones fill in at the end (the two workers
# then finish within a minute of each other instead of several). Re-measure with `--junitxml` when files grow.
LONGEST_FIRST = (
    "test_claims_training.py",  # ~700 s: three stages (DPO and RLHF), the MAE, best-of-n, CLIP, DINO
    "test_claims_dpo.py",  # ~390 s: the Alignment page's default DPO run
    "test_browser_runs.py",  # ~380 s
    "test_bench.py",  # ~300 s
    "test_fuzz.py",  # ~200 s
    "test_browser_alignment.py",  # ~150 s
    "test_browser_layout.py",  # ~155 s
    "test_page_alignment.py",  # ~150 s
    "test_models.py",  # ~120 s
    "test_browser_images.py",  # ~100 s
    "test_browser_chart.py",
    "test_page_runs.py",
    "test_browser_compare.py",
    "test_browser_state.py",
    "test_vision.py",
    "test_browser_workshop.py",
    "test_browser_masked_lm.py",
    "test_training.py",
    "test_browser_attention.py",
    "test_browser_training.py",
    "test_ws_load.py",
    "test_browser_errors.py",
    "test_page_images.py",
    "test_bidirectional.py",
    "test_page_training.py",
    "test_browser_workers.py",
    "test_alignment.py",
    "test_page_causal_lm.py",
    "test_bfloat16.py",
    "test_stages.py",
    "test_grpo.py",
    "test_rloo.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: the rest keep their order


def _save(model, tok, path: Path) -> Path:
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from explorer.models.catalogue import minilm_dir

    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    from transformers import AutoTokenizer

    from explorer.models.made.gguf_cache import convert_smollm2

    return AutoTokenizer.from_pretrained(convert_smollm2())


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory, minilm_tokenizer) -> Path:
    """A randomly initialised 2-layer BERT masked LM with the real uncased WordPiece vocabulary."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=minilm_tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        architectures=["BertForMaskedLM"],
    )
    return _save(BertForMaskedLM(cfg), minilm_tokenizer, tmp_path_factory.mktemp("tiny-mlm"))


@pytest.fixture(scope="session")
def tiny_clm_dir(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A randomly initialised 2-layer Llama causal LM with SmolLM2's tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(smollm2_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        bos_token_id=smollm2_tokenizer.bos_token_id,
        eos_token_id=smollm2_tokenizer.eos_token_id,
        architectures=["LlamaForCausalLM"],
    )
    return _save(LlamaForCausalLM(cfg), smollm2_tokenizer, tmp_path_factory.mktemp("tiny-clm"))


@pytest.fixture(scope="session")
def tiny_bidir_dir(tmp_path_factory, tiny_clm_dir) -> Path:
    """A masked-LM artefact made from the tiny Llama: its top block bidirectional, LoRA rank 4 with
    non-zero (random) updates, saved as the project saves its own (`explorer.models.made.bidirectional_artifact`)."""
    from explorer import load
    from explorer.models.made import bidirectional_artifact
    from explorer.models.made.bidirectional import BidirectionalLlamaForMaskedLM, lora_parameters, masked_tokenizer

    causal = load("clm", str(tiny_clm_dir))
    tok = masked_tokenizer(causal.tokenizer)
    model = BidirectionalLlamaForMaskedLM.from_causal(
        causal.model, bidirectional_layers=1, mask_token_id=tok.mask_token_id, lora_rank=4, seed=1
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for p in lora_parameters(model).values():
            p.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("tiny-bidir")
    return bidirectional_artifact.save(model, path, info={"steps": 0}, base_model=str(tiny_clm_dir))


@pytest.fixture(scope="session")
def smollm2():
    from explorer import load

    return load("clm")


@pytest.fixture(scope="session")
def minilm():
    from explorer import load

    return load("encoder")


@pytest.fixture
def app_page():
    """Open a page through the real navigation (AppTest) with session state set first (and, with
    `query`, a link's parameters); fails on an exception.

    Usage: ``at = app_page("pages/x.py", x_text="…")`` or ``app_page("pages/x.py", query={"x_k": "3"})``.
    """
    from streamlit.testing.v1 import AppTest

    def _open(page: str, *, timeout: float = 180, query: dict[str, str] | None = None, **state) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        for key, value in state.items():
            at.session_state[key] = value
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
        if page != "pages/home.py":
            at.switch_page(page)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open
