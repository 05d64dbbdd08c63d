"""Shareable page state: widget values ↔ URL query strings, validated.

A page declares its shareable inputs as ``DEFAULTS = {key: default}`` (the default's type
is the value's type) and optional ``LIMITS = {key: (low, high) | [choices]}``. Values
coming from a link are parsed and checked here; anything invalid or tampered falls back to
the default and is reported, never raised.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

MAX_TEXT = 2_000
MAX_LIST = 256


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a yes/no value")
    if isinstance(default, int):
        return _number(raw, int)
    if isinstance(default, float):
        return _number(raw, float)
    if isinstance(default, (list, tuple)):
        if not raw.strip():
            return []
        items = raw.split(",")
        if len(items) > MAX_LIST:
            raise ValueError(f"more than {MAX_LIST} items")
        elem = default[0] if default else 0
        return [x if isinstance(elem, str) else _number(x, type(elem)) for x in items]
    if raw is None:
        raise ValueError("missing")
    if len(raw) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT} characters")
    return raw


def _number(raw: str, kind: type) -> Any:
    """A whole number or a finite number from a link, with a message a reader understands (not Python's)."""
    what = "a whole number" if kind is int else "a number"
    shown = re.sub(r"[^0-9A-Za-z.+\- ]", "?", raw[:20]) + ("…" if len(raw) > 20 else "")  # no markup echoed
    try:
        v = kind(raw.strip())
    except (ValueError, OverflowError):
        raise ValueError(f"'{shown}' is not {what}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"'{shown}' is not a finite number")
    return v


def _check(key: str, value: Any, limits: Mapping[str, Any]) -> None:
    lim = limits.get(key)
    if lim is None:
        return
    if isinstance(lim, tuple) and len(lim) == 2:
        lo, hi = lim
        vals = value if isinstance(value, list) else [value]
        for v in vals:
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise ValueError(f"{v} is outside {lo}–{hi}")
    elif isinstance(lim, (list, set, frozenset)):
        vals = value if isinstance(value, list) else [value]
        if any(v not in lim for v in vals):
            raise ValueError("not one of the allowed values")


def parse_query(
    params: Mapping[str, str], defaults: Mapping[str, Any], limits: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Values for the keys present in `params`, and a message for each rejected one."""
    limits = limits or {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, default in defaults.items():
        if key not in params:
            continue
        raw = params[key]
        try:
            value = _parse(str(raw), default)
            _check(key, value, limits)
        except (ValueError, TypeError) as exc:
            problems.append(f"'{key}' in the link was not valid ({exc}); the default was used.")
            continue
        values[key] = value
    return values, problems


def encode_query(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters for the values that differ from their defaults."""
    out: dict[str, str] = {}
    for key, default in defaults.items():
        if key not in values:
            continue
        v = values[key]
        if isinstance(default, tuple):
            default = list(default)
        if isinstance(v, tuple):
            v = list(v)
        if v == default:
            continue
        if isinstance(v, bool):
            out[key] = "1" if v else "0"
        elif isinstance(v, list):
            out[key] = ",".join(str(x) for x in v)
        else:
            out[key] = str(v)
    return out
