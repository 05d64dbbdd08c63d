"""T5 span corruption: noise-mask statistics, sentinels, exact reconstruction, span filling."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import load, span
from explorer.comparisons import objectives
from explorer.errors import ExplorerError
from explorer.span import fill as span_fill
from explorer.tokens import display_pieces

SENTENCES = [
    "Thank you for inviting me to your party last week. The food was delicious, the music was loud, "
    "and we danced in the garden until the neighbours complained.",
    "The quick brown fox jumps over the lazy dog.",
    "Self-supervised learning turns raw text into its own labels: hide a piece, then predict it!",
    "Unbelievably, the unconstitutionality of preprocessing surprised nobody.",
]
DEFAULT_TEXT = SENTENCES[0]


def t5_tokenizer(minilm_tokenizer):
    """The MiniLM WordPiece tokenizer plus T5's 100 sentinel tokens."""
    import copy

    tok = copy.deepcopy(minilm_tokenizer)
    tok.add_special_tokens({"additional_special_tokens": [span.sentinel(i) for i in range(100)]})
    return tok


def overfit_t5(tok, pairs: list[tuple[str, str]], steps: int = 300):
    """A tiny T5 trained until it writes the given targets for the given inputs."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.pad_token_id,
        architectures=["T5ForConditionalGeneration"],
    )
    model = T5ForConditionalGeneration(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = []
    for inp, tgt in pairs:
        ids = torch.tensor([tok(inp)["input_ids"]])
        labels = torch.tensor([tok(tgt, add_special_tokens=False)["input_ids"] + [tok.sep_token_id]])
        batch.append((ids, labels))
    model.train()
    for step in range(steps):
        ids, labels = batch[step % len(batch)]
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, minilm_tokenizer) -> Path:
    """A tiny T5 (MiniLM vocabulary + sentinels) that learned to fill the page's default example (seed 0)."""
    tok = t5_tokenizer(minilm_tokenizer)
    c = span.corrupt_spans(tok, DEFAULT_TEXT, seed=0)
    model = overfit_t5(tok, [(c.input_text, c.target_text)])
    path = tmp_path_factory.mktemp("tiny-t5")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


# --------------------------------------------------------------------------- the noise mask


def _expected_counts(length: int, density: float, mean: float) -> tuple[int, int]:
    n = max(length, 2)
    noise = min(max(int(np.round(n * density)), 1), n - 1)
    spans = min(max(int(np.round(noise / mean)), 1), n - noise)
    return noise, spans


@pytest.mark.parametrize(
    "length,density,mean", [(10, 0.15, 3), (32, 0.15, 3), (100, 0.15, 3), (57, 0.3, 2.5), (200, 0.1, 5), (15, 0.5, 1)]
)
def test_mask_counts_follow_t5(length, density, mean):
    noise, spans = _expected_counts(length, density, mean)
    for seed in range(50):
        mask = span.random_spans_noise_mask(length, density, mean, seed)
        bounds = span.span_bounds(mask)
        assert len(mask) == length and mask.sum() == noise and len(bounds) == spans
        assert not mask[0] and mask[-1]  # T5's layout: kept text first, a dropped span last


def test_statistics_over_many_seeds_match_density_and_mean_length():
    lengths, densities = span.span_statistics(100, 0.15, 3.0, seeds=400)
    assert abs(np.mean(densities) - 0.15) < 1e-9
    assert abs(np.mean(lengths) - 3.0) < 1e-9
    assert len(set(lengths)) >= 4  # the span lengths vary from draw to draw; only their mean is fixed
    # lengths that do not divide evenly: the averages still match up to rounding
    for length in range(40, 140, 7):
        lengths, densities = span.span_statistics(length, 0.15, 3.0, seeds=40)
        assert abs(np.mean(densities) - 0.15) <= 0.5 / length + 1e-9
        assert abs(np.mean(lengths) - 3.0) < 0.75
    lengths, densities = span.span_statistics(400, 0.3, 5.0, seeds=100, anywhere=True)
    assert abs(np.mean(densities) - 0.3) < 1e-9 and abs(np.mean(lengths) - 5.0) < 1e-9


def _all_masks(length: int, noise: int, spans: int, t5_layout: bool) -> set[tuple[bool, ...]]:
    out = set()
    for pos in itertools.combinations(range(length), noise):
        m = [i in pos for i in range(length)]
        if len(span.span_bounds(m)) != spans:
            continue
        if t5_layout and (m[0] or not m[-1]):
            continue
        out.add(tuple(m))
    return out


@pytest.mark.parametrize("anywhere", [False, True])
def test_all_masks_with_the_counts_are_equally_likely(anywhere):
    length, density, mean = 10, 0.3, 1.5  # 3 noise tokens in 2 spans
    possible = _all_masks(length, 3, 2, t5_layout=not anywhere)
    draws = 6000
    seen = Counter(
        tuple(bool(x) for x in span.random_spans_noise_mask(length, density, mean, seed, anywhere=anywhere))
        for seed in range(draws)
    )
    assert set(seen) == possible
    expected = draws / len(possible)
    chi2 = sum((c - expected) ** 2 / expected for c in seen.values())
    df = len(possible) - 1
    assert chi2 < df + 5 * (2 * df) ** 0.5, (chi2, df)  # far in the tail if one mask were favoured
    # a biased sampler fails: T5's layout drawn but the flexible one expected (or the reverse)
    assert len(possible) == (12 if not anywhere else 56)


