"""Counted nouns in the app's sentences: "1 token", "2 tokens", "1,024 tokens"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, singular for exactly one, else `plural` (default: `noun` + "s"); thousands separated."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
