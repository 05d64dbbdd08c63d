"""Files the app serves itself from `static/` next to app.py (Streamlit's static serving, on in
`.streamlit/config.toml`, at the relative URL `app/static/<name>`): nothing comes from the internet.

Today that is plotly.js, copied from the installed plotly package (so its version is always the
package's), for the charts that are redrawn in place (`explorer.ui.chart`).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from explorer import paths

STATIC_DIR = paths.app_dir() / "static"
PLOTLY_JS = "plotly.min.js"
PLOTLY_JS_URL = (
    f"app/static/{PLOTLY_JS}"  # relative to the app's base URL (a room's path prefix too): see explorer.ui.chart
)


def plotly_js_source() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS


def ensure_plotly_js(static_dir: Path = STATIC_DIR) -> Path:
    """plotly.js in `static_dir`, copied (atomically) when missing or not the installed package's.

    Raises OSError where the folder cannot be written (a read-only install without it).
    """
    source, target = plotly_js_source(), static_dir / PLOTLY_JS
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        static_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{PLOTLY_JS}.{id(target)}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return target


@functools.lru_cache(maxsize=1)
def plotly_js_served() -> bool:
    """Whether the app can serve plotly.js (checked once per process); False: draw charts the usual way."""
    try:
        ensure_plotly_js()
    except OSError:
        return False
    return True
