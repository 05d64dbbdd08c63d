"""Where the app's files are: the repository, or the copy installed with the package.

In the repository, `app.py`, `pages/`, `assets/` and `.streamlit/` sit next to `explorer/`. An
installed package (`pipx install .`, see pyproject.toml) carries the same files in `explorer/_app/`.

Streamlit serves `static/` from the folder of the script it runs and reads that folder's
`.streamlit/config.toml`, and the app writes plotly.js into `static/` (`explorer.ui.static_files`).
Site-packages may be read-only, so an installed app runs from a copy of `app.py`, `pages/` and
`.streamlit/` in the cache folder (`app_dir`, made by `ensure_app_dir`); the assets, the bundled
model weights among them, are read where they were installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUNDLED = PACKAGE / "_app"
INSTALLED = (BUNDLED / "app.py").is_file()  # False in the repository, where explorer/_app holds only a README
ROOT = BUNDLED if INSTALLED else PACKAGE.parent
ASSETS = ROOT / "assets"
# what Streamlit needs next to the script it runs (assets/ are read from ROOT)
APP_FILES = ("app.py", ".streamlit/config.toml")
APP_FOLDERS = ("pages",)


def cache_dir() -> Path:
    """The app's cache folder (``SSL_EXPLORER_CACHE``, default ~/.cache/ssl-explorer), as in explorer.models.made.gguf_cache."""
    env = os.environ.get("SSL_EXPLORER_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ssl-explorer"


def app_dir() -> Path:
    """The folder Streamlit runs `app.py` from, with `static/` beside it: the repository itself, or for an
    installed package a folder of the cache, one per installation."""
    if not INSTALLED:
        return ROOT
    return cache_dir() / "app" / hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]


def _copy_if_changed(source: Path, target: Path) -> None:
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def ensure_app_dir() -> Path:
    """`app_dir()`, with an installed package's `app.py`, `pages/` and `.streamlit/` copied there (again
    after an upgrade, pages that are gone removed). Nothing to do in the repository."""
    target = app_dir()
    if not INSTALLED:
        return target
    for name in APP_FILES:
        _copy_if_changed(ROOT / name, target / name)
    for folder in APP_FOLDERS:
        wanted = {p.name for p in (ROOT / folder).glob("*.py")}
        for name in sorted(wanted):
            _copy_if_changed(ROOT / folder / name, target / folder / name)
        for stale in (target / folder).glob("*.py"):
            if stale.name not in wanted:
                stale.unlink()
    return target
