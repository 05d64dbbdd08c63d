"""The claims test's check functions: `kind` (as written in an example's `check` table) -> a function
that runs the real offline models on the example and asserts what its `claim` says.

A check takes `(item, check, models)`: the example's whole table, its `check` table, and `Models` (the
packaged models, loaded once for the session). Checks for one area live in `claim_checks_<area>.py`
modules next to this one, registered with the same `@check("kind", lane=...)` decorator; `claims_in(lane)`
imports them all and gives the claims one test file runs (`tests/claims/test_claims*.py`, one file per lane).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from pathlib import Path
from typing import Callable

CHECKS: dict[str, Callable] = {}
# Which test file runs a check's claims ("text" by default): the long training runs get files of their own,
# so that `make test`'s two workers (pytest-xdist, one file per worker at a time) share them out.
LANES: dict[str, str] = {}


def check(kind: str, lane: str = "text") -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        if kind in CHECKS:
            raise ValueError(f"two checks called {kind!r}")
        CHECKS[kind] = fn
        LANES[kind] = lane
        return fn

    return register


def all_checks() -> dict[str, Callable]:
    """Every check function, the `claim_checks_<area>` modules imported."""
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.startswith("claim_checks_"):
            importlib.import_module(f"tests.{mod.name}")
    return CHECKS


def claims_in(lane: str) -> list:
    """The bundled claims whose check runs in `lane` (a claim with an unknown check counts as "text", where
    the test fails on it)."""
    from explorer import examples

    all_checks()
    return [c for c in examples.all_claims() if LANES.get(c.kind, "text") == lane]


def verify(claim, models: "Models") -> None:
    import pytest

    fn = all_checks().get(claim.kind)
    if fn is None:
        pytest.fail(f"{claim.source}: no check called {claim.kind!r}")
    fn(claim.item, claim.check, models)


def lane_tests(lane: str):
    """The test of one lane's claims and its shared models, for a `tests/claims/test_claims*.py` file to
    bind at module level: ``models, test_claim_holds = claim_checks.lane_tests("dpo")`` (the models are
    loaded once per file; each claim is one test, named by where the claim is written)."""
    import pytest

    claims = claims_in(lane)

    @pytest.fixture(scope="module")
    def models():
        return Models()

    @pytest.mark.claims
    @pytest.mark.parametrize("claim", claims, ids=[c.source for c in claims])
    def test_claim_holds(claim, models):
        verify(claim, models)

    return models, test_claim_holds


class Models:
    """The real offline models, each loaded on first use (the same objects the app serves)."""

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}

    def get(self, role: str):
        if role not in self._cache:
            from explorer import load

            self._cache[role] = load(role)
        return self._cache[role]

    @property
    def mlm(self):
        return self.get("mlm")

    @property
    def clm(self):
        return self.get("clm")

    @property
    def encoder(self):
        return self.get("encoder")


# --------------------------------------------------------------------------- text: masked, causal, both


def _plain(piece: str) -> str:
    return piece.replace("␣", "").replace("##", "").strip().lower()


def _sentence(item: dict) -> str:
    """The text an example is about: a `try` table's `sentence` (its `text` is the instruction), an example
    file's or a quiz question's `text`, a lesson's `example`."""
    for key in ("sentence", "text", "example"):
        if isinstance(item.get(key), str) and item[key].strip():
            return item[key]
    raise AssertionError(f"the example has no text: {sorted(item)}")


@check("compare_recovers")
def compare_recovers(item, spec, models):
    """Masked vs causal: whether each side's top WORD is the hidden word (`masked`, `causal`: true/false)."""
    from explorer.comparisons import masked_vs_causal as compare
    from explorer.comparisons.sentence import word_index

    text = _sentence(item)
    comp = compare.prepare(models.mlm, models.clm, text)
    index = word_index(comp.text, spec.get("word", item.get("word")))
    left, right = compare.predict_word(comp, models.mlm, models.clm, index, k=8)
    shown = {
        "masked": [c.word for c in left.words.candidates[:3]],
        "causal": [c.word for c in right.words.candidates[:3]],
    }
    if "masked" in spec:
        assert left.recovered is spec["masked"], shown
    if "causal" in spec:
        assert right.recovered is spec["causal"], shown


