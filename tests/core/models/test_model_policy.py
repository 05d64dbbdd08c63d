"""A lockable, memory-bounded model choice for a shared server (SSL_EXPLORER_MODELS, SSL_EXPLORER_MODEL_MEMORY)."""

from __future__ import annotations

import pytest

from explorer import ModelUnavailable, load, models
from explorer.models import cache as model_cache
from explorer.models import hub
from explorer.models import policy as model_policy


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the hub fails the test: a locked server refuses before looking."""

    def boom(*a, **k):
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(hub, "hub_reachable", boom)
    monkeypatch.setattr(hub, "from_pretrained", boom)


def test_offline_lock_refuses_folders_and_hub_ids_before_reading_them(monkeypatch, no_network, tiny_clm_dir):
    monkeypatch.setenv(model_policy.ENV, "offline")
    for model_id in (str(tiny_clm_dir), "gpt2", "HuggingFaceTB/SmolLM2-135M", "/etc", "~/../../root"):
        with pytest.raises(ModelUnavailable) as err:
            load("clm", model_id)
        text = f"{err.value.message} {err.value.hint}"
        assert "does not offer" in text and str(tiny_clm_dir.parent) not in text, text
    assert load("encoder").info.model_id == models.MINILM  # the defaults still load
    assert load("clm").info.model_id == models.SMOLLM2
    assert load("mlm", models.PROJECT_MLM).info.model_id == models.PROJECT_MLM  # and the other offline models


def test_an_allow_list_admits_its_ids_in_any_spelling_and_nothing_else(monkeypatch, tiny_clm_dir, tiny_mlm_dir):
    monkeypatch.setenv(model_policy.ENV, f"offline, {tiny_clm_dir}/")
    assert model_policy.mode() == "list" and model_policy.locked()
    for spelling in (
        str(tiny_clm_dir),
        f"{tiny_clm_dir}/",
        str(tiny_clm_dir).replace("/tiny", "//tiny"),
        f"{tiny_clm_dir}/../{tiny_clm_dir.name}",
    ):
        assert load("clm", spelling).info.architecture == "LlamaForCausalLM"
    with pytest.raises(ModelUnavailable, match="does not offer the folder 'tiny-mlm"):
        load("mlm", str(tiny_mlm_dir))
    assert model_policy.is_allowed(models.SMOLLM2_MLM) and not model_policy.is_allowed("gpt2")


def test_any_is_the_default_and_admits_everything(monkeypatch):
    monkeypatch.delenv(model_policy.ENV, raising=False)
    assert model_policy.mode() == "any" and not model_policy.locked()
    assert model_policy.is_allowed("/anything") and model_policy.is_allowed("gpt2")


def test_one_cache_entry_per_real_folder(tiny_clm_dir):
    cache = model_cache.ModelCache(limit=1 << 40)
    first = cache.get("clm", str(tiny_clm_dir))
    for spelling in (f"{tiny_clm_dir}/", str(tiny_clm_dir).replace("/tiny", "//tiny"), f" {tiny_clm_dir} "):
        assert cache.get("clm", spelling) is first
    assert cache.loaded() == [("clm", str(tiny_clm_dir.resolve()))]


def test_the_budget_lets_the_least_recently_used_model_go_or_refuses(tiny_clm_dir, tiny_mlm_dir):
    one = model_cache.ModelCache(limit=1 << 40)
    a = one.get("clm", str(tiny_clm_dir))
    clm_bytes = one.used()
    b = one.get("mlm", str(tiny_mlm_dir))
    both = one.used()
    assert both > clm_bytes > 0 and a is not b
    # room for either, not both: loading the second lets the first go
    cache = model_cache.ModelCache(limit=both - 1)
    cache.get("clm", str(tiny_clm_dir))
    cache.get("mlm", str(tiny_mlm_dir))
    assert cache.loaded() == [("mlm", str(tiny_mlm_dir.resolve()))]
    assert cache.used() <= cache.limit
    # no room even alone: refused (before loading it) with the sizes, and nothing is kept
    tight = model_cache.ModelCache(limit=clm_bytes // 4)
    with pytest.raises(ModelUnavailable) as err:
        tight.get("mlm", str(tiny_mlm_dir))
    assert "no room for the folder 'tiny-mlm" in err.value.message and model_cache.ENV in err.value.hint
    assert str(tiny_mlm_dir.parent) not in err.value.message
    assert tight.loaded() == []


def test_defaults_are_never_let_go_and_shared_tensors_count_once():
    cache = model_cache.ModelCache(limit=1)  # far too small: the defaults load all the same
    clm = cache.get("clm")
    alone = cache.used()
    mlm = cache.get("mlm")
    assert cache.loaded() == [("clm", models.SMOLLM2), ("mlm", models.SMOLLM2_MLM)]
    assert mlm.model.model.embed_tokens.weight is clm.model.model.embed_tokens.weight
    assert alone < cache.used() < alone + 30 * (1 << 20)  # the masked LM adds only its own updates


def test_sizes_parse_and_the_default_budget_fits_the_machine(monkeypatch):
    assert model_cache.parse_bytes("6G") == 6 << 30 and model_cache.parse_bytes("512m") == 512 << 20
    assert model_cache.parse_bytes("1.5GiB") == int(1.5 * (1 << 30)) and model_cache.parse_bytes("1000") == 1000
    with pytest.raises(ValueError):
        model_cache.parse_bytes("lots")
    monkeypatch.setenv(model_cache.ENV, "3G")
    assert model_cache.budget() == 3 << 30
    monkeypatch.setenv(model_cache.ENV, "nonsense")
    assert model_cache.budget() == max(model_cache.machine_memory() // 2, model_cache.MIN_BUDGET)


def test_a_locked_picker_offers_no_free_id_box_and_a_tampered_link_falls_back(monkeypatch, app_page):
    monkeypatch.setenv(model_policy.ENV, "offline")
    at = app_page("pages/contrastive.py", query={"model_id_encoder": "/etc"})
    picker = at.selectbox(key="pick_encoder")
    assert "Other model id…" not in picker.options
    assert any("does not offer the folder 'etc'" in w.value for w in at.warning)
    assert at.session_state["model_id_encoder"] == models.MINILM
    assert not at.exception


def test_the_models_page_shows_the_policy_not_server_paths(monkeypatch, app_page):
    monkeypatch.setenv(model_policy.ENV, "offline")
    at = app_page("pages/models.py")
    text = " ".join(m.value for m in at.markdown)
    assert "only the models that ship with the app" in text and model_cache.ENV in text
    assert str(models.cache_dir()) not in text and str(models.smollm2_cache_path()) not in text


def test_an_over_long_id_is_refused_with_a_message_not_an_os_error():
    cache = model_cache.ModelCache(limit=1 << 40)
    with pytest.raises(ModelUnavailable, match="not a valid model id"):
        cache.get("mlm", "x" * 700)


def test_the_id_box_shows_the_model_in_use_when_chosen_again(monkeypatch, tiny_mlm_dir):
    """ "Other model id…", an id typed, another model, then "Other model id…" again: the box the browser
    mounts must show the id the page uses (it kept the earlier id on the server while showing another)."""
    from tests.fuzz_support import FuzzSession

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = FuzzSession("pages/contrastive.py", {"model_id_encoder": str(tiny_mlm_dir)})
    try:
        assert s.value_shown("pick_other_encoder") == str(tiny_mlm_dir)  # a folder: "Other model id…"
        s.set("pick_other_encoder", "no-such-org/no-such-model")
        assert s.at.session_state["model_id_encoder"] == "no-such-org/no-such-model"
        s.set("pick_encoder", s.widget("pick_encoder").options[0])  # the offline default
        assert s.at.session_state["model_id_encoder"] == models.MINILM
        s.set("pick_encoder", "Other model id…")  # each run checks that the screen shows what is used
        assert s.value_shown("pick_other_encoder") == ""
        assert s.at.session_state["model_id_encoder"] == models.MINILM
    finally:
        s.close()
