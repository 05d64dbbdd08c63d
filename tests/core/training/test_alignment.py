"""Alignment core: the DPO loss and rewards against the formula, answer log-probabilities against a
plain token-by-token computation, training raises held-out preference accuracy, the shared model and
the reference stay as they were, the reward model and best-of-n, and bad preference data."""

from __future__ import annotations

import math

import pytest
import torch

from explorer import load, training
from explorer.errors import ExplorerError
from explorer.training import dpo, pair_scores, preferences, reward
from explorer.training.alignment_runs import dpo_run, policy, reward_run
from explorer.training.preferences import PreferencePair


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model, snap) -> bool:
    state = model.state_dict()
    return state.keys() == snap.keys() and all(torch.equal(state[k], snap[k]) for k in snap)


@pytest.fixture(scope="module")
def tiny_clm(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


# A preference a tiny random model can learn and carry over to prompts it has not seen.
TOY = [
    PreferencePair(f"Tell me about {w}.", f"Sure! {w.capitalize()} is nice.", "No. Go away now.", "polite")
    for w in ["cats", "dogs", "rain", "bread", "trains", "music", "snow", "tea", "maps", "books", "boats", "clocks"]
]


# ----------------------------------------------------------------------------- the objective


def test_dpo_loss_and_rewards_equal_the_formula():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(6, generator=g) * 5 for _ in range(4))
    for beta in (0.05, 0.1, 0.5):
        out = dpo.dpo_loss(pc, pr, rc, rr, beta)
        for i in range(6):
            chosen = beta * (float(pc[i]) - float(rc[i]))
            rejected = beta * (float(pr[i]) - float(rr[i]))
            margin = chosen - rejected
            assert float(out["chosen_reward"][i]) == pytest.approx(chosen, rel=1e-5, abs=1e-6)
            assert float(out["rejected_reward"][i]) == pytest.approx(rejected, rel=1e-5, abs=1e-6)
            assert float(out["margin"][i]) == pytest.approx(margin, rel=1e-5, abs=1e-6)
            assert float(out["loss"][i]) == pytest.approx(-math.log(1 / (1 + math.exp(-margin))), rel=1e-5)
    zero = dpo.dpo_loss(pc, pr, pc, pr, 0.1)
    assert torch.allclose(zero["loss"], torch.full((6,), math.log(2)))
    with pytest.raises(ExplorerError, match="β"):
        dpo.dpo_loss(pc, pr, rc, rr, 0.0)


def test_preference_accuracy_counts_ties_half():
    assert dpo.preference_accuracy(torch.tensor([1.0, -1.0, 0.0, 2.0])) == pytest.approx(0.625)
    assert dpo.preference_accuracy(torch.zeros(5)) == pytest.approx(0.5)


def test_answer_log_probs_equal_a_token_by_token_sum(tiny_clm):
    tok, model = tiny_clm.tokenizer, tiny_clm.model
    encoded, kept, notes = pair_scores.encode_pairs(tok, TOY[:3])
    assert kept == [0, 1, 2] and notes == []
    chosen, rejected = pair_scores.pair_log_probs(model, tok, encoded)
    for k, e in enumerate(encoded):
        for (ids, labels), got in ((e.chosen, chosen[k]), (e.rejected, rejected[k])):
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            want = sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)) if labels[t] != -100)
            assert float(got) == pytest.approx(want, abs=1e-4)
            assert labels.count(-100) == len(training.chat_prompt_ids(tok, TOY[k].prompt))


def test_before_training_every_reward_is_zero_and_the_loss_ln2(tiny_clm):
    task = dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, TOY, batch=4, seed=0)
    copy = training.private_copy(tiny_clm.model)
    ev = task.evaluate(copy)
    assert ev["eval_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert ev["accuracy"] == pytest.approx(0.5) and ev["eval_margin"] == pytest.approx(0.0, abs=1e-4)
    table = task.table()
    assert len(table) == len(TOY) and set(table["split"]) == {"train", "held out"}
    assert table["DPO loss"].tolist() == pytest.approx([math.log(2)] * len(TOY))
    # against log π(y|x) computed from scratch for each answer: the tokenizer's own chat template, a plain
    # forward pass, the sum of the answer's token log-probabilities (end of turn included), as in the paper
    ref = [
        (_answer_log_prob(tiny_clm, p.prompt, p.chosen), _answer_log_prob(tiny_clm, p.prompt, p.rejected)) for p in TOY
    ]
    assert table["log π_ref(chosen)"].tolist() == pytest.approx([c for c, _ in ref], abs=1e-3)
    assert table["log π_ref(rejected)"].tolist() == pytest.approx([r for _, r in ref], abs=1e-3)
    assert dpo.likelihood_preference(table) == sum(c > r for c, r in ref) / len(ref)
    assert math.isnan(dpo.likelihood_preference(table.iloc[:0]))


def test_likelihood_preference_counts_the_pairs_whose_chosen_answer_is_likelier(tiny_clm):
    pairs = TOY[:4] + [PreferencePair(p.prompt, p.rejected, p.chosen, p.kind) for p in TOY[4:8]]  # 4 swapped
    table = dpo.DPOTask(tiny_clm.model, tiny_clm.tokenizer, pairs, batch=4, seed=0).table()
    ref = [
        _answer_log_prob(tiny_clm, p.prompt, p.chosen) > _answer_log_prob(tiny_clm, p.prompt, p.rejected) for p in pairs
    ]
    assert 0 < sum(ref) < len(ref)  # both kinds of pair
    assert dpo.likelihood_preference(table) == sum(ref) / len(ref)


def _answer_log_prob(lm, prompt: str, answer: str) -> float:
    """log π(answer | prompt) of the chat model, independently of explorer's encoding and scoring."""
    tok = lm.tokenizer
    head = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], tokenize=False
    )
    assert full.startswith(head)
    start = len(tok(head, add_special_tokens=False)["input_ids"])
    ids = tok(full, add_special_tokens=False)["input_ids"]
    end = ids.index(tok.convert_tokens_to_ids("<|im_end|>"), start) + 1  # the answer and its end of turn
    ids = ids[:end]
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits.double(), -1)
    return sum(float(logp[t - 1, ids[t]]) for t in range(start, end))


