"""DPO's reference scores: computed once, kept on disk for the bundled pairs only, found again only for the
same weights; the evaluation before training costs no forward pass; a run prepared in its own thread."""

from __future__ import annotations

import math

import pytest
import torch

from explorer import forward_cache, load, training
from explorer.training import dpo, pair_scores, reference
from explorer.training.alignment_runs import before_probes, dpo_run
from explorer.training.preferences import PreferencePair

PAIRS = [
    PreferencePair(f"Question {i}?", f"A kind and careful answer {i}.", f"Go away {i}.", "helpful") for i in range(10)
]


@pytest.fixture(scope="module")
def tiny_clm(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_CACHE", str(tmp_path))
    forward_cache.clear_all()
    yield tmp_path / reference.FOLDER
    forward_cache.clear_all()


def _count_forward(monkeypatch) -> list:
    calls = []
    original = pair_scores.pair_log_probs

    def counting(*args, **kwargs):
        calls.append(len(args[2]))
        return original(*args, **kwargs)

    monkeypatch.setattr(pair_scores, "pair_log_probs", counting)
    return calls


def test_bundled_pairs_are_scored_once_and_found_on_disk_by_a_new_process(tiny_clm, cache, monkeypatch):
    calls = _count_forward(monkeypatch)
    task = dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4, persist=True)
    assert not task.ready and calls == []  # nothing scored when the task is made
    done = []
    task.score_reference(progress=lambda k, n: done.append((k, n)))
    assert task.ready and calls == [10] and done[-1] == (10, 10)
    files = list(cache.glob("*.json"))
    assert len(files) == 1
    forward_cache.clear_all()  # a new process: nothing in memory
    again = dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4, persist=True)
    again.score_reference()
    assert calls == [10]  # read from disk
    assert torch.equal(again.ref_chosen, task.ref_chosen) and torch.equal(again.ref_rejected, task.ref_rejected)


def test_a_participants_pairs_never_go_to_disk_and_other_weights_do_not_match(tiny_clm, cache, monkeypatch):
    calls = _count_forward(monkeypatch)
    dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4).score_reference()
    assert not cache.exists() or not list(cache.glob("*.json"))
    dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4, persist=True).score_reference()
    assert calls == [10]  # the same process had them in memory
    other = training.private_copy(tiny_clm.model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    other.requires_grad_(False)
    assert reference.fingerprint(other) != reference.fingerprint(tiny_clm.model)
    assert reference.load(other, pair_scores.pairs_key(pair_scores.encode_pairs(tiny_clm.tokenizer, PAIRS)[0])) is None


def test_a_damaged_file_is_scored_afresh(tiny_clm, cache, monkeypatch):
    dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4, persist=True).score_reference()
    (path,) = cache.glob("*.json")
    path.write_text("{not json")
    forward_cache.clear_all()
    calls = _count_forward(monkeypatch)
    dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, PAIRS, batch=4, persist=True).score_reference()
    assert calls == [10]


def test_the_evaluation_before_training_is_the_references_and_costs_no_forward_pass(tiny_clm, cache, monkeypatch):
    p = training.plan("dpo", steps=3, lr=3e-3, batch=4)
    run = dpo_run(tiny_clm, PAIRS, p, seed=0, prepare_in_thread=True, probes=["Tell me about owls."])
    assert not run.started and run.prepare is not None and "before" not in run.extra
    calls = _count_forward(monkeypatch)
    messages = []
    run.prepare(lambda text, frac: messages.append((text, frac)), lambda: None)
    assert calls == [10] and messages[-1][1] == 1.0 and "reference model" in messages[-1][0]
    run.trainer.begin()
    assert calls == [10]  # the policy is still the reference's copy
    first = run.trainer.history[0]
    assert first["accuracy"] == 0.5 and first["eval_loss"] == pytest.approx(math.log(2))
    assert training.train(run.trainer, 3) == "done"
    assert len(calls) > 1 and "accuracy" in run.trainer.history[-1]  # evaluated at its last step, for real
    assert [b["probe"] for b in before_probes(run)] == ["Tell me about owls."]
