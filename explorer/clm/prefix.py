"""A causal LM reads a growing text once: the keys and values of what it has read are kept, so a step
that adds a token reads that token only.

Generating step by step, a causal LM's page asks, after each new token, for the distribution of the next
one and for the teacher-forcing strip of the whole text. Both come from one reading of the text: the
model's keys and values at every position (what later positions attend to), the logits after its last
token, and one summary row per position (the actual next token's log-probability and rank, the model's
own best guess, the entropy). A reading of ``ids + [t]`` starts from the kept reading that shares the
longest beginning with it (the text before the step, a sibling step, an undone one) and runs only the
tokens after that beginning: one token's forward pass for a step instead of a pass over the whole
text. The rows kept from the earlier reading are exactly those a whole pass would give; the new rows
agree with a whole pass to float32 rounding (the same products summed in another order).

Readings are kept per model (weakly: an unloaded model frees them), least recently used first out,
within ``SSL_EXPLORER_KV_CACHE_MB`` (default 64 MB per process; 0 turns it off: every reading is a
whole pass). A model that is being trained is never kept (its weights change). With
``SSL_EXPLORER_FORWARD_CACHE=0`` (benchmarks that time the model path) a text read before is not
answered from memory: its last token is read again.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from explorer.forward_cache import is_frozen, register

if TYPE_CHECKING:
    from torch.nn import Module

DEFAULT_BUDGET_MB = 64
SHORT = 8  # a reading of at most this many new tokens also computes its rows when not asked to


@dataclass(frozen=True)
class Rows:
    """One row per position i < n - 1: how the model read token i + 1 from tokens 0..i."""

    target_lp: torch.Tensor  # ln p(actual next token), float32
    ranks: torch.Tensor  # its rank (1 = the model's top guess), int64
    best: torch.Tensor  # the model's top guess, int64
    best_lp: torch.Tensor  # its log-probability, float32
    entropy: torch.Tensor  # bits, float32

    def __len__(self) -> int:
        return int(self.target_lp.shape[0])

    def head(self, n: int) -> "Rows":
        return Rows(*(t[:n] for t in self.parts()))

    def parts(self) -> tuple[torch.Tensor, ...]:
        return (self.target_lp, self.ranks, self.best, self.best_lp, self.entropy)

    def then(self, other: "Rows") -> "Rows":
        return Rows(*(torch.cat([a, b]) for a, b in zip(self.parts(), other.parts())))


def rows_of(logits: torch.Tensor, targets: list[int]) -> Rows:
    """Rows from logits [m, vocabulary] (row j: after the text up to the token before targets[j])."""
    logp = torch.log_softmax(logits.float(), -1)  # float32 over the vocabulary
    lp = logp.gather(1, torch.tensor(targets, dtype=torch.long)[:, None])[:, 0]
    ranks = (logp > lp[:, None]).sum(-1) + 1
    best = logp.max(-1)
    # p * ln p in place; 0 * -inf (a token the model rules out) is nan there and counts 0
    ent = -logp.exp().mul_(logp).nan_to_num_(0.0).sum(-1) / math.log(2)
    return Rows(lp, ranks, best.indices, best.values, ent)


EMPTY = Rows(
    *(torch.zeros(0, dtype=d) for d in (torch.float32, torch.int64, torch.int64, torch.float32, torch.float32))
)


@dataclass(frozen=True)
class Reading:
    """What a causal LM read in `ids`: its keys and values per layer (None when the model keeps none that
    can be reused), the logits after the last token, and the rows (None when not computed)."""

    ids: tuple[int, ...]
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None
    last: torch.Tensor
    rows: Rows | None

    @functools.cached_property  # summed once: the store sums its readings on every step
    def nbytes(self) -> int:
        kv = sum(k.nbytes + v.nbytes for k, v in self.kv or ())
        rows = sum(t.nbytes for t in self.rows.parts()) if self.rows is not None else 0
        return kv + self.last.nbytes + rows


def _common(a: tuple, b: tuple) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _kept_kv(cache) -> tuple[tuple[torch.Tensor, torch.Tensor], ...] | None:
    """The keys and values of a `DynamicCache` of plain layers, or None (another kind of cache)."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer).__name__ != "DynamicLayer" or layer.keys is None for layer in layers):
        return None
    return tuple((layer.keys, layer.values) for layer in layers)


