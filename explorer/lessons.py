"""Lesson and quiz text from `assets/` (markdown / JSON), editable without touching Python."""

from __future__ import annotations

from pathlib import Path

from explorer.errors import ExplorerError

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def read_markdown(name: str, folder: str = "lessons") -> str:
    path = ASSETS / folder / name
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExplorerError(f"The lesson file {folder}/{name} could not be read ({type(exc).__name__}).") from exc
