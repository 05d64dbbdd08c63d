"""Which models a server lets its participants load: SSL_EXPLORER_MODELS.

- ``any`` (the default, for one's own machine): the offline models, any hub id, any local folder;
- ``offline``: only the models that ship with the app (the packaged and the project's own);
- a comma-separated allow-list of ids (hub ids, offline ids or folders), e.g. ``offline,gpt2``
  (``offline`` inside a list stands for the offline models).

`explorer.load` enforces it, whatever asked (a widget, a link, a script), before anything is
read from disk or the network. Folders are compared by their canonical path (`canonical_id`),
so ``/x/model``, ``/x/model/`` and ``/x//model`` are one folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import ModelUnavailable
from explorer.models.catalogue import DEFAULTS, OFFLINE_IDS
from explorer.models.roles import ROLE_NAMES

ENV = "SSL_EXPLORER_MODELS"
ANY, OFFLINE = "any", "offline"


def offline_ids() -> frozenset[str]:
    return OFFLINE_IDS


def canonical_id(model_id: str) -> str:
    """The id with surrounding space removed; a local folder becomes its resolved absolute path."""
    model_id = (model_id or "").strip()
    if not model_id or len(model_id) > 500 or "\x00" in model_id:
        return model_id
    if looks_like_path(model_id):
        try:
            path = Path(model_id).expanduser()
            if path.is_dir():
                return str(path.resolve())
        except (OSError, RuntimeError, ValueError):
            return model_id
    return model_id


def looks_like_path(model_id: str) -> bool:
    """A folder rather than a hub id: absolute, ~, ./ or ../, or a folder that exists here."""
    if model_id.startswith(("/", "~", "./", "../", ".\\")) or "\\" in model_id:
        return True
    try:
        return Path(model_id).is_dir()
    except (OSError, ValueError):
        return False


def shown(model_id: str, *, capital: bool = False) -> str:
    """How a message names a model: a hub id as it is, a folder by its last part (never a server path)."""
    model_id = (model_id or "").strip()
    if looks_like_path(model_id):
        name = Path(model_id.rstrip("/\\")).name or "folder"
        return f"{'The' if capital else 'the'} folder '{name[:60]}'"
    return f"'{model_id[:80]}'"


def mode() -> str:
    """``any``, ``offline`` or ``list``."""
    raw = (os.environ.get(ENV) or ANY).strip().lower()
    return raw if raw in (ANY, OFFLINE) else "list"


def allowed_ids() -> frozenset[str] | None:
    """The ids this server allows (None: any id)."""
    raw = (os.environ.get(ENV) or ANY).strip()
    if raw.lower() == ANY:
        return None
    ids: set[str] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if item.lower() == OFFLINE:
            ids |= offline_ids()
        else:
            ids.add(canonical_id(item))
    defaults = {m for m in DEFAULTS.values() if m}  # every page needs its default
    return frozenset(ids | defaults | (offline_ids() if raw.lower() == OFFLINE else set()))


def locked() -> bool:
    """True when participants cannot load a model of their own choosing."""
    return allowed_ids() is not None


def is_allowed(model_id: str) -> bool:
    ids = allowed_ids()
    return ids is None or canonical_id(model_id) in ids


def check(role: str, model_id: str) -> None:
    """Raise the project's error when this server does not offer `model_id` (nothing is read)."""
    if is_allowed(model_id):
        return
    offered = sorted(i for i in (allowed_ids() or ()) if not looks_like_path(i))
    raise ModelUnavailable(
        f"This server does not offer {shown(model_id)}.",
        f"The {ROLE_NAMES.get(role, role).lower()} choices here are the ones in the sidebar"
        + (f" ({', '.join(offered)})." if offered else "."),
    )