@check("compare_blank")
def compare_blank(item, spec, models):
    """Masked vs causal with a typed ___: the masked side's top word is one of `masked_top`; the causal
    side's top word is not (when `causal_differs`)."""
    from explorer.comparisons import masked_vs_causal as compare

    comp = compare.prepare(models.mlm, models.clm, _sentence(item))
    left, right = compare.predict_word(comp, models.mlm, models.clm, compare.blank_index(comp), k=8)
    top_m, top_c = left.words.candidates[0].word.lower(), right.words.candidates[0].word.lower()
    assert top_m in spec["masked_top"], (top_m, top_c)
    if spec.get("causal_differs"):
        assert top_c not in spec["masked_top"], (top_m, top_c)


@check("fill_mask_top")
def fill_mask_top(item, spec, models):
    """Masked LM page: the top guess at each blank (the example's `words` masked, or its typed blanks) is one
    of `expect` (a list per blank, in text order, for the first blanks); with `whole_word`, the top WORD of
    each hidden word."""
    from explorer import mlm
    from explorer import words as whole_words

    lm = models.mlm
    enc = mlm.encode_text(lm, _sentence(item))
    positions = mlm.positions_of_words(enc, item.get("words", []))
    expect = [[e.lower() for e in group] for group in spec["expect"]]
    if spec.get("whole_word"):
        tops = [b.words.candidates[0].word.lower() for b in whole_words.fill_words(lm, enc, positions, k=5)]
    else:
        tops = [_plain(p.top_pieces[0]) for p in mlm.fill_mask(lm, enc, positions, k=5).predictions]
    assert len(tops) >= len(expect), tops  # the first len(expect) blanks are checked
    for top, allowed in zip(tops, expect):
        assert top in allowed, tops


@check("fill_mask_prefers")
def fill_mask_prefers(item, spec, models):
    """Masked LM: at the first blank, `prefer` is more probable than `over` (both single pieces)."""
    import torch

    from explorer import mlm

    lm = models.mlm
    enc = mlm.encode_text(lm, _sentence(item))
    positions = mlm.positions_of_words(enc, item.get("words", [])) or mlm.typed_masks(enc, lm.tokenizer)
    ids = mlm.masked_input(enc, positions, lm.tokenizer)
    logp = mlm.log_probs_at(lm.model, torch.tensor([ids]), torch.tensor([0]), torch.tensor([positions[0]]))[0]
    a, b = (
        lm.tokenizer.convert_tokens_to_ids(lm.tokenizer.tokenize(" " + w))[0] for w in (spec["prefer"], spec["over"])
    )
    shown = (float(logp[a].exp()), float(logp[b].exp()))
    assert float(logp[a]) > float(logp[b]) + math.log(spec.get("ratio", 1.0)), shown


@check("next_token_top")
def next_token_top(item, spec, models):
    """Causal LM: the most likely next token after the example's text is one of `expect`."""
    from explorer import clm

    lm = models.clm
    dist = clm.next_token_distribution(lm, clm.build_prompt(lm.tokenizer, _sentence(item)).encoded, top_n=5)
    top = _plain(dist.top[0].piece)
    assert top in [e.lower() for e in spec["expect"]], [c.piece for c in dist.top]


@check("fill_mask_pieces_lost")
def fill_mask_pieces_lost(item, spec, models):
    """Masked LM page: the word's pieces masked one by one (whole-word masking off): no piece is the top
    guess at its place; with `whole_word_words`, whole-word masking's candidates are whole words."""
    from explorer import mlm
    from explorer import words as whole_words

    lm = models.mlm
    enc = mlm.encode_text(lm, _sentence(item))
    positions = mlm.positions_of_words(enc, item["words"])
    assert len(positions) > 1
    preds = mlm.fill_mask(lm, enc, positions, k=5).predictions
    assert all(p.original_rank != 1 for p in preds), [(p.original_piece, p.top_pieces[0]) for p in preds]
    if spec.get("whole_word_words"):
        words = [c.word for b in whole_words.fill_words(lm, enc, positions, k=5) for c in b.words.candidates]
        assert words and all(w.isalpha() for w in words), words