def test_seeded_and_varied():
    a = span.random_spans_noise_mask(60, 0.15, 3, 7)
    assert np.array_equal(a, span.random_spans_noise_mask(60, 0.15, 3, 7))
    distinct = {tuple(span.random_spans_noise_mask(60, 0.15, 3, s)) for s in range(30)}
    assert len(distinct) > 20


@pytest.mark.parametrize("density,mean", [(0.0, 3), (1.0, 3), (0.15, 0.5)])
def test_bad_settings_raise_explorer_error(density, mean):
    with pytest.raises(ExplorerError):
        span.random_spans_noise_mask(20, density, mean)


# --------------------------------------------------------------------------- sentinels and targets


def test_matches_the_t5_documentation_example():
    words = "The cute dog walks in the park".split()
    mask = [False, True, True, False, False, True, False]
    inputs, target = span.corrupt_sequence(words, mask, span.sentinel)
    assert " ".join(inputs) == "The <extra_id_0> walks in <extra_id_1> park"
    assert " ".join(target) == "<extra_id_0> cute dog <extra_id_1> the <extra_id_2>"
    assert span.reconstruct(inputs, target) == words
    restored = span.reconstruct_text(
        "The <extra_id_0> walks in <extra_id_1> park", "<extra_id_0> cute dog <extra_id_1> the <extra_id_2>"
    )
    assert restored == "The cute dog walks in the park"


@pytest.mark.parametrize("text", SENTENCES)
def test_input_and_target_reconstruct_the_original_exactly(minilm_tokenizer, text):
    tok = t5_tokenizer(minilm_tokenizer)
    ids = span.sentinel_ids(tok)
    for seed, density, mean, anywhere in itertools.product(range(15), (0.15, 0.3, 0.5), (1.0, 3.0), (False, True)):
        c = span.corrupt_spans(
            tok, text, noise_density=density, mean_noise_span_length=mean, seed=seed, anywhere=anywhere
        )
        assert span.reconstruct(c.input_pieces, c.target_pieces) == c.pieces
        assert span.reconstruct_text(c.input_text, c.target_text) == c.text == text
        assert span.reconstruct(c.input_ids, c.target_ids, ids.get) == c.ids
        # the sentinels are real tokens of this tokenizer
        assert tok.convert_ids_to_tokens(c.target_ids[0]) == "<extra_id_0>"


def test_sentinels_are_numbered_in_order_and_counts_add_up(minilm_tokenizer):
    for seed in range(40):
        c = span.corrupt_spans(minilm_tokenizer, SENTENCES[0], noise_density=0.3, mean_noise_span_length=2, seed=seed)
        k = len(c.spans)
        in_numbers = [span.sentinel_number(p) for p in c.input_pieces if span.sentinel_number(p) is not None]
        out_numbers = [span.sentinel_number(p) for p in c.target_pieces if span.sentinel_number(p) is not None]
        assert in_numbers == list(range(k))
        assert out_numbers == list(range(k + 1))
        assert span.sentinel_number(c.target_pieces[0]) == 0 and span.sentinel_number(c.target_pieces[-1]) == k
        n, noise = len(c.pieces), c.n_noise
        assert len(c.input_pieces) == n - noise + k < n  # the input gets shorter
        assert len(c.target_pieces) == noise + k + 1  # the target is short
        assert c.input_ids is None  # the plain BERT vocabulary has no sentinels
        for sp in c.spans:
            assert sp.pieces == c.pieces[sp.start : sp.end] and all(c.mask[sp.start : sp.end])


def test_bad_text_gives_messages(minilm_tokenizer):
    for bad in ["", "   ", "word", "Fill <extra_id_0> this"]:
        with pytest.raises(ExplorerError):
            span.corrupt_spans(minilm_tokenizer, bad)


def test_parse_generated_splits_on_sentinels():
    sentinels = {900: 0, 901: 1, 902: 2}
    assert span_fill.parse_generated([900, 5, 6, 901, 7, 902, 3, 900, 8], sentinels, stop_ids=[3]) == {
        0: [5, 6],
        1: [7],
        2: [],
    }
    assert span_fill.parse_generated([5, 900, 9], sentinels) == {0: [9]}


# --------------------------------------------------------------------------- filling the spans