def test_seeded_dpo_raises_held_out_preference_accuracy_and_keeps_the_reference(tiny_clm):
    snap = _snapshot(tiny_clm.model)
    p = training.plan("dpo", steps=40, lr=3e-3, batch=4)
    run = dpo_run(tiny_clm, TOY, p, beta=0.5, seed=0, probes=["Tell me about owls."])
    ref_c, ref_r = run.trainer.task.ref_chosen.clone(), run.trainer.task.ref_rejected.clone()
    assert run.trainer.history[0]["accuracy"] == pytest.approx(0.5)
    assert training.train(run.trainer, 40) == "done"
    last = run.trainer.history[-1]
    assert last["accuracy"] >= 0.99 and last["eval_margin"] > 0.5
    assert last["eval_chosen_reward"] > last["eval_rejected_reward"]
    assert all("margin" in h and "batch_accuracy" in h for h in run.trainer.history[1:])
    assert _same(tiny_clm.model, snap)  # the shared model, and so the reference, never changed
    again_c, again_r = pair_scores.pair_log_probs(tiny_clm.model, tiny_clm.tokenizer, run.trainer.task.encoded)
    assert torch.equal(again_c, ref_c) and torch.equal(again_r, ref_r)
    after = run.trainer.task.table(run.model)
    assert (after["margin"] > 0).mean() >= 0.99
    assert isinstance(policy(run).model, type(tiny_clm.model))


def test_a_second_seed_gives_another_split_and_the_same_seed_the_same_run(tiny_clm):
    p = training.plan("dpo", steps=5, lr=3e-3, batch=4)
    a = dpo_run(tiny_clm, TOY, p, seed=0)
    b = dpo_run(tiny_clm, TOY, p, seed=0)
    c = dpo_run(tiny_clm, TOY, p, seed=3)
    training.train(a.trainer, 5)
    training.train(b.trainer, 5)
    assert [h["loss"] for h in a.trainer.history[1:]] == [h["loss"] for h in b.trainer.history[1:]]
    assert a.trainer.task.test_idx != c.trainer.task.test_idx


def test_real_causal_lm_unchanged_after_a_dpo_run(smollm2):
    snap = _snapshot(smollm2.model)
    pairs = preferences.bundled_pairs()[:8]
    p = training.plan("dpo", steps=2, layers="top 2", batch=2, n_params=smollm2.info.params)
    run = dpo_run(smollm2, pairs, p, seed=0)
    assert training.train(run.trainer, 2) == "done"
    assert run.trainer.history[-1]["loss"] > 0
    assert _same(smollm2.model, snap)
    moved = [n for n, prm in run.model.named_parameters() if prm.requires_grad]
    assert moved and all(".layers.28." in n or ".layers.29." in n or "norm" in n for n in moved)


# ----------------------------------------------------------------------------- data


def test_bundled_pairs_are_well_formed():
    pairs = preferences.bundled_pairs()
    assert 40 <= len(pairs) <= 80
    assert all(p.prompt and p.chosen and p.rejected and p.chosen != p.rejected for p in pairs)
    assert {p.kind for p in pairs} == {"helpful", "concise", "polite", "safe"}
    assert len({p.prompt for p in pairs}) == len(pairs)