@check("fill_mask_typed_blank")
def fill_mask_typed_blank(item, spec, models):
    """Masked LM page: a typed [MASK] is a blank with no answer, and the model's top guess there is a word."""
    from explorer import mlm

    lm = models.mlm
    enc = mlm.encode_text(lm, _sentence(item))
    (pred,) = mlm.fill_mask(lm, enc, [], k=5).predictions
    assert pred.original_id is None and pred.original_rank is None
    assert _plain(pred.top_pieces[0]).isalpha(), pred.top_pieces


@check("next_token_sharpens")
def next_token_sharpens(item, spec, models):
    """Causal LM: after the whole `prompt`, the top token is `top` with at least `at_least`, and the entropy is
    under `entropy_ratio` times the entropy after `start` alone."""
    from explorer import clm

    lm = models.clm
    dists = [
        clm.next_token_distribution(lm, clm.build_prompt(lm.tokenizer, p).encoded, top_n=3)
        for p in (item["start"], _sentence(item))
    ]
    h0, h1 = (float(clm.entropy_bits(d.probs)) for d in dists)
    assert _plain(dists[1].top[0].piece) == spec["top"].lower() and dists[1].top[0].prob >= spec["at_least"]
    assert h1 < spec["entropy_ratio"] * h0, (h0, h1)


@check("temperature_flattens")
def temperature_flattens(item, spec, models):
    """Causal LM: the page's sampling at temperature `high` gives the top token less and the distribution more
    entropy than at 1; at `low`, the top token gets at least `low_top_at_least`."""
    from explorer import clm

    lm = models.clm
    dist = clm.next_token_distribution(lm, clm.build_prompt(lm.tokenizer, _sentence(item)).encoded, top_n=3)
    top = dist.top[0].token_id
    scaled = {t: clm.apply_sampling(dist.logits, temperature=t).scaled for t in (spec["low"], 1.0, spec["high"])}
    assert scaled[spec["high"]][top] < scaled[1.0][top] < scaled[spec["low"]][top]
    assert clm.entropy_bits(scaled[spec["high"]]) > clm.entropy_bits(scaled[1.0])
    assert scaled[spec["low"]][top] >= spec["low_top_at_least"], float(scaled[spec["low"]][top])


