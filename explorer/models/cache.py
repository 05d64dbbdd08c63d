"""The models a server holds: each loaded once per process, all within a memory budget.

`SHARED.get(role, model_id)` is how the app's pages get a model (through `explorer.ui.get_model`).
One entry per (role, canonical id): a folder typed three ways is loaded once. Before a model
that is not a default is loaded, its size is estimated from its configuration; when it would
take the loaded models over the budget (SSL_EXPLORER_MODEL_MEMORY, e.g. ``6G``; default: half
of this machine's memory), the least recently used models that are not defaults are let go,
and when that is not enough the load is refused with a message. Memory is counted per tensor,
so the masked LM made from SmolLM2 adds only its own updates.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.errors import ModelUnavailable
from explorer.models import hub, policy
from explorer.models.catalogue import DEFAULTS, MINILM, OFFLINE_BYTES, SMOLLM2
from explorer.models.loaded import LoadedModel
from explorer.models.loader import load
from explorer.models.roles import ROLE_NAMES, estimate_params

if TYPE_CHECKING:
    from torch.nn import Module

ENV = "SSL_EXPLORER_MODEL_MEMORY"
MIN_BUDGET = 1 << 30
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small laptop
        return 8 << 30


def parse_bytes(text: str) -> int:
    """'6G', '6000M', '6.5g', '123456' -> bytes; ValueError on anything else."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def budget() -> int:
    """Bytes the loaded models may take together (SSL_EXPLORER_MODEL_MEMORY, default half the machine)."""
    raw = os.environ.get(ENV)
    if raw:
        try:
            return max(parse_bytes(raw), 1)
        except ValueError:
            pass
    return max(machine_memory() // 2, MIN_BUDGET)


def tensor_bytes(model: Module) -> dict[int, int]:
    """{storage address: bytes} of a model's parameters and buffers (shared tensors once)."""
    out: dict[int, int] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        try:
            out[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        except (RuntimeError, AttributeError):  # meta tensors and the like hold no memory
            continue
    return out


def mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def estimate_bytes(role: str, model_id: str | None) -> int:
    """Memory a model would add once loaded, from its configuration alone (float32 weights);
    0 for the offline defaults (always loaded) and when the configuration cannot be read (the
    load then says why)."""
    model_id = policy.canonical_id(model_id or "")
    if not model_id or model_id in DEFAULTS.values() or model_id in (SMOLLM2, MINILM):
        return 0
    if model_id in OFFLINE_BYTES:
        return OFFLINE_BYTES[model_id]
    try:
        local = Path(model_id).expanduser()
        if (local / "artifact.json").is_file():  # a masked LM made from a causal LM: updates only
            return sum(f.stat().st_size for f in local.iterdir() if f.suffix == ".safetensors") * 2
        from transformers import AutoConfig

        config, _ = hub.from_pretrained(AutoConfig, str(local) if local.is_dir() else model_id, trust_remote_code=False)
        return 4 * estimate_params(config, role)
    except Exception:  # noqa: BLE001 - unreadable: the load itself gives the message
        return 0


class ModelCache:
    """Loaded models by (role, canonical id), least recently used first."""

    def __init__(self, limit: int | None = None):
        self._limit = limit
        self._entries: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    @property
    def limit(self) -> int:
        return self._limit if self._limit is not None else budget()

    @staticmethod
    def key(role: str, model_id: str | None) -> tuple[str, str]:
        model_id = policy.canonical_id(model_id or "") or (DEFAULTS.get(role) or "")
        return role, model_id

    @staticmethod
    def protected(key: tuple[str, str]) -> bool:
        """Defaults are never let go: every page needs them."""
        return key[1] in {m for m in DEFAULTS.values() if m}

    def used(self) -> int:
        """Bytes the loaded models take together (a tensor two models share, once)."""
        seen: dict[int, int] = {}
        with self._lock:
            entries = list(self._entries.values())
        for lm in entries:
            seen.update(tensor_bytes(lm.model))
        return sum(seen.values())

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._entries)

    def peek(self, role: str, model_id: str | None = None) -> LoadedModel | None:
        """The model if it is loaded already; never loads (for pages that only describe models)."""
        with self._lock:
            return self._entries.get(self.key(role, model_id))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, role: str, model_id: str | None = None, progress: Any = None) -> LoadedModel:
        key = self.key(role, model_id)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per model, however many sessions ask at once
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            if not self.protected(key):
                policy.check(role, key[1])
                self.make_room(estimate_bytes(role, key[1]), keep=key)
            lm = load(role, key[1] or None, progress)
            with self._lock:
                self._entries[key] = lm
                self._loading.pop(key, None)
            if not self.protected(key):
                self.make_room(0, keep=key)
            return lm

    def make_room(self, need: int, keep: tuple[str, str]) -> None:
        """Let least recently used non-default models go until `need` more bytes fit; else refuse."""
        with self._lock:
            if self.used() + need <= self.limit:
                return
            for k in [k for k in self._entries if k != keep and not self.protected(k)]:
                del self._entries[k]
                if self.used() + need <= self.limit:
                    return
            if self.used() + need <= self.limit:
                return
            if need == 0:  # loaded already, but over the budget with nothing left to let go
                self._entries.pop(keep, None)
            raise ModelUnavailable(
                f"This server has no room for {policy.shown(keep[1])} (about {mb(need)}): the models it must keep "
                f"use {mb(self.used())} of its {mb(self.limit)} for models.",
                f"Pick one of the offline models in the sidebar, or ask the organiser to raise {ENV} for this server.",
            )


SHARED = ModelCache()


def table_row(role: str, model_id: str | None, lm: LoadedModel | None, *, reason: str = "") -> dict[str, str]:
    """One row of a page's table of models, as text (a missing number would read "None").
    `lm` None: not loaded (yet), or not available for `reason`."""
    shown = policy.shown(model_id).strip("'") if model_id else "none offline"
    if lm is None:
        if not model_id:
            status = f"no offline {ROLE_NAMES[role].lower()} ships with the app: pick a hub id in the sidebar"
        else:
            status = reason or "loads when a page first uses it"
        return {
            "role": ROLE_NAMES[role],
            "model": shown,
            "size": size_text(role, model_id) if model_id else "",
            "source": status,
        }
    i = lm.info
    size = (
        size_text(role, model_id, params=i.params) + f", {i.layers} layers, {i.heads} heads, "
        f"up to {i.max_length:,} tokens"
    )
    return {"role": ROLE_NAMES[role], "model": i.name, "size": size, "source": i.source}


def size_text(role: str, model_id: str | None, *, params: int | None = None) -> str:
    """ "134.5 M parameters, 94 MB on disk (4-bit GGUF)": from the model's files before it is loaded
    (`explorer.models.sizes`), its own count once it is (`params`); what is known of it, "" when nothing is."""
    from explorer.models.sizes import file_size

    found = file_size(role, model_id)
    params = params if params is not None else found.params if found is not None else None
    parts = [f"{params / 1e6:.1f} M parameters"] if params is not None else []
    if found is not None:
        parts.append(f"{mb(found.disk_bytes)} on disk" + (f" ({found.disk_note})" if found.disk_note else ""))
    return ", ".join(parts)
