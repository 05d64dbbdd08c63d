"""The claims test's check functions: `kind` (as written in an example's `check` table) -> a function
that runs the real offline models on the example and asserts what its `claim` says.

A check takes `(item, check, models)`: the example's whole table, its `check` table, and `Models` (the
packaged models, loaded once for the session). Checks for one area live in `claim_checks_<area>.py`
modules next to this one, registered with the same `@check("kind")` decorator; `tests/test_claims.py`
imports them all.
"""

from __future__ import annotations

import math
from typing import Callable

CHECKS: dict[str, Callable] = {}


def check(kind: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        if kind in CHECKS:
            raise ValueError(f"two checks called {kind!r}")
        CHECKS[kind] = fn
        return fn

    return register


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
    for key in ("text", "sentence", "example"):
        if isinstance(item.get(key), str) and item[key].strip():
            return item[key]
    raise AssertionError(f"the example has no text: {sorted(item)}")


@check("compare_recovers")
def compare_recovers(item, spec, models):
    """Masked vs causal: whether each side's top WORD is the hidden word (`masked`, `causal`: true/false)."""
    from explorer import compare

    text = _sentence(item)
    comp = compare.prepare(models.mlm, models.clm, text)
    index = compare.word_index(comp.text, spec.get("word", item.get("word")))
    left, right = compare.predict_word(comp, models.mlm, models.clm, index, k=8)
    shown = {"masked": [c.word for c in left.words.candidates[:3]], "causal": [c.word for c in right.words.candidates[:3]]}
    if "masked" in spec:
        assert left.recovered is spec["masked"], shown
    if "causal" in spec:
        assert right.recovered is spec["causal"], shown


@check("compare_blank")
def compare_blank(item, spec, models):
    """Masked vs causal with a typed ___: the masked side's top word is one of `masked_top`; the causal
    side's top word is not (when `causal_differs`)."""
    from explorer import compare

    comp = compare.prepare(models.mlm, models.clm, _sentence(item))
    left, right = compare.predict_word(comp, models.mlm, models.clm, compare.blank_index(comp), k=8)
    top_m, top_c = left.words.candidates[0].word.lower(), right.words.candidates[0].word.lower()
    assert top_m in spec["masked_top"], (top_m, top_c)
    if spec.get("causal_differs"):
        assert top_c not in spec["masked_top"], (top_m, top_c)


@check("fill_mask_top")
def fill_mask_top(item, spec, models):
    """Masked LM page: the top guess at each blank (the example's `words` masked, or its typed blanks) is one
    of `expect` (a list per blank, in text order); with `whole_word`, the top WORD of each hidden word."""
    from explorer import mlm, whole_words

    lm = models.mlm
    enc = mlm.encode_text(lm, _sentence(item))
    positions = mlm.positions_of_words(enc, item.get("words", []))
    expect = [[e.lower() for e in group] for group in spec["expect"]]
    if spec.get("whole_word"):
        tops = [b.words.candidates[0].word.lower() for b in whole_words.fill_words(lm, enc, positions, k=5)]
    else:
        tops = [_plain(p.top_pieces[0]) for p in mlm.fill_mask(lm, enc, positions, k=5).predictions]
    assert len(tops) == len(expect), tops
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
    a, b = (lm.tokenizer.convert_tokens_to_ids(lm.tokenizer.tokenize(" " + w))[0] for w in (spec["prefer"], spec["over"]))
    assert float(logp[a]) > float(logp[b]) + math.log(spec.get("ratio", 1.0)), (float(logp[a].exp()), float(logp[b].exp()))


@check("next_token_top")
def next_token_top(item, spec, models):
    """Causal LM: the most likely next token after the prompt (`prompt`, or the example's text) is one of
    `expect`."""
    from explorer import clm

    lm = models.clm
    prompt = item.get("prompt") or _sentence(item)
    dist = clm.next_token_distribution(lm, clm.build_prompt(lm.tokenizer, prompt).encoded, top_n=5)
    top = _plain(dist.top[0].piece)
    assert top in [e.lower() for e in spec["expect"]], [c.piece for c in dist.top]


@check("fill_mask_pieces_lost")
def fill_mask_pieces_lost(item, spec, models):
    """Masked LM page: the word's pieces masked one by one (whole-word masking off): no piece is the top
    guess at its place; with `whole_word_words`, whole-word masking's candidates are whole words."""
    from explorer import mlm, whole_words

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
