"""Counted nouns and sizes in the app's sentences: "1 token", "2 tokens", "1,024 tokens"; "1.02 MB"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, singular for exactly one, else `plural` (default: `noun` + "s"); thousands separated."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def size_text(n_bytes: int) -> str:
    """A file's size as an upload message says it, in decimal units (1 MB = 1,000,000 bytes, as Streamlit's
    uploader counts): from 100,000 bytes in MB with up to two decimals and no trailing zeros ("1 MB",
    "1.02 MB": a size just over a limit does not read as the limit itself), from 1,000 bytes in whole KB,
    else in bytes ("1 byte", "100 bytes")."""
    n = int(n_bytes)
    if n >= 100_000:
        return f"{n / 1_000_000:.2f}".rstrip("0").rstrip(".") + " MB"
    return f"{n / 1000:.0f} KB" if n >= 1000 else count(n, "byte")
