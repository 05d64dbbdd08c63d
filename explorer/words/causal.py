"""Whole-word predictions of a causal LM (the chain rule): each piece given the text to its left, times
the probability that the word ends there (the next token starts a new word): the exact probability of
the whole word, its prefix read once (a KV cache), pieces decoded with a small beam. The masked LM's
counterpart, and why whole words rather than first pieces, is `explorer.words.masked`.

The text's own word is always scored. Ranks are among the words found; a hidden word below all of them
has no rank.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch.nn import Module

from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.loaded import LoadedModel
from explorer.words.pieces import (
    AUTO,
    BEAM,
    MAX_PIECES,
    WordPredictions,
    collect,
    ends,
    first_pieces,
    floor,
    piece_classes,
    space_class,
    top,
)

_CAUSAL = ForwardCache(128)
_SCORES = ForwardCache(64)


def causal_word_candidates(
    lm: LoadedModel,
    prefix: Sequence[int],
    answer: Sequence[int] | None = None,
    *,
    space: bool | None | str = AUTO,
    k: int = 10,
    beam: int = BEAM,
    max_pieces: int = MAX_PIECES,
) -> WordPredictions:
    """The words a causal LM writes after `prefix`, each with the chain rule's probability times the
    probability that the word ends there. `answer`: the text's own word (its pieces), scored exactly.
    `space` as for `masked_word_candidates`."""
    prefix = tuple(int(i) for i in prefix)
    if not prefix:
        raise ValueError("a causal LM needs at least a start token to predict from")
    answer = tuple(int(i) for i in answer) if answer else None
    space = space_class(lm.tokenizer, prefix, answer, space)
    key = (prefix, answer, space, k, beam, max_pieces)
    compute = lambda: _causal(lm, prefix, answer, space, k, beam, max_pieces)  # noqa: E731
    return _CAUSAL.get(lm.model, key, compute) if is_frozen(lm.model) else compute()


def _last_log_probs(model: Module, rows: list[list[int]], keep: int = 1) -> torch.Tensor:
    """Log-probabilities at the last `keep` positions of rows of one length: (rows, keep, vocabulary)."""
    with torch.inference_mode():
        x = torch.tensor(rows)
        try:
            logits = model(input_ids=x, use_cache=False, logits_to_keep=keep).logits
        except TypeError:  # models without logits_to_keep
            logits = model(input_ids=x, use_cache=False).logits[:, -keep:]
        return torch.log_softmax(logits.float(), dim=-1)


class _Continuations:
    """Log-probabilities after `prefix` + pieces, the prefix read once: its keys and values are kept
    and each batch of continuations reads only its own pieces (a small fraction of a full pass)."""

    def __init__(self, model: Module, prefix: tuple):
        self.model, self.prefix = model, prefix
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([list(prefix)]), use_cache=True, logits_to_keep=1)
        self.first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        self.cache = out.past_key_values

    def after(self, rows: list[tuple], keep: int = 1) -> torch.Tensor:
        """(rows, keep, vocabulary): at the last `keep` positions of prefix + row, rows of one length."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(len(rows))
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([list(r) for r in rows]),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=keep,
            )
        return torch.log_softmax(out.logits.float(), dim=-1)


class _FullPasses:
    """The same readings from whole passes, for models without a reusable cache."""

    def __init__(self, model: Module, prefix: tuple):
        self.model, self.prefix = model, prefix
        self.first = _last_log_probs(model, [list(prefix)])[0, 0]

    def after(self, rows: list[tuple], keep: int = 1) -> torch.Tensor:
        return _last_log_probs(self.model, [list(self.prefix) + list(r) for r in rows], keep=keep)


def _causal(
    lm: LoadedModel, prefix: tuple, answer: tuple | None, space: bool | None, k: int, beam: int, max_pieces: int
) -> WordPredictions:
    model, tok = lm.model, lm.tokenizer
    size = int(model.get_output_embeddings().weight.shape[0])
    classes = piece_classes(tok, size)
    first = first_pieces(classes, space)

    try:
        reader = _Continuations(model, prefix)
    except (TypeError, AttributeError, ValueError, RuntimeError):  # no reusable cache: whole passes
        reader = _FullPasses(model, prefix)
    answer_lp = None
    hyps = [(lp, (i,)) for lp, i in top(reader.first, first, beam)]
    found: list[tuple[float, tuple[int, ...]]] = []
    for j in range(1, max_pieces + 1):
        hyps = [(lp, h) for lp, h in hyps if lp >= floor(found, answer_lp, k)]
        if not hyps:
            break
        if j == 1 and answer:  # the text's own word rides along, its row padded like the others
            pad = (prefix[-1],) * (len(answer) - 1)  # after the piece read: the causal mask hides it
            out = reader.after([h + pad for _, h in hyps] + [answer], keep=len(answer))
            row = out[-1]  # row[i]: after the answer's first i + 1 pieces
            answer_lp = float(reader.first[answer[0]]) + sum(float(row[i - 1, t]) for i, t in enumerate(answer) if i)
            answer_lp += ends(row[-1], classes)
            out = out[:-1, 0]
        else:
            out = reader.after([h for _, h in hyps])[:, -1]
        grown = []
        for (lp0, pieces), lp_row in zip(hyps, out):
            found.append((lp0 + ends(lp_row, classes), pieces))  # the word ends here
            if j < max_pieces:
                grown += [(lp0 + lp, pieces + (i,)) for lp, i in top(lp_row, classes.cont, beam)]
        hyps = sorted(grown, reverse=True)[:beam]
    return collect(tok, found, answer, answer_lp, k)


# --------------------------------------------------------------------------- a text's own words


def causal_word_scores(lm: LoadedModel, ids: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[float]:
    """ln p(word | the text to its left) of each word (`start:end` positions, after a start token) under
    a causal LM: the chain rule over its pieces times p(the word ends there), from one pass over the text."""
    ids = tuple(int(i) for i in ids)
    spans = tuple((int(a), int(b)) for a, b in spans)
    if any(a < 1 for a, _ in spans):
        raise ValueError("a causal LM predicts a word from the tokens before it: start after the start token")
    compute = lambda: _causal_scores(lm, ids, spans)  # noqa: E731
    return list(_SCORES.get(lm.model, ("causal", ids, spans), compute) if is_frozen(lm.model) else compute())


def _causal_scores(lm: LoadedModel, ids: tuple, spans: tuple) -> tuple[float, ...]:
    model, tok = lm.model, lm.tokenizer
    size = int(model.get_output_embeddings().weight.shape[0])
    classes = piece_classes(tok, size)
    logp = _last_log_probs(model, [list(ids)], keep=len(ids))[0]  # position i predicts token i + 1
    out = []
    for a, b in spans:
        chain = sum(float(logp[p - 1, ids[p]]) for p in range(a, b))
        out.append(chain + ends(logp[b - 1], classes))  # then a new word, punctuation, the end of the text…
    return tuple(out)


# --------------------------------------------------------------------------- whole-word fill-mask
