"""Training core: each mode lowers the loss, the shared model never changes, SFT labels, Stop,
concurrency limit, upload checks."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from explorer import load, mlm, training
from explorer.errors import ExplorerError

SIMPLE = training.corpus_text("simple")


def _mean(xs):
    return sum(xs) / len(xs)


def _losses(run):
    return [h["loss"] for h in run.trainer.history if "loss" in h]


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model, snap) -> bool:
    state = model.state_dict()
    return state.keys() == snap.keys() and all(torch.equal(state[k], snap[k]) for k in snap)


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_dir):
    return load("mlm", str(tiny_mlm_dir))


@pytest.fixture(scope="module")
def tiny_clm(tiny_clm_dir):
    return load("clm", str(tiny_clm_dir))


# ----------------------------------------------------------------------------- each mode learns


@pytest.mark.parametrize("arch", ["gpt", "bert"])
def test_scratch_loss_starts_near_ln_vocab_and_falls(arch):
    p = training.plan("scratch", steps=40, batch=8, seq_len=32)
    run = training.scratch_run(arch, "tiny", SIMPLE, p, seed=0, corpus_name="simple stories")
    vocab = len(run.tokenizer)
    assert 100 < vocab <= training.VOCAB_SIZE
    assert run.reference_loss == pytest.approx(math.log(vocab))
    start = run.trainer.history[0]["eval_loss"]
    assert abs(start - math.log(vocab)) < 0.3, (start, math.log(vocab))
    assert training.train(run.trainer, 40) == "done"
    losses = _losses(run)
    assert len(losses) == 40
    assert _mean(losses[-5:]) < _mean(losses[:5]) - 1.0
    assert run.trainer.last("eval_loss") < start - 1.0


def test_scratch_samples_at_checkpoints_change():
    p = training.plan("scratch", steps=50, batch=8, seq_len=32)
    run = training.scratch_run("bert", "tiny", SIMPLE, p, probes=["The sky is [MASK]."])
    training.train(run.trainer, 50)
    steps = [s for s, _ in run.trainer.samples]
    assert steps == [0, 10, 20, 30, 40, 50]
    assert run.trainer.samples[0][1] != run.trainer.samples[-1][1]
    assert run.trainer.samples[-1][1][0]["probe"] == "The sky is [MASK]."


def test_continue_mlm_lowers_loss_and_keeps_cached_model_bit_identical(tiny_mlm):
    before = _snapshot(tiny_mlm.model)
    p = training.plan("continue", steps=25, lr=1e-3, batch=8, seq_len=32)
    run = training.continue_run(tiny_mlm, "mlm", SIMPLE, p, probes=["The sky is [MASK]."])
    start = run.trainer.history[0]["eval_loss"]
    training.train(run.trainer, 25)
    assert run.trainer.last("eval_loss") < start - 0.5
    assert run.model is not tiny_mlm.model
    assert not _same(run.model, before)  # the copy learned
    assert _same(tiny_mlm.model, before)  # the shared model did not change at all
    assert not tiny_mlm.model.training and not any(p.requires_grad for p in tiny_mlm.model.parameters())
    after = training.after_probes(run)
    assert after[0]["probe"] == "The sky is [MASK]." and after[0]["output"] != run.extra["before"][0]["output"]


def test_continue_clm_lowers_loss(tiny_clm):
    p = training.plan("continue", steps=25, lr=1e-3, batch=8, seq_len=32)
    run = training.continue_run(tiny_clm, "clm", SIMPLE, p, probes=["The dog"])
    start = run.trainer.history[0]["eval_loss"]
    training.train(run.trainer, 25)
    assert run.trainer.last("eval_loss") < start - 0.5
    assert set(run.extra["before"][0]) == {"probe", "next", "output"}


def test_classification_head_on_encoder_reaches_held_out_accuracy(minilm):
    before = _snapshot(minilm.model)
    p = training.plan("classify", steps=40)
    run = training.classify_run(minilm, training.sentiment_examples(), p, seed=0, data_name="bundled examples")
    task = run.trainer.task
    assert task.classes == ["negative", "positive"]
    assert len(task.test_idx) == 30 and not set(task.test_idx) & set(task.train_idx)
    training.train(run.trainer, 40)
    assert run.trainer.last("accuracy") >= 0.8
    assert _mean(_losses(run)[-5:]) < _mean(_losses(run)[:5])
    table = task.held_out_table(run.model)
    assert list(table.columns) == ["text", "label", "predicted", "confidence", "correct"]
    assert table["correct"].mean() == pytest.approx(run.trainer.last("accuracy"))
    probs = task.predict(run.model, ["What a wonderful, happy day!", "This was awful and boring."])
    assert probs[0, 1] > 0.5 > probs[1, 1]
    assert _same(minilm.model, before)


def test_sft_prompt_tokens_are_labelled_minus_100(smollm2_tokenizer):
    prompt, response = "What is the sun?", "Beep boop! The sun is a star."
    ids, labels = training.sft_example(smollm2_tokenizer, prompt, response)
    n_prompt = len(training.chat_prompt_ids(smollm2_tokenizer, prompt))
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert smollm2_tokenizer.decode(ids[n_prompt:]) == response + "<|im_end|>"
    assert "What is the sun?" in smollm2_tokenizer.decode(ids[:n_prompt])
    table = training.label_table(smollm2_tokenizer, prompt, response)
    assert (table["SFT label"] == -100).sum() == n_prompt
    assert (table["self-supervised label"] != -100).all()


def test_sft_batches_mask_prompt_and_padding_and_lower_the_loss(tiny_clm):
    pairs = training.sft_examples()
    p = training.plan("sft", steps=30, lr=2e-3, batch=4)
    run = training.sft_run(tiny_clm, pairs, p, probes=["What is a rainbow?"])
    task = run.trainer.task
    batch = task.batch(torch.Generator().manual_seed(0))
    for row in range(batch["input_ids"].shape[0]):
        labels, mask = batch["labels"][row], batch["attention_mask"][row]
        assert (labels[mask == 0] == -100).all()
        first = int((labels != -100).nonzero()[0])
        assert first > 10  # the chat prompt (system + user turn) is masked out
        assert (labels[:first] == -100).all()
    start = run.trainer.history[0]["eval_loss"]
    training.train(run.trainer, 30)
    assert run.trainer.last("eval_loss") < start - 0.5
    assert len(training.after_probes(run)) == 1


def test_real_causal_lm_unchanged_after_sft_session(smollm2):
    before = _snapshot(smollm2.model)
    p = training.plan("sft", steps=2, layers="top 2", batch=1, n_params=smollm2.info.params)
    assert p.layers == 2 and p.steps == 2
    run = training.sft_run(smollm2, training.sft_examples()[:6], p)
    trainable, total = training.count_trainable(run.model)
    assert 0 < trainable < total / 5
    training.train(run.trainer, 2)
    assert not _same(run.model, before)
    assert _same(smollm2.model, before)


# ----------------------------------------------------------------------------- stop and interrupt


def _tiny_gpt_run(steps=30):
    p = training.plan("scratch", steps=steps, batch=4, seq_len=32)
    return training.scratch_run("gpt", "tiny", SIMPLE, p)


def test_stop_callback_ends_training_and_keeps_what_was_learned():
    run = _tiny_gpt_run()
    init = _snapshot(run.model)
    assert training.train(run.trainer, 30, should_stop=lambda: run.trainer.step_count >= 5) == "stopped"
    assert run.trainer.step_count == 5 and len(_losses(run)) == 5
    assert not _same(run.model, init)
    assert training.train(run.trainer, 8) == "done"
    assert run.trainer.step_count == 8


class _Rerun(BaseException):
    """Stands for the exception Streamlit raises in the script thread when Stop is clicked."""


def test_exception_from_the_page_callback_keeps_finished_steps():
    run = _tiny_gpt_run()

    def on_step(trainer, rec):
        if trainer.step_count == 7:
            raise _Rerun()

    with pytest.raises(_Rerun):
        training.train(run.trainer, 30, on_step=on_step)
    assert run.trainer.step_count == 7 and run.trainer.history[-1]["step"] == 7
    training.train(run.trainer, 9)
    assert run.trainer.step_count == 9


@pytest.mark.parametrize("when", [1, 2, 3, 4])  # forward of block 1 and 2, backward of block 2 and 1
def test_interrupt_inside_a_step_leaves_weights_as_after_the_last_step(when, monkeypatch):
    monkeypatch.setattr(training.loop, "INTERRUPT_ABOVE_SECONDS", 0.0)
    run = _tiny_gpt_run()
    training.train(run.trainer, 3)
    snap = _snapshot(run.model)
    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) == when:
            raise _Rerun()

    with pytest.raises(_Rerun):
        run.trainer.step(interrupt)
    assert run.trainer.step_count == 3 and _same(run.model, snap)
    run.trainer.step(lambda: None)  # the hooks are gone, training goes on
    assert run.trainer.step_count == 4 and not _same(run.model, snap)
    assert len(calls) == when


def test_interrupt_is_called_in_forward_and_backward_of_every_block_of_slow_steps(monkeypatch):
    run = _tiny_gpt_run()
    calls = []
    monkeypatch.setattr(training.loop, "INTERRUPT_ABOVE_SECONDS", 0.0)
    run.trainer.step(lambda: calls.append(1))
    assert len(calls) == 2 * 2  # 2 blocks: before each forward, after each backward
    monkeypatch.setattr(training.loop, "INTERRUPT_ABOVE_SECONDS", 1e9)  # every step is "fast": no hooks
    run.trainer.step(lambda: calls.append(1))
    assert len(calls) == 4 and run.trainer.step_count == 2


def test_background_run_trains_to_its_target_and_frees_its_slot():
    run = _tiny_gpt_run()
    slots = training.TrainingSlots(1)
    training.start(run, slots=slots)
    assert training.wait(run, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert run.status == "done" and run.step == 30 and slots.active == 0
    assert run.loop_steps == 30 and run.loop_seconds > 0


def test_a_run_goes_on_while_its_session_is_there_and_pauses_when_it_has_gone(monkeypatch):
    monkeypatch.setattr(training.live, "ABANDONED_SECONDS", 0.3)
    kept = _tiny_gpt_run(steps=60)
    training.start(kept, slots=training.TrainingSlots(1), alive=lambda: True)  # no page redraws it meanwhile
    assert training.wait(kept, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert kept.status == "done" and kept.step == 60
    gone = _tiny_gpt_run(steps=1000)
    training.start(gone, slots=training.TrainingSlots(1), alive=lambda: False)
    assert training.wait(gone, timeout=600)  # a safety limit (a busy machine), not a speed check
    assert gone.status == "stopped" and gone.step < 1000 and "closed" in gone.message[1]


def test_the_pause_time_of_a_run_with_no_tab_open_is_a_setting(monkeypatch):
    for value, seconds in (("4", 4.0), ("0.5", 0.5), ("", 120.0), ("soon", 120.0), ("0", 120.0), ("-3", 120.0)):
        monkeypatch.setenv(training.live.ORPHAN_PAUSE_ENV, value)
        assert training.live._abandoned_seconds() == seconds, value
    monkeypatch.delenv(training.live.ORPHAN_PAUSE_ENV)
    assert training.live._abandoned_seconds() == 120.0
    assert [training.live._duration(s) for s in (4, 1, 120, 60)] == ["4 seconds", "1 second", "2 minutes", "1 minute"]


def test_stop_ends_a_slow_step_within_a_second_and_keeps_the_finished_steps(monkeypatch):
    """Steps of over 1.5 s (each block's forward sleeps 0.75 s): Stop abandons the step in flight
    (the interruption points between blocks) instead of waiting for it to finish."""
    monkeypatch.setattr(training.loop, "INTERRUPT_ABOVE_SECONDS", 0.0)
    run = _tiny_gpt_run(steps=1000)
    slow = [b.register_forward_hook(lambda *_: time.sleep(0.75)) for b in training.transformer_blocks(run.model)]
    training.start(run, slots=training.TrainingSlots(1))
    deadline = time.monotonic() + 60
    while run.step < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # in the middle of the next step
    snap, done = _snapshot(run.model), run.step
    training.stop(run, timeout=10)
    for h in slow:
        h.remove()
    assert not run.active and run.status == "stopped"
    assert run.step == done and _same(run.model, snap)  # the step in flight was abandoned, not finished


# ----------------------------------------------------------------------------- server limits


def test_slots_limit_concurrent_trainings_and_say_please_wait():
    slots = training.TrainingSlots(2)
    with training.training_slot(slots), training.training_slot(slots):
        assert slots.active == 2
        with pytest.raises(training.ServerBusy) as err:
            with training.training_slot(slots):
                pass
        assert "2 trainings are already running" in err.value.message and "wait" in err.value.hint
        waits = []
        with pytest.raises(training.ServerBusy):
            with training.training_slot(slots, wait=0.6, on_wait=waits.append):
                pass
        assert waits and "Please wait" in waits[0] and "2 of 2" in waits[0]
    assert slots.active == 0
    with training.training_slot(slots):
        assert slots.active == 1


def test_a_waiting_training_starts_when_a_slot_frees():
    slots = training.TrainingSlots(1)
    slots.acquire()
    threading.Timer(0.3, slots.release).start()
    with training.training_slot(slots, wait=30):
        assert slots.active == 1
    assert slots.active == 0


def test_slot_is_released_when_training_is_interrupted():
    slots = training.TrainingSlots(1)
    with pytest.raises(_Rerun):
        with training.training_slot(slots):
            raise _Rerun()
    assert slots.active == 0


def test_max_trainings_from_environment(monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_MAX_TRAININGS", "3")
    assert training.max_trainings() == 3
    monkeypatch.setenv("SSL_EXPLORER_MAX_TRAININGS", "lots")
    assert training.max_trainings() == training.DEFAULT_MAX_TRAININGS
    monkeypatch.delenv("SSL_EXPLORER_MAX_TRAININGS")
    assert training.max_trainings() == 2


def test_plan_resolves_auto_and_applies_limits():
    small = training.plan("continue")
    assert (small.steps, small.batch, small.layers) == (100, 8, None)
    big = training.plan("sft", steps=2000, layers=training.AUTO, n_params=135_000_000)
    assert big.steps == training.MAX_STEPS_LARGE and big.layers == 4 and big.notes
    assert training.plan("scratch", steps=5000, seq_len=512, batch=999, layers="top 2").steps == training.MAX_STEPS
    capped = training.plan("scratch", seq_len=512, batch=999, layers="top 2")
    assert (capped.seq_len, capped.batch, capped.layers) == (training.MAX_SEQ_LEN, training.MAX_BATCH, None)
    assert training.plan("classify", layers="head only").layers == 0
    with pytest.raises(ExplorerError):
        training.plan("classify", lr=5.0)
    assert "2,000 steps" in training.limits_text(2) and "1 MB" in training.limits_text(2)


def test_private_copy_trains_only_the_top_blocks_and_head(tiny_mlm):
    m = training.private_copy(tiny_mlm.model, layers=1)
    names = {n for n, p in m.named_parameters() if p.requires_grad}
    assert any(n.startswith("bert.encoder.layer.1.") for n in names)
    assert not any(n.startswith("bert.encoder.layer.0.") or "embeddings" in n for n in names)
    assert any(n.startswith("cls.predictions") for n in names)
    assert not any(p.requires_grad for p in tiny_mlm.model.parameters())


def test_private_copy_shares_what_does_not_learn_and_training_leaves_it_untouched(tiny_mlm):
    shared = tiny_mlm.model
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    m = training.private_copy(shared, layers=1)
    mine = dict(m.named_parameters())
    for name, p in shared.named_parameters():
        same = mine[name] is p
        assert same == (not mine[name].requires_grad), name  # frozen: the shared tensor; learning: a copy
    assert (
        mine["bert.encoder.layer.0.attention.self.query.weight"]
        is dict(shared.named_parameters())["bert.encoder.layer.0.attention.self.query.weight"]
    )
    run_copy = training.private_copy(shared, layers=None)
    assert not any(p is q for p in run_copy.parameters() for q in shared.parameters())
    task = training.LanguageModelTask(
        "mlm", tiny_mlm.tokenizer, training.corpus_text("simple")[:20_000], batch=4, seq_len=32
    )
    trainer = training.Trainer(m, task, lr=1e-2, eval_every=100)
    training.train(trainer, 5)
    assert all(torch.equal(shared.state_dict()[k], before[k]) for k in before)
    assert not torch.equal(
        mine["bert.encoder.layer.1.output.dense.weight"], before["bert.encoder.layer.1.output.dense.weight"]
    )


# ----------------------------------------------------------------------------- uploads and inputs


CSV_OK = b"text,label\n" + b"\n".join(f"good thing {i},pos\nbad thing {i},neg".encode() for i in range(5))


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("caf\u00e9 cr\u00e8me".encode("latin-1") * 20, "not UTF-8"),
        (b"a" * (training.MAX_UPLOAD_BYTES + 1), "limit"),
    ],
)
def test_bad_uploads_get_clear_messages(data, words):
    with pytest.raises(ExplorerError) as err:
        training.decode_upload(data, "uploaded file")
    assert words in err.value.message


@pytest.mark.parametrize(
    "data, words",
    [
        (b"sentence,category\nhello,a\nbye,b\n", "needs the columns text and label; it has: sentence, category"),
        (b"text,label\n" + b"\n".join(f"row {i},pos".encode() for i in range(10)), "least two classes"),
        (b"text,label\n" + b"\n".join(f"row {i},pos".encode() for i in range(9)) + b"\nlone,neg", "only one example"),
        (b"text,label\nhi,pos\nho,neg\n", "at least 8"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_bad_csv_uploads_get_clear_messages(data, words):
    with pytest.raises(ExplorerError) as err:
        training.labelled_examples(data)
    assert words in err.value.message


def test_good_csv_and_pairs_are_read():
    df, notes = training.labelled_examples(b"\xef\xbb\xbf Text , Label \n" + CSV_OK.split(b"\n", 1)[1])
    assert len(df) == 10 and sorted(df["label"].unique()) == ["neg", "pos"] and notes == []
    pairs, _ = training.prompt_response_pairs(
        b"prompt,response\n" + b"\n".join(f'"Q{i}, please?","A{i}"'.encode() for i in range(8))
    )
    assert pairs[0] == ("Q0, please?", "A0") and len(pairs) == 8
    with pytest.raises(ExplorerError, match="prompt and response"):
        training.prompt_response_pairs(CSV_OK)


def test_training_text_limits():
    with pytest.raises(ExplorerError, match="only 10 characters"):
        training.training_text("Too short.\n")
    with pytest.raises(ExplorerError, match="empty"):
        training.training_text("  ")
    text, notes = training.training_text("word " * (training.MAX_TEXT_CHARS // 4))
    assert len(text) <= training.MAX_TEXT_CHARS and "only the first" in notes[0]


def test_mask_batch_targets_15_percent_and_never_special_tokens(tiny_mlm):
    tok = tiny_mlm.tokenizer
    ids = training.with_specials(torch.randint(1000, 2000, (16, 62)), tok)
    inputs, labels = training.mask_batch(ids, tok, torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert (chosen.sum(dim=1) == round(0.15 * 62)).all()  # BERT's exact count on every row
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # [CLS], [SEP]
    assert (labels[chosen] == ids[chosen]).all()
    assert (inputs[chosen] == tok.mask_token_id).float().mean() > 0.6
    assert (inputs[~chosen] == ids[~chosen]).all()
    seed = torch.randint(0, 2**31 - 1, (16,), generator=torch.Generator().manual_seed(0))[3]
    row = mlm.mask_tokens(ids[3].tolist(), tok, 0.15, int(seed))  # the masked-LM page's recipe, row by row
    assert inputs[3].tolist() == row.input_ids and labels[3].tolist() == row.labels
    again, _ = training.mask_batch(ids, tok, torch.Generator().manual_seed(0))
    assert torch.equal(again, inputs)


def test_probes_need_a_mask_and_are_limited(tiny_mlm):
    with pytest.raises(ExplorerError, match=r"has no \[MASK\]"):
        training.fill_mask(tiny_mlm, "No blank here.")
    assert len(training.probe_lines("\n".join(f"p{i}" for i in range(9)))) == training.MAX_PROBES
    with pytest.raises(ExplorerError):
        training.probe_lines(" \n ")


def test_masked_lm_loss_matches_the_full_model_loss(tiny_mlm):
    task = training.LanguageModelTask("mlm", tiny_mlm.tokenizer, SIMPLE, batch=4, seq_len=32)
    batch = task.batch(torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = training.masked_lm_loss(tiny_mlm.model, batch)
        full = tiny_mlm.model(**batch).loss
    assert float(fast) == pytest.approx(float(full), rel=1e-5)


def test_the_probe_helpers_take_a_loaded_model_only(tiny_mlm):
    with pytest.raises(TypeError, match="LoadedModel"):
        training.fill_mask(tiny_mlm.model, "Paris is the [MASK] of France.")
    top = training.fill_mask(tiny_mlm, "Paris is the [MASK] of France.", k=3)
    lm = training.trained(tiny_mlm.model, tiny_mlm.tokenizer)
    assert lm.model is tiny_mlm.model and lm.info.params == tiny_mlm.info.params
    assert training.fill_mask(lm, "Paris is the [MASK] of France.", k=3) == top
    first = mlm.fill_mask(tiny_mlm, mlm.encode_text(tiny_mlm, "Paris is the [MASK] of France."), k=3).predictions[0]
    assert top == list(zip(first.top_pieces, first.top_probs))  # the masked-LM page's fill-mask


def test_loss_chart_titles_its_accuracy_axis_and_keeps_its_title_clear_of_the_legend():
    from explorer.charts import training as training_charts

    history = [{"step": i, "loss": 5 - i / 10, "eval_loss": 5.0, "accuracy": 0.5} for i in range(5)]
    for large in (False, True):
        fig = training_charts.loss_curves(history, smoothing=0.6, target=60, large=large, title="DPO loss", height=300)
        assert fig.layout.yaxis.title.text == "loss (cross-entropy)" and fig.layout.yaxis2.title.text == "accuracy"
        # the legend row sits above the plot: the title goes to the top of the chart, with a row's room below it
        assert fig.layout.legend.yanchor == "bottom" and fig.layout.title.yref == "container"
        assert fig.layout.title.yanchor == "top" and fig.layout.margin.t >= 50 + 2 * fig.layout.font.size
    untitled = training_charts.loss_curves(history, smoothing=0.6, target=60)
    assert untitled.layout.margin.t == 20 and untitled.layout.title.text is None
