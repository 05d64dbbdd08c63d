"""Whole-word predictions of a masked LM: the words it would put in a blank, not the first pieces of words.

A word can be several pieces ("barked" is ␣bark + ed, "barks" ␣bar + ks). Reading only the first
piece's distribution ranks fragments against words: "␣bar" (of "barks") tops the list and "barked"
looks lost. Here the candidates are whole words (PLL-word-l2r, Kauf & Ivanova 2023): the blank is
written as n masks, n = 1, 2, 3; for each n the pieces are decoded left to right with a small beam,
each piece predicted from both sides with the pieces after it still hidden and those before it filled
in. A word's log-probability is the sum of its pieces' (`pseudo_likelihood.masked_word_log_probs` for
the text's own word), plus the log-probability that the word ends there: one more masked slot after it
holds a new word or punctuation rather than more of this word (without it, "bar" of "barks" beats
"barked"). The causal LM's counterpart is `explorer.words.causal`.

The text's own word is always scored. A word the beam reaches by two tokenizations (or two lengths)
keeps its best score. Ranks are among the words found; a hidden word below all of them has no rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.loaded import LoadedModel
from explorer.tokens import model_max_tokens
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

_MASKED = ForwardCache(128)
_SCORES = ForwardCache(64)


def masked_word_candidates(
    lm: LoadedModel,
    ids: Sequence[int],
    start: int,
    end: int,
    *,
    space: bool | None | str = AUTO,
    k: int = 10,
    beam: int = BEAM,
    max_pieces: int = MAX_PIECES,
) -> WordPredictions:
    """The words a masked LM puts at positions `start:end` of `ids` (the word's pieces, or one typed
    mask: then there is no answer). `space`: whether the word follows a space (True), is glued to what
    precedes it (False) or may be either (None); by default read from the word's first piece (for a typed
    blank: after a space unless it opens the text). Cached per model for frozen models."""
    from explorer.mlm.input import mask_token

    _, mask_id = mask_token(lm.tokenizer)
    ids = tuple(int(i) for i in ids)
    if not 0 <= start < end <= len(ids):
        raise ValueError("the word's positions are outside the text")
    answer = tuple(ids[start:end]) if not (end - start == 1 and ids[start] == mask_id) else None
    room = model_max_tokens(lm.tokenizer, lm.model) - (len(ids) - (end - start)) - 1  # one slot after the word
    max_pieces = min(max_pieces, room)
    if max_pieces < 1 or (answer and len(answer) > room):
        raise ExplorerError(
            "The text is too long for this model to try the hidden word's pieces in place.", "Shorten the text."
        )
    space = space_class(lm.tokenizer, ids[:start], answer, space)
    key = (ids, start, end, space, k, beam, max_pieces)
    compute = lambda: _masked(lm, ids, start, end, answer, space, k, beam, max_pieces, mask_id)  # noqa: E731
    return _MASKED.get(lm.model, key, compute) if is_frozen(lm.model) else compute()


def _padded_log_probs(model: Module, rows: list[list[int]], cols: list[int], pad: int) -> torch.Tensor:
    """Log-probabilities at one position of each row; rows of several lengths are padded on the right
    and the padding hidden from attention."""
    from explorer.mlm.predictions import log_probs_at

    width = max(len(r) for r in rows)
    if all(len(r) == width for r in rows):
        return log_probs_at(model, torch.tensor(rows), torch.arange(len(rows)), torch.tensor(cols))
    batch = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return log_probs_at(model, batch, torch.arange(len(rows)), torch.tensor(cols), attention_mask=attention)


def _masked(
    lm: LoadedModel,
    ids: tuple,
    start: int,
    end: int,
    answer: tuple | None,
    space: bool | None,
    k: int,
    beam: int,
    max_pieces: int,
    mask_id: int,
) -> WordPredictions:
    """PLL-word-l2r over 1..max_pieces masks, times p(the word ends there), in four padded passes.

    Row shapes: `before + filled + [mask] * m + after`. The row that reads a 2-piece word's second piece
    (first piece filled, one mask left) is also the row that says whether a 1-piece word ends there
    (one slot after it: more of this word, or a new word), and so on: each row serves both."""
    model, tok = lm.model, lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else mask_id
    before, after = list(ids[:start]), list(ids[end:])
    size = int(model.get_output_embeddings().weight.shape[0])
    classes = piece_classes(tok, size)
    first = first_pieces(classes, space)

    def run(wanted: list[tuple[tuple, int]]) -> dict[tuple, torch.Tensor]:
        wanted = list(dict.fromkeys(wanted))
        out = _padded_log_probs(
            model,
            [before + list(f) + [mask_id] * m + after for f, m in wanted],
            [start + len(f) for f, _ in wanted],
            pad,
        )
        return dict(zip(wanted, out))

    # pass 1: the first piece under 1, 2, 3 masks; the text's own word, piece by piece, and its ending
    wanted = [((), n) for n in range(1, max_pieces + 1)]
    if answer:
        wanted += [(answer[:j], len(answer) - j) for j in range(len(answer))] + [(answer, 1)]
    got = run(wanted)
    answer_lp = None
    if answer:
        answer_lp = sum(float(got[(answer[:j], len(answer) - j)][t]) for j, t in enumerate(answer)) + ends(
            got[(answer, 1)], classes
        )
    widths = {1: beam + 1, 2: beam, 3: max(2, beam // 2)}  # how many words of 1, 2, 3 pieces are followed
    heads = {
        n: [((i,), lp) for lp, i in top(got[((), n)], first, widths.get(n, 2))] for n in range(2, max_pieces + 1)
    }  # first pieces of longer words
    complete = {1: [((i,), lp) for lp, i in top(got[((), 1)], first, widths[1])]}  # words whose end is next
    found: list[tuple[float, tuple[int, ...]]] = []
    for j in range(1, max_pieces + 1):  # passes 2-4: each row reads one piece after `j` filled ones
        least = floor(found, answer_lp, k)  # a word scored below it cannot change what is shown
        complete[j] = [(f, lp) for f, lp in complete.get(j, []) if lp >= least]
        heads = {n: [(f, lp) for f, lp in hs if lp >= least] for n, hs in heads.items()}
        wanted = [(f, 1) for f, _ in complete.get(j, [])] + [(f, n - j) for n, hs in heads.items() for f, _ in hs]
        if not wanted:
            break
        got = run(wanted)
        found += [(lp + ends(got[(f, 1)], classes), f) for f, lp in complete.get(j, [])]
        grown = {}
        for n, hs in heads.items():
            cand = [(lp + v, f + (i,)) for f, lp in hs for v, i in top(got[(f, n - j)], classes.cont, beam)]
            grown[n] = [(f, lp) for lp, f in sorted(cand, reverse=True)[: widths.get(n, 2)]]
        complete[j + 1] = grown.pop(j + 1, [])
        heads = grown
    return collect(tok, found, answer, answer_lp, k)


# --------------------------------------------------------------------------- causal LM


def masked_word_scores(lm: LoadedModel, ids: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[float]:
    """ln p(word) of each word of the text (given as its pieces' positions `start:end`) under a masked
    LM: PLL-word-l2r times p(the word ends there), as `masked_word_candidates` scores the text's own
    word; every word in one padded pass."""
    ids = tuple(int(i) for i in ids)
    spans = tuple((int(a), int(b)) for a, b in spans)
    compute = lambda: _masked_scores(lm, ids, spans)  # noqa: E731
    return list(_SCORES.get(lm.model, ("masked", ids, spans), compute) if is_frozen(lm.model) else compute())


def _masked_scores(lm: LoadedModel, ids: tuple, spans: tuple) -> tuple[float, ...]:
    from explorer.mlm.input import mask_token

    model, tok = lm.model, lm.tokenizer
    _, mask_id = mask_token(tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else mask_id
    size = int(model.get_output_embeddings().weight.shape[0])
    classes = piece_classes(tok, size)
    rows, cols, reads = [], [], []  # reads: (word, token to read, or None for the word's ending)
    for w, (a, b) in enumerate(spans):
        before, word, after = list(ids[:a]), list(ids[a:b]), list(ids[b:])
        for j in range(len(word)):
            rows.append(before + word[:j] + [mask_id] * (len(word) - j) + after)
            cols.append(a + j)
            reads.append((w, word[j]))
        rows.append(before + word + [mask_id] + after)
        cols.append(b)
        reads.append((w, None))
    if not rows:
        return ()
    logp = _padded_log_probs(model, rows, cols, pad)
    out = [0.0] * len(spans)
    for row, (w, t) in zip(logp, reads):
        out[w] += float(row[t]) if t is not None else ends(row, classes)
    return tuple(out)


@dataclass
class WordBlank:
    """One hidden word of a text (its pieces' positions; one position for a typed blank) and its words."""

    positions: list[int]
    words: WordPredictions


def fill_words(lm: LoadedModel, enc: Any, positions: Sequence[int], *, k: int = 10) -> list[WordBlank]:
    """Whole-word fill-mask: every word touched by `positions` is hidden, with every typed blank, and each
    one's candidates are whole words, decoded with the other hidden words still hidden (`enc`: the
    text's `Encoded`)."""
    from explorer.mlm.input import expand_to_words, mask_token, typed_masks
    from explorer.tokens import word_groups

    token, mask_id = mask_token(lm.tokenizer)
    bad = [p for p in positions if not 0 <= int(p) < len(enc.ids) or enc.special[int(p)]]
    if bad:
        raise ExplorerError(f"Position {bad[0]} is not a token of the text that can be hidden.")
    chosen = set(expand_to_words(enc, [int(p) for p in positions]))
    groups = sorted(
        [g for g in word_groups(enc).values() if chosen & set(g)] + [[p] for p in typed_masks(enc, lm.tokenizer)]
    )
    if not groups:
        raise ExplorerError(
            "Nothing is masked yet, so there is nothing to predict.",
            f"Click one or more words to mask them, or type {token} in the text.",
        )
    hidden = [mask_id if p in chosen else int(i) for p, i in enumerate(enc.ids)]
    out = []
    for g in groups:
        row = list(hidden)
        for p in g:
            row[p] = int(enc.ids[p])  # its own word in place: the answer it is scored against
        out.append(WordBlank(list(g), masked_word_candidates(lm, row, g[0], g[-1] + 1, k=k)))
    return out