@check("repeat_is_cheaper")
def repeat_is_cheaper(item, spec, models):
    """Causal LM: a text made of two copies: the second copy's mean surprisal is under `ratio` times the
    first's (read from the start token, as the page reads it)."""
    from explorer import clm

    lm = models.clm
    text = _sentence(item)
    half = text[: len(text) // 2].strip()
    assert text == f"{half} {half}", "the example is one sentence written twice"
    enc = clm.from_start(lm.tokenizer, clm.build_prompt(lm.tokenizer, text).encoded)
    first = len(clm.from_start(lm.tokenizer, clm.build_prompt(lm.tokenizer, half).encoded).ids) - 1
    tf = clm.teacher_forcing(lm, enc.ids)
    a, b = tf.surprisal[:first].mean(), tf.surprisal[first:].mean()
    assert b < spec["ratio"] * a, (a, b)


@check("teacher_forcing_surprise")
def teacher_forcing_surprise(item, spec, models):
    """Causal LM page, teacher forcing: each `easy` word costs under 1 nat; the most surprising token is `hardest`."""
    from explorer import clm

    lm = models.clm
    enc = clm.from_start(lm.tokenizer, clm.build_prompt(lm.tokenizer, _sentence(item)).encoded)
    tf = clm.teacher_forcing(lm, enc.ids)
    pieces = [_plain(p) for p in enc.pieces[1:]]
    cost = dict(zip(pieces, tf.surprisal))
    assert all(cost[w] < 1.0 for w in spec["easy"]), {w: float(cost[w]) for w in spec["easy"]}
    assert pieces[int(tf.surprisal.argmax())] == spec["hardest"], dict(zip(pieces, tf.surprisal.round(2)))


def _sentences(item: dict) -> list[str]:
    if isinstance(item.get("sentences"), list):
        return item["sentences"]
    return [s for s in _sentence(item).splitlines() if s.strip()]


@check("nearest_is_paraphrase")
def nearest_is_paraphrase(item, spec, models):
    """Sentence encoder: within each pair (indices into the sentences), each sentence's nearest other
    sentence by cosine is its partner."""
    import numpy as np

    from explorer import contrastive

    sentences = spec.get("sentences") or _sentences(item)
    emb = contrastive.embed(models.encoder, "\n".join(sentences))
    sim = contrastive.cosine_matrix(emb.vectors)
    np.fill_diagonal(sim, -np.inf)
    for a, b in spec["pairs"]:
        assert int(sim[a].argmax()) == b and int(sim[b].argmax()) == a, np.round(sim, 2)


@check("infonce_accuracy")
def infonce_accuracy(item, spec, models):
    """Contrastive page: InfoNCE on the example's pairs with the pretrained encoder (before any training):
    the share of anchors whose own positive scores highest is at least `at_least`; for each [anchor, other]
    in `hardest`, the other pair's positive is the anchor's most similar wrong one."""
    import numpy as np

    from explorer import contrastive

    pairs = contrastive.parse_pairs(_sentence(item))
    anchors = contrastive.embed(models.encoder, "\n".join(a for a, _ in pairs)).vectors
    positives = contrastive.embed(models.encoder, "\n".join(b for _, b in pairs)).vectors
    assert contrastive.info_nce(anchors, positives).accuracy >= spec["at_least"]
    sim = anchors @ positives.T
    np.fill_diagonal(sim, -np.inf)
    for anchor, other in spec.get("hardest", []):
        assert int(sim[anchor].argmax()) == other, np.round(sim, 2)


def _corrupt(models, text: str, density: float, length: float, seed: int):
    from explorer import span

    return span.corrupt_spans(
        models.encoder.tokenizer, text, noise_density=density, mean_noise_span_length=length, seed=seed
    )


@check("span_noise")
def span_noise(item, spec, models):
    """Span corruption: the share of hidden tokens is within 0.1 of `density`, the spans' mean length within
    1.5 tokens of `mean_length`, and there is one sentinel per span in the input."""
    c = _corrupt(models, _sentence(item), spec["density"], spec["mean_length"], spec["seed"])
    n = len(c.ids)
    assert abs(c.n_noise / n - spec["density"]) <= 0.1, (c.n_noise, n)
    assert abs(c.n_noise / len(c.spans) - spec["mean_length"]) <= 1.5, (c.n_noise, len(c.spans))
    assert sum("extra_id" in p or "<X" in p for p in c.input_pieces) >= len(c.spans), c.input_pieces


@check("span_longer_spans")
def span_longer_spans(item, spec, models):
    """Span corruption: a longer mean span length gives no more spans, and longer ones."""
    text = _sentence(item)
    short = _corrupt(models, text, spec["density"], spec["short"], spec["seed"])
    long = _corrupt(models, text, spec["density"], spec["long"], spec["seed"])
    assert len(long.spans) <= len(short.spans)
    assert long.n_noise / len(long.spans) > short.n_noise / len(short.spans)


@check("span_shorter_target")
def span_shorter_target(item, spec, models):
    """Span corruption: a lower noise density gives a shorter target."""
    text = _sentence(item)
    low = _corrupt(models, text, spec["low"], spec["mean_length"], spec["seed"])
    high = _corrupt(models, text, spec["high"], spec["mean_length"], spec["seed"])
    assert len(low.target_pieces) < len(high.target_pieces)


@check("attends_more")
def attends_more(item, spec, models):
    """Causal LM: averaged over the heads of the chosen layers ("last third"), the token `source` attends
    more to the token `to` than to `over` (each the first token of its word)."""
    import torch

    from explorer import clm

    lm = models.clm
    text = _sentence(item)
    enc = clm.build_prompt(lm.tokenizer, text).encoded
    starts = [re.search(rf"\b{re.escape(w)}\b", text).start() for w in (spec["source"], spec["to"], spec["over"])]
    src, a, b = (next(i for i, (s, e) in enumerate(enc.offsets) if s <= c < e) for c in starts)  # first pieces
    with torch.no_grad():
        att = lm.model(input_ids=torch.tensor([enc.ids]), output_attentions=True).attentions
    layers = att[len(att) - len(att) // 3 :] if spec.get("layers") == "last third" else att
    mean = torch.stack([x[0, :, src] for x in layers]).mean(dim=(0, 1))
    assert float(mean[a]) > float(mean[b]), (float(mean[a]), float(mean[b]))
