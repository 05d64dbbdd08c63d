"""Shared helpers for the benchmark scripts: timing, machine description, report lines."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable


def machine() -> str:
    import torch

    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )


def app_threads() -> None:
    """Use as many torch threads as the app does (SSL_EXPLORER_THREADS, default 1), so machine() says so."""
    import torch

    torch.set_num_threads(int(os.environ.get("SSL_EXPLORER_THREADS", "1") or 1))


def with_float32_products(load: Callable[[], object]) -> tuple[object, object | None]:
    """(the model as the app loads it here, the same model with float32 products or None): where the app
    multiplies a model's blocks in bfloat16 (`explorer.models.made.bfloat16`), a report scores both."""
    from explorer.models.made import bfloat16

    lm = load()
    if getattr(lm, "extra", {}).get("products") != "bfloat16":
        return lm, None
    saved = os.environ.get(bfloat16.ENV)
    os.environ[bfloat16.ENV] = "0"
    try:
        return lm, load()
    finally:
        os.environ.pop(bfloat16.ENV) if saved is None else os.environ.update({bfloat16.ENV: saved})


def timeit(fn: Callable[[], object], *, repeat: int = 20, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of `repeat` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns: dict[str, Callable[[], object]], *, repeat: int = 20, warmup: int = 2) -> dict[str, list[float]]:
    """Time several functions in alternation so that machine noise hits them equally."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def p(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save_json(path: Path | None, data: dict) -> None:
    """Write a benchmark's figures for `bench.run_all` (nothing when `path` is None)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, default=str))