def test_an_uploaded_csv_is_checked_with_clear_messages():
    ok = b"prompt,chosen,rejected\n" + b"".join(f"q{i},good {i},bad {i}\n".encode() for i in range(9))
    pairs, notes = preferences.preference_pairs(ok)
    assert len(pairs) == 9 and notes == [] and pairs[0] == PreferencePair("q0", "good 0", "bad 0", "")
    with pytest.raises(ExplorerError, match="needs the columns prompt and chosen and rejected; it has: prompt, chosen"):
        preferences.preference_pairs(b"prompt,chosen\na,b\n")
    gaps = ok + b"q9,,bad\nq10,good,\n"
    pairs, notes = preferences.preference_pairs(gaps)
    assert len(pairs) == 9 and any("2 rows" in n and "empty field" in n for n in notes)
    same = ok + b"q11,same,same\nq12,same,same \n"
    pairs, notes = preferences.preference_pairs(same)
    assert len(pairs) == 9 and any("same chosen and rejected" in n for n in notes)
    with pytest.raises(ExplorerError, match="at least"):
        preferences.preference_pairs(b"prompt,chosen,rejected\n" + b"a,b,b\n" * 9)
    with pytest.raises(ExplorerError):
        preferences.preference_pairs(b"\xff\xfe\x00garbage")
    with pytest.raises(ExplorerError):
        preferences.preference_pairs(b"")


def test_over_long_pairs_are_left_out_with_a_note(tiny_clm):
    long = PreferencePair("Tell me about owls.", "Owls " * 200, "No.", "")
    encoded, kept, notes = pair_scores.encode_pairs(tiny_clm.tokenizer, TOY[:3] + [long], seq_len=128)
    assert kept == [0, 1, 2] and len(encoded) == 3
    assert notes and "longer than 128 tokens" in notes[0]
    with pytest.raises(ExplorerError, match="No pair fits"):
        pair_scores.encode_pairs(tiny_clm.tokenizer, [long], seq_len=128)


def test_a_pair_made_by_picking_the_better_answer():
    pair = preferences.human_pair("Why is snow white?", ["Because of light.", "Dunno."], 1)
    assert pair == PreferencePair("Why is snow white?", "Dunno.", "Because of light.", "yours")
    with pytest.raises(ExplorerError, match="same"):
        preferences.human_pair("Q?", ["A.", "A."], 0)
    with pytest.raises(ExplorerError, match="empty"):
        preferences.human_pair("Q?", ["A.", "  "], 0)
    with pytest.raises(ExplorerError):
        preferences.human_pair("", ["A.", "B."], 0)
    csv = preferences.pairs_csv([PreferencePair(f"Q{i}?", "A.", "B.", "yours") for i in range(7)] + [pair])
    assert preferences.preference_pairs(csv, "mine")[0][-1] == pair


# ----------------------------------------------------------------------------- reward model, best-of-n


def test_bradley_terry_loss_is_the_formula():
    c, r = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([0.5, 1.0, 0.0])
    want = [-math.log(1 / (1 + math.exp(-(a - b)))) for a, b in zip(c.tolist(), r.tolist())]
    assert reward.bradley_terry_loss(c, r).tolist() == pytest.approx(want)


def test_a_reward_model_learns_the_preference_and_the_encoder_is_unchanged(minilm):
    snap = _snapshot(minilm.model)
    p = training.plan("reward", steps=30, lr=5e-4, batch=8)
    run = reward_run(minilm, TOY * 2, p, seed=0)
    start = run.trainer.history[0]["accuracy"]
    assert training.train(run.trainer, 30) == "done"
    assert run.trainer.history[-1]["accuracy"] >= 0.9 > start or run.trainer.history[-1]["accuracy"] == 1.0
    assert _same(minilm.model, snap)
    scores = reward.rewards(
        run.model, run.tokenizer, "Tell me about owls.", ["Sure! Owls are nice.", "No. Go away now."]
    )
    assert scores[0] > scores[1]


def test_best_of_n_keeps_the_highest_reward_so_far():
    frame = reward.best_of_n(["a", "b", "c", "d"], [0.1, -1.0, 0.7, 0.3])
    assert frame["picked"].tolist() == [1, 1, 3, 3]
    assert frame["reward of the picked answer"].tolist() == [0.1, 0.1, 0.7, 0.7]
    assert frame["answer"].tolist() == ["a", "a", "c", "c"]
    with pytest.raises(ExplorerError):
        reward.best_of_n(["a"], [])


def test_sampled_answers_are_seeded_and_leave_the_model_alone(tiny_clm):
    snap = _snapshot(tiny_clm.model)
    a = reward.sample_answers(tiny_clm, "Tell me about owls.", 4, seed=1, max_new_tokens=8)
    b = reward.sample_answers(tiny_clm, "Tell me about owls.", 4, seed=1, max_new_tokens=8)
    assert a == b and len(a) == 4 and len(set(a)) > 1
    assert _same(tiny_clm.model, snap)
    with pytest.raises(ExplorerError):
        reward.sample_answers(tiny_clm, "Q?", 0)
    with pytest.raises(TypeError, match="LoadedModel"):
        reward.sample_answers(tiny_clm.model, "Q?", 2)
