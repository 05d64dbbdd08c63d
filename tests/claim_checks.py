"""The claims test's check functions: `kind` (as written in an example's `check` table) -> a function
that runs the real offline models on the example and asserts what its `claim` says.

A check takes `(item, check, models)`: the example's whole table, its `check` table, and `Models` (the
packaged models, loaded once for the session). Checks for one area live in `claim_checks_<area>.py`
modules next to this one, registered with the same `@check("kind")` decorator; `tests/test_claims.py`
imports them all.
"""

from __future__ import annotations

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
