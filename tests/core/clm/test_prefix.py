"""The causal LM's kept readings (explorer.clm.prefix): a step reads only its new token, and every reading,
whichever kept one it starts from, equals a whole pass of plain transformers over the text."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer import clm, load
from explorer.clm.prefix import STORE, PrefixStore


@pytest.fixture(scope="module")
def tiny(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


@pytest.fixture(autouse=True)
def empty():
    clm.clear_cache()
    yield
    clm.clear_cache()


TOL = 1e-4  # float32 rounding: the same products summed in another order


def plain(model, ids):
    """A whole pass of plain transformers: logits after each prefix, log-probabilities of each position's
    next token, the actual next tokens' and the entropy in bits."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].double()
    logp = torch.log_softmax(logits[:-1], -1)
    lp = logp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    ent = torch.distributions.Categorical(logits=logits[:-1]).entropy() / math.log(2)
    return logits, logp, lp.numpy(), ent.numpy()


def assert_reads_like_a_whole_pass(model, reading):
    """Logits, log-probabilities and entropy within rounding; each rank and best guess one that the whole
    pass allows within rounding (a random tiny model's distributions are nearly flat: near-ties abound)."""
    ids = list(reading.ids)
    logits, logp, lp, ent = plain(model, ids)
    np.testing.assert_allclose(reading.last.double().numpy(), logits[-1].numpy(), atol=TOL)
    rows = reading.rows
    assert rows is not None and len(rows) == len(ids) - 1
    np.testing.assert_allclose(rows.target_lp.double().numpy(), lp, atol=TOL)
    np.testing.assert_allclose(rows.entropy.double().numpy(), ent, atol=TOL)
    np.testing.assert_allclose(rows.best_lp.double().numpy(), logp.max(-1).values.numpy(), atol=TOL)
    target = torch.tensor(lp)[:, None]
    low, high = (logp > target + TOL).sum(-1) + 1, (logp > target - TOL).sum(-1) + 1
    assert ((low <= rows.ranks) & (rows.ranks <= high)).all()
    chosen = logp.gather(1, rows.best[:, None])[:, 0]
    assert (chosen >= logp.max(-1).values - TOL).all()


def test_each_step_reads_one_token_and_equals_a_whole_pass(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "Once upon a time there was a small robot who").ids
    first = STORE.read(tiny.model, ids, rows=True)
    assert STORE.passes == 1 and STORE.tokens_read == len(ids)
    assert_reads_like_a_whole_pass(tiny.model, first)
    for step in range(1, 6):
        nxt = int(torch.argmax(STORE.read(tiny.model, ids).last))
        ids = ids + [nxt]
        reading = STORE.read(tiny.model, ids, rows=True)
        assert STORE.passes == 1 + step and STORE.tokens_read == len(ids)  # one new token per step
        assert_reads_like_a_whole_pass(tiny.model, reading)


def test_a_sibling_an_undo_and_a_shorter_text_start_from_what_they_share(tiny):
    ids = clm.build_prompt(tiny.tokenizer, "The robot walked into the kitchen and").ids
    STORE.read(tiny.model, ids + [42, 43], rows=True)
    read = STORE.tokens_read
    sibling = STORE.read(tiny.model, ids + [42, 77], rows=True)  # the last shared position is read again
    assert STORE.tokens_read - read == 2
    undone = STORE.read(tiny.model, ids + [42], rows=True)  # a beginning of a kept text: its last token again
    assert STORE.tokens_read - read == 3
    for reading in (sibling, undone):
        assert_reads_like_a_whole_pass(tiny.model, reading)
    assert STORE.read(tiny.model, ids + [42], rows=True) is undone  # read before: kept whole
    assert STORE.tokens_read - read == 3


def test_the_causal_lm_api_reads_a_step_from_the_kept_text(tiny):
    """The page's path: the distribution after the text, one token appended, the new distribution and the
    teacher-forcing strip: one token read for the step, and the strip equals a whole pass's."""
    gen = clm.Generation.start(tiny, clm.build_prompt(tiny.tokenizer, "A little bird sang a song about"))
    clm.teacher_forcing(tiny, gen.ids)
    gen.distribution(tiny)
    read = STORE.tokens_read
    gen.greedy(tiny)
    gen.distribution(tiny)
    tf = clm.teacher_forcing(tiny, gen.ids)
    assert STORE.tokens_read - read == 1
    _, _, lp, ent = plain(tiny.model, gen.ids)
    np.testing.assert_allclose(np.log(tf.target_probs), lp, atol=1e-4)
    np.testing.assert_allclose(tf.entropy, ent, atol=1e-4)


def test_without_the_forward_cache_a_text_read_before_reads_its_last_token_again(tiny, monkeypatch):
    ids = clm.build_prompt(tiny.tokenizer, "Benchmarks time the model path").ids
    STORE.read(tiny.model, ids, rows=True)
    monkeypatch.setenv("SSL_EXPLORER_FORWARD_CACHE", "0")
    read = STORE.tokens_read
    again = STORE.read(tiny.model, ids, rows=True)
    assert STORE.tokens_read - read == 1
    assert_reads_like_a_whole_pass(tiny.model, again)


def test_the_store_keeps_within_its_budget_and_never_keeps_a_model_in_training(tiny, monkeypatch):
    ids = clm.build_prompt(tiny.tokenizer, "Memory is kept within a budget, the oldest reading out first").ids
    one = STORE.read(tiny.model, ids, rows=True).nbytes
    small = PrefixStore(budget_mb=2.5 * one / 2**20)
    for k in range(5):
        small.read(tiny.model, ids + [k], rows=True)
    kept = [r for entries in small._models.values() for r in entries.values()]  # noqa: SLF001 - the test looks inside
    assert 1 <= len(kept) <= 2 and sum(r.nbytes for r in kept) <= small.budget
    assert kept[-1].ids == tuple(ids + [4])  # the newest stays
    monkeypatch.setenv("SSL_EXPLORER_KV_CACHE_MB", "0")
    clm.clear_cache()
    STORE.read(tiny.model, ids, rows=True)
    STORE.read(tiny.model, ids + [5], rows=True)
    assert STORE.tokens_read == 2 * len(ids) + 1  # nothing kept: whole passes
    monkeypatch.delenv("SSL_EXPLORER_KV_CACHE_MB")
    training = type(tiny.model)(tiny.model.config)
    STORE.read(training, ids, rows=True)
    assert training not in STORE._models  # noqa: SLF001


def test_a_greedy_step_of_the_real_causal_lm_reads_one_token(smollm2):
    """SmolLM2 on a 40-token text: the step's distribution is a plain forward pass's, for one token read."""
    text = "In the middle of the old town there is a small bakery that opens before sunrise, and every morning"
    gen = clm.Generation.start(smollm2, clm.build_prompt(smollm2.tokenizer, text))
    assert len(gen.ids) >= 20
    clm.teacher_forcing(smollm2, gen.ids)
    read = STORE.tokens_read
    gen.greedy(smollm2)
    d = gen.distribution(smollm2)
    assert STORE.tokens_read - read == 1
    with torch.no_grad():
        ref = torch.softmax(smollm2.model(input_ids=torch.tensor([gen.ids])).logits[0, -1].double(), -1).numpy()
    np.testing.assert_allclose(d.probs, ref, atol=1e-4)
    assert [c.token_id for c in d.top[:5]] == list(np.argsort(-ref)[:5])
