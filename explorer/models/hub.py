"""Reading from the Hugging Face hub or a local folder (`from_pretrained`): the local cache first,
then the hub, every failure turned into a message for the page."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from explorer.errors import ModelUnavailable
from explorer.models import policy

_LOG = logging.getLogger("ssl_explorer.models")


def _is_network_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        k in text
        for k in (
            "connection",
            "offline",
            "timed out",
            "timeout",
            "resolve",
            "network",
            "max retries",
            "name or service",
            "couldn't connect",
            "localentrynotfound",
            "cannot find the requested files",
            "outgoing traffic has been disabled",
        )
    )


_HUB_CHECK: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout: float = 2.0) -> bool:
    """Quick check (cached 60 s) that the Hugging Face hub answers, so offline rooms fail fast."""
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    now = time.time()
    hit = _HUB_CHECK.get(endpoint)
    if hit and now - hit[0] < 60:
        return hit[1]
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _HUB_CHECK[endpoint] = (now, ok)
    return ok


def from_pretrained(cls, model_id: str, **kw):
    """Try the local cache first, then the hub; map failures to clear messages."""
    try:
        return cls.from_pretrained(model_id, local_files_only=True, **kw), "hub cache"
    except (OSError, ValueError) as exc:
        first = exc
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise ModelUnavailable(
            f"'{model_id}' is not in the local model cache and downloads are switched off (HF_HUB_OFFLINE).",
            "Use one of the offline defaults, or connect and unset HF_HUB_OFFLINE.",
        ) from first
    if Path(model_id).expanduser().is_dir():  # what a server folder holds is not told
        raise ModelUnavailable(
            f"{policy.shown(model_id, capital=True)} does not hold a model this app can load.",
            "Check the folder, or pick one of the models in the sidebar.",
        ) from first
    if not hub_reachable():
        raise ModelUnavailable(
            f"The Hugging Face hub cannot be reached from this machine, and '{model_id}' is not in the local cache.",
            "Use one of the offline defaults, or connect this machine to the internet once to download it.",
        ) from first
    try:
        return cls.from_pretrained(model_id, **kw), "hub"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        msg = str(exc)
        if _is_network_error(exc):
            raise ModelUnavailable(
                f"Could not reach the Hugging Face hub to download '{model_id}', and it is not in the local cache.",
                "Use one of the offline defaults, or connect this machine to the internet once.",
            ) from exc
        if (
            "is not a local folder and is not a valid model identifier" in msg
            or "404" in msg
            or "Repository Not Found" in msg
        ):
            raise ModelUnavailable(
                f"There is no model called '{model_id}' on the Hugging Face hub.",
                "Check the spelling (e.g. 'bert-base-uncased', 'gpt2', 't5-small').",
            ) from exc
        _LOG.warning("loading %r failed: %s", model_id, msg.splitlines()[0][:300] if msg else type(exc).__name__)
        raise ModelUnavailable(
            f"'{model_id[:80]}' could not be loaded ({type(exc).__name__}).",
            "Pick another model; the server's log has the details.",
        ) from exc
