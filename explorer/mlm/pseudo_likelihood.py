"""Pseudo-log-likelihood (Salazar et al., 2020): each token of a text scored by a masked LM with
itself masked and every other token visible; pseudo-perplexity is exp(-PLL / n)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd
import torch

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.mlm.input import check_vocab, mask_token, typed_masks
from explorer.mlm.predictions import log_probs_at
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, display_piece
from explorer.wording import count

_LOGIT_BUDGET = 32_000_000  # floats of logits per forward pass (batch x length x vocabulary)

ProgressFn = Callable[[float, str], None]


@dataclass
class PseudoLikelihood:
    """Each token scored with itself masked and every other token visible (Salazar et al., 2020)."""

    positions: list[int]
    pieces: list[str]
    log_probs: list[float]
    ranks: list[int]
    top_pieces: list[str]
    top_probs: list[float]
    skipped: list[int] = field(default_factory=list)

    @property
    def surprisals(self) -> list[float]:
        """-ln p(actual token | rest), in nats: 0 = no surprise."""
        return [-lp for lp in self.log_probs]

    @property
    def total(self) -> float:
        """The pseudo-log-likelihood: the sum of the log-probabilities."""
        return float(sum(self.log_probs))

    @property
    def pseudo_perplexity(self) -> float:
        """exp(mean surprisal): as if the model hesitated between this many tokens at each place."""
        return math.exp(-self.total / len(self.log_probs))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "position": self.positions,
                "token": self.pieces,
                "probability": [math.exp(v) for v in self.log_probs],
                "surprisal (nats)": self.surprisals,
                "rank": self.ranks,
                "model's guess": self.top_pieces,
                "guess probability": self.top_probs,
            }
        )


def pseudo_log_likelihood(
    lm: LoadedModel, enc: Encoded, *, batch_size: int = 32, progress: ProgressFn | None = None
) -> PseudoLikelihood:
    """Mask each token of the text in turn and score the actual token (batched forward passes).

    Typed masks have no actual token and are skipped (listed in `skipped`). The
    pseudo-perplexity is exp(-PLL / n). `progress(fraction, message)` is called after each batch.
    """
    result = None
    for result, done, total in pseudo_log_likelihood_batches(lm, enc, batch_size=batch_size):
        if progress:
            progress(done / total, f"Masked {done} of {count(total, 'token')} in turn…")
    return result


def pseudo_log_likelihood_batches(
    lm: LoadedModel, enc: Encoded, *, batch_size: int = 32
) -> Iterator[tuple[PseudoLikelihood, int, int]]:
    """The same scores one batch at a time: after each forward pass, (the tokens scored so far, how many,
    of how many). A page draws the partial result while the rest is computed (a long text with a large
    model takes tens of seconds); only the last one is the whole text's pseudo-log-likelihood."""
    model, tok = model_parts(lm)
    _, mask_id = mask_token(tok)
    positions = [p for p in enc.content_positions if enc.ids[p] != mask_id]
    skipped = typed_masks(enc, tok)
    if not positions:
        raise ExplorerError(
            "There is nothing to score: every token of the text is a blank.", "Type a sentence without masks."
        )
    check_vocab(model, enc.ids)
    vocab = int(model.config.vocab_size or len(tok))
    per_batch = max(1, min(batch_size, _LOGIT_BUDGET // max(1, len(enc.ids) * vocab)))
    base = torch.tensor(enc.ids)
    log_probs: list[float] = []
    ranks: list[int] = []
    top_ids: list[int] = []
    top_probs: list[float] = []
    for start in range(0, len(positions), per_batch):
        chunk = positions[start : start + per_batch]
        rows = torch.arange(len(chunk))
        cols = torch.tensor(chunk)
        batch = base.repeat(len(chunk), 1)
        batch[rows, cols] = mask_id
        logp = log_probs_at(model, batch, rows, cols)
        actual = logp[rows, base[cols]]
        log_probs += [float(v) for v in actual]
        ranks += [int(v) + 1 for v in (logp > actual[:, None]).sum(-1)]
        best = logp.max(-1)
        top_ids += [int(i) for i in best.indices]
        top_probs += [float(v) for v in best.values.exp()]
        done = start + len(chunk)
        yield (
            PseudoLikelihood(
                positions=positions[:done],
                pieces=[enc.pieces[p] for p in positions[:done]],
                log_probs=list(log_probs),
                ranks=list(ranks),
                top_pieces=[display_piece(tok, i) for i in top_ids],
                top_probs=list(top_probs),
                skipped=skipped,
            ),
            done,
            len(positions),
        )


def masked_word_log_probs(
    mlm_lm: LoadedModel, ids: list[int], words: list[list[int]], *, skip_first: bool = False
) -> list[float]:
    """ln p(word | the rest of the text) under a masked LM, for each word given by its token positions
    (the word-level pseudo-log-likelihood "PLL-word-l2r" of Kauf & Ivanova, 2023).

    The word's pieces are hidden and scored left to right: row j of a word hides its pieces j, j+1, …
    and reads piece j (the pieces before it are shown), so a word of n pieces costs n rows of one
    batched pass, and a word of one piece is the plain masked prediction. With `skip_first`, the first
    piece of each word (read with the whole word hidden, as whole-word fill-mask reads it) is left out.
    """
    key = (tuple(int(i) for i in ids), tuple(tuple(int(p) for p in w) for w in words), bool(skip_first))
    compute = lambda: _masked_word_log_probs(mlm_lm, ids, words, skip_first)  # noqa: E731
    model = mlm_lm.model
    return list(_WORD_LOG_PROBS.get(model, key, compute) if is_frozen(model) else compute())


_WORD_LOG_PROBS = ForwardCache(128)  # per model: (ids, words, skip_first) -> one value per word


def _masked_word_log_probs(mlm_lm: LoadedModel, ids: list[int], words: list[list[int]], skip_first: bool) -> tuple:
    _, mask_id = mask_token(mlm_lm.tokenizer)
    base = torch.tensor(ids)
    rows, cols, owner = [], [], []
    for w, positions in enumerate(words):
        for j, p in enumerate(positions):
            if skip_first and j == 0:
                continue
            row = base.clone()
            row[positions[j:]] = mask_id
            rows.append(row)
            cols.append(p)
            owner.append(w)
    if not rows:
        return (0.0,) * len(words)
    batch = torch.stack(rows)
    # log-probabilities only where a piece is read (the vocabulary head nowhere else, when the model can)
    logp = log_probs_at(mlm_lm.model, batch, torch.arange(len(rows)), torch.tensor(cols))
    picked = logp[torch.arange(len(rows)), base[torch.tensor(cols)]].double()
    out = [0.0] * len(words)
    for value, w in zip(picked.tolist(), owner):
        out[w] += value
    return tuple(out)