def test_mlm_fill_one_pass_equals_direct_argmax(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    tok = lm.tokenizer
    c = span.corrupt_spans(tok, SENTENCES[0], seed=3)
    fill = span_fill.fill_with_mlm(lm, c, tokens_per_span=2, iterative=False)
    assert fill.approximate and "Approximation" in fill.note and "t5-small" in fill.note
    # reference: the masked text by hand, one forward pass, argmax at each [MASK] without special tokens
    text = c.input_text
    for sp in c.spans:
        text = text.replace(sp.sentinel, " [MASK] [MASK] ")
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        logits = lm.model(input_ids=ids).logits[0]
    logits[:, tok.all_special_ids] = -float("inf")
    positions = (ids[0] == tok.mask_token_id).nonzero().flatten().tolist()
    best = logits[positions].argmax(-1).tolist()
    assert [t for f in fill.spans for t in f.tokens] == display_pieces(tok, best)
    assert [f.predicted for f in fill.spans] == [
        tok.decode(best[2 * i : 2 * i + 2]).strip() for i in range(len(c.spans))
    ]
    probs = torch.softmax(logits[positions], -1).max(-1).values.tolist()
    assert np.allclose([p for f in fill.spans for p in f.probs], probs, atol=1e-5)
    assert "<extra_id" not in fill.filled_text and "[MASK]" not in fill.filled_text


def test_mlm_fill_true_length_and_iterative(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    c = span.corrupt_spans(lm.tokenizer, SENTENCES[0], seed=1)
    fill = span_fill.fill_with_mlm(lm, c, tokens_per_span=None, iterative=True)
    assert [len(f.probs) for f in fill.spans] == [len(sp) for sp in c.spans]
    assert [f.original for f in fill.spans] == [sp.text for sp in c.spans]
    assert span.reconstruct_text(c.input_text, fill.target_text) == fill.filled_text


def test_mlm_fill_leaves_the_texts_own_masks_alone(tiny_mlm_dir):
    """A text with 20 typed [MASK]s and a few words: the gaps are filled (the typed masks are text, not
    gaps); it said "The gaps did not survive tokenization" before."""
    lm = load("mlm", str(tiny_mlm_dir))
    text = "the cat sat on the mat " + "[MASK] " * 20 + "and the dog slept on the rug"  # (tiny: 64 tokens)
    c = span.corrupt_spans(lm.tokenizer, text, seed=2)
    assert c.spans
    fill = span_fill.fill_with_mlm(lm, c, tokens_per_span=1, iterative=False)
    assert len(fill.spans) == len(c.spans) and all(len(f.tokens) == 1 for f in fill.spans)
    assert "<extra_id" not in fill.filled_text


def test_mlm_fill_too_long_for_the_model_says_its_limit(tiny_mlm_dir):
    lm = load("mlm", str(tiny_mlm_dir))
    c = span.corrupt_spans(lm.tokenizer, "the cat sat on the mat " * 4, seed=0)
    with pytest.raises(ExplorerError, match=r"longer than the \d+ tokens"):
        span_fill.fill_with_mlm(lm, c, tokens_per_span=60)


def test_seq2seq_fill_restores_the_sentence(tiny_t5_dir):
    lm = load("seq2seq", str(tiny_t5_dir))
    c = span.corrupt_spans(lm.tokenizer, DEFAULT_TEXT, seed=0)
    fill = span_fill.fill_with_seq2seq(lm, c)
    assert not fill.approximate and fill.method == "seq2seq"
    assert all(f.exact for f in fill.spans), [(f.original, f.predicted) for f in fill.spans]
    assert fill.filled_text.lower() == DEFAULT_TEXT.lower()
    assert span.reconstruct_text(c.input_text, fill.target_text).lower() == DEFAULT_TEXT.lower()


def test_seq2seq_fill_refuses_a_model_without_sentinels(tiny_mlm_dir, minilm_tokenizer):
    lm = load("mlm", str(tiny_mlm_dir))
    c = span.corrupt_spans(minilm_tokenizer, DEFAULT_TEXT, seed=0)
    with pytest.raises(ExplorerError, match="sentinel"):
        span_fill.fill_with_seq2seq(lm, c)


# --------------------------------------------------------------------------- the three objectives


def test_three_objectives_on_one_sentence(minilm_tokenizer):
    from explorer import mlm

    c = span.corrupt_spans(minilm_tokenizer, DEFAULT_TEXT, seed=4)
    views = objectives.compare_objectives(c, minilm_tokenizer, seed=4)
    masked, causal, t5 = views
    n = len(c.pieces)
    enc = mlm.encode_for_masking(minilm_tokenizer, DEFAULT_TEXT)
    ref = mlm.mask_tokens(enc, minilm_tokenizer, 0.15, 4)
    assert [p - 1 for p in ref.chosen] == [i for i, x in enumerate(masked.predicted) if x]
    assert masked.loss_positions == round(0.15 * n)
    assert masked.shown == ref.input_pieces[1:-1]
    assert causal.loss_positions == n - 1 and not any(causal.hidden) and causal.predicted[0] is False
    assert t5.hidden == c.mask and t5.loss_positions == len(c.target_pieces)
    frame = objectives.objectives_frame(views, n)
    assert list(frame["loss positions"]) == [masked.loss_positions, n - 1, len(c.target_pieces)]
