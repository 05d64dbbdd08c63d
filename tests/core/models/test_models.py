"""The model layer: offline defaults, hub/local ids, clear errors, the GGUF cache."""

from __future__ import annotations

import json

import pytest
import torch

from explorer import ExplorerError, ModelUnavailable, load, models
from explorer.models import hub


def test_smollm2_ranks_paris_first(smollm2):
    tok, model = smollm2.tokenizer, smollm2.model
    ids = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model(**ids, output_attentions=True)
    top = out.logits[0, -1].softmax(-1).topk(3)
    assert tok.decode([int(top.indices[0])]) == " Paris"
    assert float(top.values[0]) > 0.5
    assert len(out.attentions) == smollm2.info.layers == 30
    assert smollm2.info.heads == 9
    assert 130e6 < smollm2.info.params < 140e6
    assert smollm2.info.source == "packaged"


def test_loaded_models_are_frozen_and_eval(smollm2, minilm):
    for lm in (smollm2, minilm):
        assert not lm.model.training
        assert not any(p.requires_grad for p in lm.model.parameters())


def test_minilm_embedding_and_attentions(minilm):
    tok, model = minilm.tokenizer, minilm.model
    ids = tok(["A cat sits."], return_tensors="pt")
    with torch.no_grad():
        out = model(**ids, output_attentions=True)
    assert out.last_hidden_state.shape[-1] == 384
    assert len(out.attentions) == 6 and out.attentions[0].shape[1] == 12
    rows = out.attentions[0].sum(-1)
    assert torch.allclose(rows, torch.ones_like(rows), atol=1e-5)


def test_local_folder_models_load_for_their_role(tiny_mlm_dir, tiny_clm_dir):
    mlm = load("mlm", str(tiny_mlm_dir))
    assert mlm.info.architecture == "BertForMaskedLM" and mlm.info.layers == 2
    assert mlm.info.source == "local folder"
    clm = load("clm", str(tiny_clm_dir))
    assert clm.info.architecture == "LlamaForCausalLM"
    out = clm.model(torch.tensor([[1, 2, 3]]), output_attentions=True)
    assert out.attentions[0] is not None


def test_wrong_kind_for_role_is_explained(tiny_mlm_dir, tiny_clm_dir):
    # a server folder of the wrong kind: refused without telling what it holds or where it is
    for role, folder in (("clm", tiny_mlm_dir), ("mlm", tiny_clm_dir)):
        with pytest.raises(ModelUnavailable) as err:
            load(role, str(folder))
        text = f"{err.value.message} {err.value.hint}"
        assert f"folder '{folder.name}' does not hold a {models.ROLE_NAMES[role]}" in text
        assert str(folder.parent) not in text and not any(
            k in text.lower() for k in ("bert", "llama", "masked lm" if role == "clm" else "causal")
        )
    from transformers import LlamaConfig

    with pytest.raises(ModelUnavailable, match="'gpt2' is a llama model and cannot be used as a Masked LM"):
        models.check_role(LlamaConfig(), "mlm", "gpt2")  # a hub model of the wrong kind: told what it is
    with pytest.raises(ModelUnavailable, match="sentence encoder without a masked-LM head"):
        load("mlm", models.MINILM)
    with pytest.raises(ModelUnavailable, match="causal LM"):
        load("encoder", models.SMOLLM2)


def test_too_large_model_is_refused(tiny_mlm_dir, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_MAX_PARAMS", "1000")
    with pytest.raises(ModelUnavailable, match="at most"):
        load("mlm", str(tiny_mlm_dir))


def test_unknown_and_unreachable_ids_fail_fast(monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        load("mlm", "bert-base-uncased")
    with pytest.raises(ModelUnavailable, match="not a valid model id"):
        load("clm", "two words")
    with pytest.raises(ModelUnavailable, match="folder 'tmp' does not hold a model this app can load"):
        load("encoder", "/tmp")
    with pytest.raises(ModelUnavailable, match="Unknown role"):
        load("vision")


def test_seq2seq_offline_default_is_the_span_model_made_from_smollm2():
    from explorer.models.catalogue import SMOLLM2_SPAN

    lm = load("seq2seq")
    assert lm.info.model_id == SMOLLM2_SPAN and lm.info.role == "seq2seq"
    assert issubclass(ModelUnavailable, ExplorerError)


def test_gguf_cache_is_atomic_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    """Conversion writes a complete folder under a temporary name; a damaged cache is detected and rebuilt."""
    monkeypatch.setenv("SSL_EXPLORER_CACHE", str(tmp_path))
    path = models.convert_smollm2()
    assert models.cache_ok(path)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    meta = json.loads((path / "ssl-explorer.json").read_text())
    assert "model.safetensors" in meta["files"]
    lm = load("clm")  # a reload from the safetensors cache, not the GGUF
    assert lm.info.layers == 30
    # truncate the weights: the marker no longer matches, so the cache is rebuilt
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert not models.cache_ok(path)
    path2 = models.convert_smollm2()
    assert models.cache_ok(path2) and (path2 / "model.safetensors").stat().st_size > 100e6


def test_file_sizes_are_the_loaded_models_counts():
    """What Home says a model weighs, read from its files' headers, is what it has once loaded."""
    from explorer.models import sizes as model_files

    for role, model_id in (
        ("clm", models.SMOLLM2),
        ("encoder", models.MINILM),
        ("mlm", models.SMOLLM2_MLM),
        ("mlm", models.PROJECT_MLM),
    ):
        found = model_files.file_size(role, model_id)
        if found is None:  # an artefact not built on this machine
            assert model_id in (models.SMOLLM2_MLM, models.PROJECT_MLM)
            continue
        assert found.params == models.load(role, model_id).info.params, model_id
        assert found.disk_bytes > 1_000_000
    assert model_files.file_size("clm", "gpt2") is None  # a hub model is weighed once loaded


def test_before_smollm2s_first_load_its_size_is_its_file(monkeypatch, tmp_path):
    from explorer.models import cache as model_cache
    from explorer.models.made import gguf_cache

    monkeypatch.setattr(gguf_cache, "smollm2_cache_path", lambda: tmp_path / "not made yet")
    gguf = model_cache.mb(models.smollm2_gguf().stat().st_size)
    assert model_cache.size_text("clm", models.SMOLLM2) == f"{gguf} on disk (4-bit GGUF)"