def _cache_of(kv, length: int):
    """A new cache holding the first `length` positions of kept keys and values (views: appending to it
    makes new tensors, so the kept ones never change)."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(k[..., :length, :], v[..., :length, :]) for k, v in kv])


def _forward(model: Module, feed: list[int], cache, *, last_only: bool):
    x = torch.tensor([feed])
    if last_only:
        try:
            return model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1)
        except TypeError:  # models without logits_to_keep
            pass
    return model(input_ids=x, past_key_values=cache, use_cache=True)


class PrefixStore:
    """Readings kept per model, the least recently used dropped first beyond the memory budget."""

    def __init__(self, budget_mb: float | None = None):
        self._budget = budget_mb
        self._lock = threading.Lock()
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.passes = 0  # readings that ran the model (whole or in part)
        self.tokens_read = 0  # tokens those passes read

    @property
    def budget(self) -> int:
        mb = (
            self._budget
            if self._budget is not None
            else float(os.environ.get("SSL_EXPLORER_KV_CACHE_MB", DEFAULT_BUDGET_MB))
        )
        return int(mb * 2**20)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.passes = self.tokens_read = 0

    def _start(self, model: Module, ids: tuple, rows: bool, reuse: bool) -> tuple[Reading | None, int]:
        """The kept reading to start from and how many of its positions to keep (0: read from scratch)."""
        best, keep = None, 0
        with self._lock:
            entries = self._models.get(model)
            for r in list(entries.values()) if entries else []:
                if r.kv is None or (rows and r.rows is None):
                    continue
                common = _common(r.ids, ids)
                if reuse and common == len(ids) == len(r.ids):
                    entries.move_to_end(r.ids)
                    return r, len(ids)
                # the row predicting ids[c] needs the logits after ids[:c]: the reading's last ones, or a
                # position read again
                c = common if common == len(r.ids) < len(ids) else common - 1
                if c > keep:
                    best, keep = r, c
            if best is not None:
                entries.move_to_end(best.ids)
        return best, keep

    def _keep(self, model: Module, reading: Reading) -> None:
        budget = self.budget
        if reading.nbytes > budget:
            return
        with self._lock:
            entries = self._models.setdefault(model, OrderedDict())
            entries[reading.ids] = reading
            entries.move_to_end(reading.ids)
            total = sum(r.nbytes for e in self._models.values() for r in e.values())
            for e in list(self._models.values()):  # the oldest first, model by model
                while e and total > budget:
                    _, dropped = e.popitem(last=False)
                    total -= dropped.nbytes

    def read_logits(self, model: Module, ids: list[int], *, rows: bool = False) -> tuple[Reading, int, torch.Tensor]:
        """`read`, with the logits the pass computed: (reading, first, logits) where logits[j] are those after
        ids[:first + j + 1] (none when a kept reading was the answer)."""
        key = tuple(int(i) for i in ids)
        keeping = self.budget > 0 and is_frozen(model)
        reuse = os.environ.get("SSL_EXPLORER_FORWARD_CACHE") != "0"
        start, keep = self._start(model, key, rows, reuse) if keeping else (None, 0)
        if start is not None and keep == len(key):
            return start, keep, torch.zeros(0)
        feed = list(key[keep:])
        whole = start is None and not rows and len(feed) > SHORT  # no rows: the last position's logits only
        with torch.inference_mode():
            cache = _cache_of(start.kv, keep) if start is not None else None
            out = _forward(model, feed, cache, last_only=whole)
            logits = out.logits[0].float()
            new_rows = None
            if start is None:
                if not whole:
                    new_rows = rows_of(logits[:-1], list(key[1:]))
            elif start.rows is not None:
                if keep == len(start.ids):  # the row predicting the first new token: from the last logits
                    base = start.rows.then(rows_of(start.last[None], [key[keep]]))
                else:
                    base = start.rows.head(keep)
                new_rows = base.then(rows_of(logits[:-1], list(key[keep + 1 :])))
        with self._lock:
            self.passes += 1
            self.tokens_read += len(feed)
        kv = _kept_kv(out.past_key_values) if keeping else None
        reading = Reading(key, kv, logits[-1].clone(), new_rows)
        if kv is not None:
            self._keep(model, reading)
        return reading, len(key) - len(logits), logits

    def read(self, model: Module, ids: list[int], *, rows: bool = False) -> Reading:
        """The reading of `ids` (at least one token), from a kept reading that shares its beginning where
        there is one; `rows`: with the rows of every position."""
        return self.read_logits(model, ids, rows=rows)[0]


STORE = PrefixStore()
register(STORE)
