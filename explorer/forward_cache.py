"""A small per-model cache of forward results, shared by every session of a server process.

A workshop clicks the same example at once: thirty sessions asking for the same blank or the same
next token should cost one forward pass, not thirty. Entries are keyed by the model (weakly, so an
unloaded model or a finished training run's copy frees its entries) and by what was asked (token ids,
positions, k...). Loaded models are never written to, so an entry stays true for as long as its
model lives. A key that is being computed is computed once: the other sessions asking for it wait
for that result instead of starting the same pass ("single flight").
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from torch.nn import Module

_ALL: weakref.WeakSet = weakref.WeakSet()  # every cache of forward results: these, and others that register


def clear_all() -> None:
    """Empty every forward cache of the process (benchmarks time the model, not the cache)."""
    for cache in list(_ALL):
        cache.clear()


def register(cache: Any) -> None:
    """Have `clear_all` empty `cache` too (anything with a `clear()`: e.g. the causal LM's kept readings)."""
    _ALL.add(cache)


class ForwardCache:
    """A least-recently-used map of results per model, at most `size` entries per model."""

    def __init__(self, size: int):
        _ALL.add(self)
        self.size = size
        self._lock = threading.Lock()
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._flight: dict[tuple[int, tuple], threading.Event] = {}
        self.misses = 0
        self.hits = 0

    def get(self, model: Module, key: tuple, compute: Callable[[], Any]) -> Any:
        """The cached result for `key`, or `compute()`'s (stored); concurrent callers share one compute.
        With SSL_EXPLORER_FORWARD_CACHE=0 every call computes (benchmarks that time the model path)."""
        if os.environ.get("SSL_EXPLORER_FORWARD_CACHE") == "0":
            with self._lock:
                self.misses += 1
            return compute()
        flight_key = (id(model), key)
        while True:
            with self._lock:
                entries = self._models.setdefault(model, OrderedDict())
                if key in entries:
                    entries.move_to_end(key)
                    self.hits += 1
                    return entries[key]
                running = self._flight.get(flight_key)
                if running is None:
                    running = self._flight[flight_key] = threading.Event()
                    break
            running.wait()  # another session computes it; a failed compute leaves no entry: try again
        try:
            value = compute()
            self.put(model, key, value, miss=True)
            return value
        finally:
            with self._lock:
                self._flight.pop(flight_key, None)
            running.set()

    def put(self, model: Module, key: tuple, value: Any, *, miss: bool = False) -> None:
        """Store a value computed elsewhere, unless the key is already there (what was shown stays shown)."""
        with self._lock:
            if miss:
                self.misses += 1
            entries = self._models.setdefault(model, OrderedDict())
            if key not in entries:
                entries[key] = value
                while len(entries) > self.size:
                    entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.misses = self.hits = 0


def is_frozen(model: Module) -> bool:
    """Whether no parameter of `model` is being trained (only then may its results be cached)."""
    return not any(p.requires_grad for p in model.parameters())
